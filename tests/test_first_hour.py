"""What a newcomer reads in the first hour says what is true (issue 21): the README's version
ranges cover what installs, the demo prints the right addresses, and the project has the files
a well-kept app has."""

from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_readme_names_the_httpx_that_installs():
    supported = re.search(r"httpx (\d+\.\d+)–(\d+\.\d+)", (ROOT / "README.md").read_text())
    assert supported, "the README names a httpx range"
    low, high = (tuple(map(int, bound.split("."))) for bound in supported.groups())
    installed = tuple(map(int, version("httpx").split(".")[:2]))
    assert low <= installed <= high, (supported.group(0), version("httpx"))


def test_make_demo_wagtail_prints_the_wagtail_home():
    urls = (ROOT / "example_project/shop_site/urls.py").read_text()
    assert 'path("pages/", include(wagtail_urls))' in urls
    target = (ROOT / "Makefile").read_text().split("demo-wagtail:", 1)[1].split("\n\n", 1)[0]
    assert "Home page:      http://$(HOST)/pages/" in target


def test_the_files_a_well_kept_app_has():
    assert "Report a" in (ROOT / "SECURITY.md").read_text()
    contributing = (ROOT / "CONTRIBUTING.md").read_text()
    for part in ("## Set-up", "make test", "## The matrix", "nox", "## Style", "ruff"):
        assert part in contributing, part
    hooks = (ROOT / ".pre-commit-config.yaml").read_text()
    assert "astral-sh/ruff-pre-commit" in hooks and "adamchainz/django-upgrade" in hooks
    oldest = re.search(r'"Django>=(\d+\.\d+)"', (ROOT / "pyproject.toml").read_text()).group(1)
    assert f'--target-version, "{oldest}"' in hooks  # django-upgrade aims at the oldest Django
    readthedocs = (ROOT / ".readthedocs.yaml").read_text()
    assert "configuration: docs/conf.py" in readthedocs and "fail_on_warning: true" in readthedocs


def test_the_manual_says_what_a_clip_costs_and_why_dramatiq():
    index = (ROOT / "docs/index.rst").read_text()
    assert "What a clip costs" in index and "$0.70" in index
    assert "   why-dramatiq\n" in index
    page = (ROOT / "docs/why-dramatiq.rst").read_text()
    assert "django.tasks" in page and "Dramatiq" in page
