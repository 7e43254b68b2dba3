"""Every error code and system check id django-kling can show, collected from its source.

Used by the manual (the ``errorcode`` and ``check`` directives warn about codes that do not
exist, and the build warns about codes that are not documented) and by ``tests/test_docs.py``.
It reads the source with :mod:`ast` and imports nothing, so it needs neither Sphinx nor Django.

What counts as a code (string literals only; a code computed at run time is always one of these):

* ``code="..."`` keyword arguments of any call (``InvalidInput(..., code="image_empty")``,
  ``DownloadError(..., code="download_refused")``...);
* ``code = "..."`` class attributes (the default code of each exception class);
* the second argument of ``fail(job, "...")`` (a job step ending the job);
* the first argument of ``refuse("...")`` (image refusals), of ``_refuse("...")`` (the reasons a
  webhook call is refused) and of ``_transport_error("...")`` (gateway connection errors);
* the codes of the ``ERROR_TYPES`` tables (gateway error type -> (HTTP status, our code));
* ``id="django_kling.XXXX"`` keyword arguments: system check ids.

``django_kling/testing/`` is left out: the codes there are the fake gateway's own wire codes
(what the real service puts in its error bodies), which the app never shows as such.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "django_kling"
SKIPPED_PARTS = frozenset({"testing", "migrations"})
FIRST_ARGUMENT_CALLS = frozenset({"refuse", "_refuse", "_transport_error"})
SECOND_ARGUMENT_CALLS = frozenset({"fail"})
CODE_TABLES = frozenset({"ERROR_TYPES"})
CHECK_PREFIX = "django_kling."


def _called_name(func: ast.expr) -> str:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def _string(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _files(package: Path) -> list[Path]:
    return sorted(p for p in package.rglob("*.py")
                  if not SKIPPED_PARTS & set(p.relative_to(package).parts))


def collect(package: Path = PACKAGE) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """``(error codes, check ids)``, each mapping to the ``path:line`` places it appears."""
    codes: dict[str, list[str]] = {}
    checks: dict[str, list[str]] = {}

    for path in _files(package):
        relative = path.relative_to(package.parent).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))

        def add(table: dict[str, list[str]], value: str | None, node: ast.AST) -> None:
            if value:
                table.setdefault(value, []).append(f"{relative}:{node.lineno}")  # noqa: B023

        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                for keyword in node.keywords:
                    value = _string(keyword.value)
                    if keyword.arg == "code":
                        add(codes, value, node)
                    elif keyword.arg == "id" and value and value.startswith(CHECK_PREFIX):
                        add(checks, value, node)
                name = _called_name(node.func)
                if name in FIRST_ARGUMENT_CALLS and node.args:
                    add(codes, _string(node.args[0]), node)
                if name in SECOND_ARGUMENT_CALLS and len(node.args) >= 2:
                    add(codes, _string(node.args[1]), node)
            elif isinstance(node, ast.ClassDef):
                for statement in node.body:
                    if isinstance(statement, ast.Assign):
                        targets, value_node = statement.targets, statement.value
                    elif isinstance(statement, ast.AnnAssign):
                        targets, value_node = [statement.target], statement.value
                    else:
                        continue
                    if any(isinstance(t, ast.Name) and t.id == "code" for t in targets):
                        add(codes, _string(value_node), statement)
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if any(isinstance(t, ast.Name) and t.id in CODE_TABLES for t in targets) \
                        and isinstance(node.value, ast.Dict):
                    for entry in node.value.values:
                        if isinstance(entry, ast.Tuple) and entry.elts:
                            add(codes, _string(entry.elts[-1]), entry)
    return codes, checks


def all_codes(package: Path = PACKAGE) -> set[str]:
    """Every error code and check id, in one set."""
    codes, checks = collect(package)
    return set(codes) | set(checks)
