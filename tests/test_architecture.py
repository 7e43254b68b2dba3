"""The package's walls, checked from the source: wings that depend one way, no import cycle, short
modules, a generic core.

Imports are read with ``ast`` wherever they stand (module level, inside functions, under
``TYPE_CHECKING``), so a cycle hidden in a function body counts too.
"""

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "django_kling"
MAX_LINES = 400
CORE = ("flow/pipeline", "conf", "checks", "webhooks", "jobs")

# The rooms of the house, lowest first: a module may import its own room and the rooms below it,
# never one above (docs/architecture.rst draws this). Rooms of the same rank (editorial and site)
# do not import each other. Prefixes are matched longest first.
ROOMS = {
    "base": (0, ("django_kling", "django_kling.conf", "django_kling.exceptions",
                 "django_kling.capabilities", "django_kling.setting_types",
                 "django_kling.publishing_settings",
                 "django_kling.options")),
    "providers": (1, ("django_kling.providers",)),
    "files": (2, ("django_kling.files",)),
    "records": (3, ("django_kling.models", "django_kling.video_presets",
                    "django_kling.video_batches", "django_kling.completion_times",
                    "django_kling.staged_files", "django_kling.caption_tracks",
                    "django_kling.signals", "django_kling.clip_renditions",
                    "django_kling.voices", "django_kling.compiled_writes",
                    "django_kling.request_shots")),
    "flow": (4, ("django_kling.flow",)),
    "jobs": (5, ("django_kling.jobs",)),
    "editorial": (6, ("django_kling.editorial",)),
    "site": (6, ("django_kling.site",)),
    "django": (7, ("django_kling.admin", "django_kling.contrib", "django_kling.management",
                   "django_kling.templatetags", "django_kling.testing", "django_kling.apps",
                   "django_kling.checks", "django_kling.publishing_checks", "django_kling.urls",
                   "django_kling.middleware", "django_kling.tasks", "django_kling.webhooks")),
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))
            if "migrations" not in p.parts}


def imported_modules(name: str, path: Path, known: set[str]) -> set[str]:
    """The django_kling modules that ``name`` imports, anywhere in its source."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            # "from . import pipeline" imports a module; "from .models import Status" a name.
            targets = [f"{origin}.{alias.name}" if f"{origin}.{alias.name}" in known else origin
                       for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {name: imported_modules(name, path, known) for name, path in found.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    done: set[str] = set()

    def visit(node: str, trail: list[str]) -> list[str] | None:
        if node in trail:
            return trail[trail.index(node):] + [node]
        if node in done:
            return None
        for target in sorted(graph.get(node, ())):
            cycle = visit(target, [*trail, node])
            if cycle:
                return cycle
        done.add(node)
        return None

    for start in sorted(graph):
        cycle = visit(start, [])
        if cycle:
            return cycle
    return None


def test_the_graph_sees_function_level_imports():
    graph = import_graph()
    # imported inside Scheduler.after_worker_boot()
    assert "django_kling.flow.scheduler" in graph["django_kling.middleware"]
    assert "django_kling.models" in graph["django_kling.flow.pipeline"]


def room_of(name: str) -> str:
    best, length = "", -1
    for room, (_, prefixes) in ROOMS.items():
        for prefix in prefixes:
            matches = name == prefix or (prefix != "django_kling" and name.startswith(prefix + "."))
            if matches and len(prefix) > length:
                best, length = room, len(prefix)
    return best


def wrong_way(graph: dict[str, set[str]]) -> list[str]:
    """Imports that go up, or sideways between two rooms of one rank."""
    found = []
    for name, targets in graph.items():
        room = room_of(name)
        for target in targets:
            other = room_of(target)
            if other == room:
                continue
            if ROOMS[other][0] >= ROOMS[room][0]:
                found.append(f"{name} ({room}) -> {target} ({other})")
    return sorted(found)


def test_every_module_has_a_room():
    assert not [name for name in modules() if not room_of(name)]


def test_the_wings_depend_one_way():
    assert wrong_way(import_graph()) == []


def test_a_wrong_way_import_would_be_found():
    graph = {"django_kling.files.media": {"django_kling.flow.pipeline"},
             "django_kling.site.clips": {"django_kling.editorial.review"},
             "django_kling.flow.pipeline": {"django_kling.files.media"}}
    assert wrong_way(graph) == [
        "django_kling.files.media (files) -> django_kling.flow.pipeline (flow)",
        "django_kling.site.clips (site) -> django_kling.editorial.review (editorial)"]


def test_every_wing_says_what_it_holds_and_may_use():
    for wing in ("flow", "editorial", "files", "site", "options", "providers"):
        doc = ast.get_docstring(ast.parse((PACKAGE / wing / "__init__.py").read_text()))
        assert doc and "may use" in doc.lower(), f"{wing}/__init__.py needs a docstring"


def test_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_a_cycle_would_be_found():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_no_module_over_the_line_limit():
    long = {name: lines for name, path in modules().items()
            if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, f"split these modules (over {MAX_LINES} lines): {long}"


def test_the_core_never_names_a_provider():
    for name in CORE:
        source = (PACKAGE / f"{name}.py").read_text(encoding="utf-8")
        code = [line for line in source.splitlines()
                if re.search("gateway", line, re.I) and not line.strip().startswith("#")]
        assert not code, f"{name}.py names the gateway: {code}"


def test_the_core_never_imports_wagtail():
    """Only django_kling.contrib.wagtail may import Wagtail (an optional extra); nothing else
    imports that package either, so the core runs without Wagtail installed."""
    contrib = "django_kling.contrib.wagtail"
    for name, path in modules().items():
        if name == contrib or name.startswith(contrib + "."):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                targets = [node.module or ""]
            else:
                continue
            for target in targets:
                assert target.split(".")[0] != "wagtail", f"{name} imports {target}"
                assert not target.startswith(contrib), f"{name} imports {target}"
        assert contrib not in imported_modules(name, path, set(modules())), name


def test_the_wagtail_check_sees_wagtail_imports():
    graph = import_graph()
    assert "django_kling.contrib.wagtail.permissions" in graph[
        "django_kling.contrib.wagtail.bulk_actions"]
    source = (PACKAGE / "contrib" / "wagtail" / "blocks.py").read_text(encoding="utf-8")
    assert "from wagtail import blocks" in source  # what the test above would refuse elsewhere


RUN = 6


def code_lines(path: Path) -> list[tuple[int, str]]:
    """The lines that count for repetition: not blank, not a comment, not an import, not lone
    punctuation; white space folded (as the ``duplicates`` tool reads them)."""
    found = []
    in_import = False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        text = " ".join(line.split())
        if text.startswith(("import ", "from ")):
            in_import = text.endswith("(")
            continue
        if in_import:
            in_import = ")" not in text
            continue
        if not text or text.startswith("#") or not re.search(r"\w", text):
            continue
        found.append((number, text))
    return found


def repeated_runs(paths: list[Path], size: int = RUN, root: Path = PACKAGE) -> list[str]:
    """Places where ``size`` identical lines in a row stand a second time."""
    seen: dict[tuple[str, ...], tuple[Path, int]] = {}
    found = []
    for path in paths:
        lines = code_lines(path)
        last_end: dict[Path, int] = {}
        for start in range(len(lines) - size + 1):
            window = tuple(text for _, text in lines[start:start + size])
            first = seen.setdefault(window, (path, lines[start][0]))
            if first != (path, lines[start][0]) and lines[start][0] > last_end.get(first[0], 0):
                where = f"{path.relative_to(root)}:{lines[start][0]}"
                found.append(f"{where} repeats {first[0].relative_to(root)}:{first[1]}")
                last_end[first[0]] = lines[start + size - 1][0]
    return found


def test_no_run_of_identical_lines_stands_twice():
    """Six identical lines in two places are one function waiting to be written (migrations,
    generated, are left out)."""
    paths = [path for path in sorted(PACKAGE.rglob("*.py")) if "migrations" not in path.parts]
    assert repeated_runs(paths) == []


def test_a_repeated_run_would_be_found(tmp_path):
    body = "".join(f"    value_{n} = compute({n})\n" for n in range(6))
    one, two = tmp_path / "one.py", tmp_path / "two.py"
    one.write_text(f"def f():\n{body}")
    two.write_text(f"def g():\n    pass\n{body}")
    assert repeated_runs([one, two], root=tmp_path) == ["two.py:3 repeats one.py:2"]


def rooms_diagram(graph: dict[str, set[str]] | None = None) -> str:
    """The rooms, highest first, each with the rooms it really imports (read from the code)."""
    graph = import_graph() if graph is None else graph
    uses: dict[str, set[str]] = {room: set() for room in ROOMS}
    for name, targets in graph.items():
        for target in targets:
            if room_of(target) != room_of(name):
                uses[room_of(name)].add(room_of(target))
    order = sorted(ROOMS, key=lambda room: -ROOMS[room][0])
    width = max(len(room) for room in ROOMS)
    lines = []
    for room in order:
        below = [other for other in order if other in uses[room]]
        lines.append(f"{room:<{width}}  -> {', '.join(below) or '(nothing)'}")
    return "\n".join(lines)


def test_the_manual_draws_the_rooms_as_the_code_has_them():
    """docs/architecture.rst shows ``rooms_diagram()``; regenerate it with
    ``python -m tests.test_architecture`` when a wing's imports change."""
    manual = (PACKAGE.parent / "docs" / "architecture.rst").read_text(encoding="utf-8")
    drawn = manual.split(".. rooms-begin")[1].split(".. rooms-end")[0]
    drawn = "\n".join(line[4:] for line in drawn.splitlines() if line.startswith("    "))
    assert drawn.strip() == rooms_diagram().strip()


if __name__ == "__main__":
    print(rooms_diagram())
