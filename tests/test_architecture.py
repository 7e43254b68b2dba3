"""The package's walls, checked from the source: no import cycle, short modules, a generic core.

Imports are read with ``ast`` wherever they stand (module level, inside functions, under
``TYPE_CHECKING``), so a cycle hidden in a function body counts too.
"""

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "django_kling"
MAX_LINES = 400
CORE = ("pipeline", "conf", "checks", "webhooks", "jobs")


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
    assert "django_kling.scheduler" in graph["django_kling.middleware"]
    assert "django_kling.models" in graph["django_kling.pipeline"]


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
