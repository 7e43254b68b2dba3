"""Settings of the separate web process in ``test_webhook_process.py``.

The tests' own settings, pointed by the test at the same database, media folder, webhook cache
and ``DJANGO_KLING`` as the test process (through environment variables), so the two processes
share what a web and a worker process of a real site share.
"""

import json
import os

from tests.settings import *  # noqa: F403

DATABASES = {"default": json.loads(os.environ["KLING_WEB_DATABASE"])}
MEDIA_ROOT = os.environ["KLING_WEB_MEDIA_ROOT"]
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "webhooks": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                 "LOCATION": os.environ["KLING_WEB_CACHE_DIR"]},
}
DJANGO_KLING = json.loads(os.environ["KLING_WEB_DJANGO_KLING"])
