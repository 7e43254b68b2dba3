"""Sphinx configuration of the django-kling manual.

Build it (warnings are errors) from the repository root::

    pip install -e ".[docs]"
    sphinx-build -W --keep-going -b html docs docs/_build/html

Autodoc imports the app, so Django is set up here with the test settings
(``tests.settings``: SQLite and the in-memory broker, nothing to start).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path[:0] = [str(ROOT), str(DOCS / "_ext")]

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django  # noqa: E402

django.setup()

import django_kling  # noqa: E402

project = "django-kling"
author = "django-kling maintainers"
copyright = "django-kling maintainers"  # noqa: A001
release = django_kling.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
    "kling_docs",
]

root_doc = "index"
exclude_patterns = ["_build", "examples/README.rst"]
templates_path: list[str] = []
html_static_path = ["_static"]
html_theme = "furo"
html_title = f"django-kling {release}"

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}
# Django's own objects are not in this manual; leave their references as plain text.
nitpicky = False
