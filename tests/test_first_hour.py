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
