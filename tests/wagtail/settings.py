"""Settings of the Wagtail integration's tests: the tests' own settings plus the demo's small
Wagtail site (``example_project/cms``), which puts ``django_kling.contrib.wagtail`` in front of
``wagtail.images``.

Run them with ``pytest tests/wagtail --ds=tests.wagtail.settings`` (``make test`` does, when
Wagtail is installed). Without Wagtail these settings leave it out and ``conftest.py`` skips
every test with the reason.
"""

import sys
from pathlib import Path

from tests.settings import *  # noqa: F403

try:
    import wagtail  # noqa: F401
except ImportError:
    WAGTAIL_INSTALLED = False
else:
    WAGTAIL_INSTALLED = True
EXAMPLE = Path(__file__).resolve().parents[2] / "example_project"

if WAGTAIL_INSTALLED:
    sys.path.insert(0, str(EXAMPLE))
    from cms.stack import enable

    enable(globals())
    ROOT_URLCONF = "tests.wagtail.urls"
    WAGTAILADMIN_BASE_URL = "http://testserver"
    # Image renditions and the search index are not what these tests are about.
    WAGTAILSEARCH_BACKENDS = {"default": {"BACKEND": "wagtail.search.backends.database"}}
