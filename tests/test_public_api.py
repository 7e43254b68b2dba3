"""The public API is what docs/api.rst names: every dotted name there imports from where it says."""

import importlib
import re
from pathlib import Path

import pytest

MISSING = object()
API = Path(__file__).resolve().parents[1] / "docs" / "api.rst"
DIRECTIVE = re.compile(r"^\.\. (auto\w+|model-fields|setting-table)::\s+(django_kling[\w.]*)", re.M)
MEMBERS = re.compile(r"^\.\. auto\w+:: (django_kling[\w.]*)\n((?:   :[^\n]*\n)*)", re.M)
LITERAL = re.compile(r"``(django_kling(?:\.\w+)+)``")


def resolve(dotted: str) -> object:
    """Import ``dotted`` as a module, or as an attribute chain under the longest module prefix."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[cut:]:
            target = getattr(target, attribute, MISSING)
            if target is MISSING:
                return MISSING
        return target
    return MISSING


def documented_names() -> list[str]:
    text = API.read_text(encoding="utf-8")
    names = {match.group(2) for match in DIRECTIVE.finditer(text)}
    names |= set(LITERAL.findall(text))
    for match in MEMBERS.finditer(text):
        for line in match.group(2).splitlines():
            if line.strip().startswith(":members:"):
                members = line.split(":members:")[1]
                names |= {f"{match.group(1)}.{m.strip()}" for m in members.split(",") if m.strip()}
    return sorted(names)


def test_the_page_names_the_api():
    names = documented_names()
    assert "django_kling.jobs.create_video_request" in names
    assert "django_kling.editorial.review.approve" in names  # from a :members: list
    assert len(names) > 60


@pytest.mark.parametrize("dotted", documented_names())
def test_every_documented_name_imports(dotted):
    assert resolve(dotted) is not MISSING, f"docs/api.rst names {dotted}, which does not import"
