"""The manual's feature tables are generated from the capability registry, and say what it says
(issue 26): a fact changed in ``django_kling.capabilities`` changes the manual."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from django_kling import capabilities

DOCS = Path(__file__).resolve().parents[1] / "docs"


@pytest.fixture(scope="module")
def kling_docs():
    if importlib.util.find_spec("sphinx") is None:
        pytest.skip('Sphinx is not installed: pip install -e ".[docs]"')
    sys.path.insert(0, str(DOCS / "_ext"))
    try:
        import kling_docs
    finally:
        sys.path.remove(str(DOCS / "_ext"))
    return kling_docs


def table(kling_docs, model: str) -> dict[str, dict[str, str]]:
    """The generated list-table of ``model`` as {row label: {provider: cell}}."""
    rows: list[list[str]] = []
    for line in kling_docs.capability_table_lines(model):
        if line.startswith("   * - "):
            rows.append([line.removeprefix("   * - ")])
        elif line.startswith("     - "):
            rows[-1].append(line.removeprefix("     - "))
    providers = [cell.strip("`") for cell in rows[0][1:]]
    return {row[0]: dict(zip(providers, row[1:], strict=True)) for row in rows[1:]}


@pytest.mark.parametrize("model", capabilities.models())
def test_each_model_table_says_what_the_registry_says(kling_docs, model):
    found = table(kling_docs, model)
    routes = {p: r for (m, p), r in capabilities.ROUTES.items() if m == model}
    assert set(found["Durations (s)"]) == set(routes)
    for provider, route in routes.items():
        assert str(route.durations[0]) in found["Durations (s)"][provider]
        assert str(route.durations[-1]) in found["Durations (s)"][provider]
        assert found["Sound"][provider].startswith("yes" if route.sound else "no")
        assert found["Last frame"][provider].startswith("yes" if route.last_frame else "no")
        assert found["Last frame *and* sound"][provider] == (
            "yes" if route.last_frame and route.sound and route.last_frame_with_sound else "no")
        voices = found["Voices"][provider]
        assert voices == "no" if not route.voices else (
            voices.startswith(str(route.voices)) and route.voice_field in voices)
        assert all(source in found["Sources"][provider] for source in route.sources)
        if route.provider_model:
            assert route.provider_model in found["Provider's name"][provider]


def test_the_providers_page_uses_the_generated_tables():
    page = (DOCS / "providers.rst").read_text(encoding="utf-8")
    assert ".. capability-tables::" in page
    # No hand-written copy of a registry fact is left in the provider matrix.
    assert "Chosen voices" not in page and "* - Last frame\n" not in page


def test_v3_and_v26_facts_the_issue_names():
    v3 = capabilities.documented(capabilities.V3_0, "kling")
    assert (v3.provider_model, v3.durations[0], v3.durations[-1], v3.voices, v3.shots) == (
        "kling-v3", 3, 15, 2, 6)
    assert capabilities.documented(capabilities.V2_6, "gateway").durations == (5, 10)
    assert capabilities.documented(capabilities.V3_0, "replicate") is None
