"""Settings of the demo shop.

Runs with nothing installed: SQLite, local media, Dramatiq's in-memory broker with a worker
thread in the web process, and the sandbox provider started in-process ("demo mode").
Environment variables switch each part to the real thing:

- ``DATABASE_URL``: any database dj-database-url understands (PostgreSQL in production).
- ``REDIS_URL``: Dramatiq on Redis; run ``manage.py rundramatiq`` for the workers.
- ``DJANGO_KLING_GATEWAY_URL`` / ``AI_GATEWAY_API_KEY``: a real gateway (or a sandbox started
  with ``kling_sandbox``); demo mode is off when ``DJANGO_KLING_GATEWAY_URL`` is set.
- ``KLING_S3_BUCKET`` (+ ``KLING_S3_ENDPOINT_URL``, AWS credentials): clips on S3.
- ``KLING_C2PA_CERTIFICATE`` / ``KLING_C2PA_PRIVATE_KEY``: paths of your signing certificate
  chain and key (content credentials); without them the demo makes a self-signed development
  pair on its first run in ``example_project/var/c2pa/`` (git-ignored, development only).
- ``KLING_WAGTAIL=1`` (``make demo-wagtail``): a small Wagtail site too (``cms``): its admin at
  /cms/, the home page at /pages/.
"""

import importlib.util
import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "demo-only-not-secret")
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_dramatiq",
    "django_kling",
    "shop",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "shop_site.urls"
WSGI_APPLICATION = "shop_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The demo's web server, its worker threads and the scheduler write one file at once.
    # WAL lets pages read while a job is written; IMMEDIATE takes the write lock when a
    # transaction begins, so a read-then-write transaction waits its turn (up to ``timeout``
    # seconds) instead of failing at once with "database is locked" (Django 5.1+ options).
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        timeout=20, transaction_mode="IMMEDIATE",
        init_command="PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
MEDIA_URL = "/media/"
MEDIA_ROOT = os.environ.get("DJANGO_MEDIA_ROOT", str(BASE_DIR / "media"))

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
if os.environ.get("KLING_S3_BUCKET"):
    STORAGES["videos"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": os.environ["KLING_S3_BUCKET"],
            "endpoint_url": os.environ.get("KLING_S3_ENDPOINT_URL") or None,
            "querystring_auth": True,
            "default_acl": "private",
            "file_overwrite": False,
        },
    }

_DRAMATIQ_MIDDLEWARE = [
    "dramatiq.middleware.AgeLimit",
    "dramatiq.middleware.TimeLimit",
    "dramatiq.middleware.Callbacks",
    "dramatiq.middleware.Retries",
    "django_dramatiq.middleware.DbConnectionsMiddleware",
    "django_kling.middleware.Scheduler",
]
if os.environ.get("REDIS_URL"):
    DRAMATIQ_BROKER = {
        "BROKER": "dramatiq.brokers.redis.RedisBroker",
        "OPTIONS": {"url": os.environ["REDIS_URL"]},
        "MIDDLEWARE": _DRAMATIQ_MIDDLEWARE,
    }
else:
    DRAMATIQ_BROKER = {
        "BROKER": "dramatiq.brokers.stub.StubBroker",
        "OPTIONS": {},
        "MIDDLEWARE": _DRAMATIQ_MIDDLEWARE,
    }

GATEWAY_URL = os.environ.get("DJANGO_KLING_GATEWAY_URL", "")
# Demo mode: an in-process sandbox plays the provider (see shop.apps).
KLING_DEMO = not GATEWAY_URL

DJANGO_KLING = {
    "PROVIDER": "gateway",
    "PROVIDERS": {
        "gateway": {
            "API_KEY": os.environ.get("AI_GATEWAY_API_KEY", "sandbox-key" if KLING_DEMO else ""),
            **({"BASE_URL": GATEWAY_URL} if GATEWAY_URL else {}),
        }
    },
    "STORAGE": "videos" if "videos" in STORAGES else "default",
    # The demo's sandbox renders in seconds: ask soon (a real model takes a minute or more).
    **({"FIRST_CHECK": {"*": 1.0}, "SCHEDULER": {"TICK": 0.25}} if KLING_DEMO else {}),
    # The demo sandbox serves clips over plain http on loopback, on a port chosen at start.
    "ALLOWED_DOWNLOAD_HOSTS": ["http://127.0.0.1:*", "http://localhost:*"]
    if KLING_DEMO or "127.0.0.1" in GATEWAY_URL else [],
    "POLL_INTERVAL": 1.0 if KLING_DEMO else 5.0,
}

# C2PA content credentials on every clip. A real shop names its own certificate chain (from a CA
# on the C2PA trust list) and key, as files outside the repository and the media folder:
#     "CONTENT_CREDENTIALS": {"CERTIFICATE": "/etc/shop/c2pa/chain.pem",
#                             "PRIVATE_KEY": "/etc/shop/c2pa/key.pem",
#                             "TSA_URL": "http://timestamp.digicert.com"},
# The demo makes a self-signed development CA and signer on its first run instead, in var/ (not
# media/, which is served to browsers): readers call its credentials valid but "untrusted".
# Development only: never publish clips signed with it.
if os.environ.get("KLING_C2PA_CERTIFICATE"):
    DJANGO_KLING["CONTENT_CREDENTIALS"] = {
        "CERTIFICATE": os.environ["KLING_C2PA_CERTIFICATE"],
        "PRIVATE_KEY": os.environ.get("KLING_C2PA_PRIVATE_KEY", ""),
        "TSA_URL": os.environ.get("KLING_C2PA_TSA_URL") or None,
    }
elif importlib.util.find_spec("c2pa"):  # else (no [c2pa] extra) the clips stay unsigned
    from django_kling.testing.certificates import development_credentials

    DJANGO_KLING["CONTENT_CREDENTIALS"] = development_credentials(BASE_DIR / "var" / "c2pa")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"django_kling": {"handlers": ["console"], "level": "INFO"}},
}

KLING_WAGTAIL = os.environ.get("KLING_WAGTAIL") == "1"
if KLING_WAGTAIL:
    from cms.stack import enable

    enable(globals())
