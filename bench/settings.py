"""Django settings for the benchmarks: the test settings, pointed at the bench's own services.

Everything a benchmark needs to vary comes from the environment, so worker subprocesses started
by a benchmark see the same configuration as the benchmark itself:

- ``BENCH_DATABASE_URL``: default ``postgres://postgres@127.0.0.1:5432/kling_bench`` (a database
  of its own, created by ``bench.harness.ensure_database``; never the tests' database).
- ``BENCH_REDIS_URL``: a Redis URL for a real broker (namespace ``kling-bench``); unset means
  Dramatiq's in-memory stub broker.
- ``BENCH_GATEWAY_URL``: the sandbox's v4 base URL (``bench.harness.SandboxProcess``).
- ``BENCH_MEDIA_ROOT``: local storage folder (a benchmark makes and removes a temp folder).
- ``BENCH_STORAGE``: ``"default"`` (local files) or ``"s3"`` with ``BENCH_S3_ENDPOINT``.
- ``BENCH_POLL_INTERVAL``, ``BENCH_MAX_DOWNLOAD_BYTES``: the matching ``DJANGO_KLING`` values.
- ``BENCH_CONN_MAX_AGE``: ``CONN_MAX_AGE`` of the database (600 by default; Django's is 0).
"""

import contextlib
import os

import dj_database_url

from tests import settings as _tests

# Everything the test suite configures (apps, middleware, templates, urls with the admin)...
for _name in dir(_tests):
    if _name.isupper():
        globals()[_name] = getattr(_tests, _name)

# ...except what the benchmarks point elsewhere. The tests' settings make a media folder on
# import; the benchmarks bring their own, so that one is removed again.
with contextlib.suppress(OSError):
    os.rmdir(_tests.MEDIA_ROOT)

API_KEY = "bench-key"
DEBUG = False

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/kling_bench"),
        conn_max_age=int(os.environ.get("BENCH_CONN_MAX_AGE", "600")),
    )
}

MEDIA_ROOT = os.environ.get("BENCH_MEDIA_ROOT", "/tmp/kling-bench-media")  # noqa: S108

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
if os.environ.get("BENCH_S3_ENDPOINT"):
    STORAGES["s3"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": os.environ.get("BENCH_S3_BUCKET", "kling-bench"),
            "endpoint_url": os.environ["BENCH_S3_ENDPOINT"],
            "access_key": "testing",
            "secret_key": "testing",
            "region_name": "us-east-1",
            "default_acl": "private",
            "querystring_auth": True,
            "file_overwrite": False,
        },
    }

_MIDDLEWARE = [
    "dramatiq.middleware.AgeLimit",
    "dramatiq.middleware.TimeLimit",
    "dramatiq.middleware.Callbacks",
    "dramatiq.middleware.Retries",
    "django_dramatiq.middleware.DbConnectionsMiddleware",
    "django_kling.middleware.Scheduler",
]
if os.environ.get("BENCH_REDIS_URL"):
    DRAMATIQ_BROKER = {
        "BROKER": "dramatiq.brokers.redis.RedisBroker",
        "OPTIONS": {"url": os.environ["BENCH_REDIS_URL"], "namespace": "kling-bench"},
        "MIDDLEWARE": _MIDDLEWARE,
    }
else:
    DRAMATIQ_BROKER = {
        "BROKER": "dramatiq.brokers.stub.StubBroker",
        "OPTIONS": {},
        "MIDDLEWARE": _MIDDLEWARE,
    }

DJANGO_KLING = {
    "PROVIDERS": {"gateway": {
        "API_KEY": API_KEY,
        "BASE_URL": os.environ.get("BENCH_GATEWAY_URL", "http://127.0.0.1:9/v4/ai"),
    }},
    "STORAGE": os.environ.get("BENCH_STORAGE", "default"),
    "POLL_INTERVAL": float(os.environ.get("BENCH_POLL_INTERVAL", "5")),
    "MAX_DOWNLOAD_BYTES": int(os.environ.get("BENCH_MAX_DOWNLOAD_BYTES", str(512 * 2**20))),
    "ALLOWED_DOWNLOAD_HOSTS": ["http://127.0.0.1:*"],
}

# Extra DJANGO_KLING keys as JSON (e.g. a webhook setting the app may or may not know yet).
if os.environ.get("BENCH_KLING_EXTRA"):
    import json

    DJANGO_KLING.update(json.loads(os.environ["BENCH_KLING_EXTRA"]))

LOGGING_CONFIG = None
