"""The Wagtail integration's tests: run with ``--ds=tests.wagtail.settings``.

Each test module starts with ``pytest.importorskip("wagtail")``, so without Wagtail they are
skipped with the reason; ``tests/conftest.py`` leaves this folder out of runs with other
settings (its models and URLs would not exist there).
"""

import pytest


@pytest.fixture
def worker(django_db_serialized_rollback, worker):
    """The real worker (tests/conftest.py) in a transactional test that puts back, afterwards,
    the rows Wagtail's migrations made (root page and collection, default site): the flush
    after such a test would leave the next tests without them."""
    return worker


@pytest.fixture
def image(db, make_image):
    """A Wagtail image (of ``get_image_model()``) with a real 640x360 PNG file."""
    from .helpers import make_wagtail_image

    return make_wagtail_image(make_image, "Sea salt")
