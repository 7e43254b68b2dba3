"""Settings for django-kling's own tests.

SQLite and Dramatiq's stub broker by default, so the suite runs on a laptop with nothing
installed; ``DATABASE_URL`` (PostgreSQL in CI) and ``REDIS_URL`` or ``RABBITMQ_URL`` switch to
the real services.
"""

import os
import tempfile

import dj_database_url

SECRET_KEY = "django-kling-tests"  # noqa: S105
DEBUG = False
USE_TZ = True
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
TIME_ZONE = "UTC"
ROOT_URLCONF = "tests.urls"
ALLOWED_HOSTS = ["*"]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", "sqlite:///" + os.path.join(tempfile.gettempdir(),
                                                                   "kling-tests.sqlite3"))
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # A file, not shared-cache memory: worker threads and the test then wait for each other's
    # locks (busy timeout) instead of failing with "database table is locked".
    DATABASES["default"]["TEST"] = {
        "NAME": os.path.join(tempfile.gettempdir(), f"kling-tests-{os.getpid()}.sqlite3")
    }
    DATABASES["default"].setdefault("OPTIONS", {})
    # Transactions take the write lock when they begin (Django 5.1+): a transaction that
    # read first and then wrote (``transition``: SELECT ... then UPDATE) got "database is
    # locked" at once, whatever the timeout, when another connection was writing; SQLite
    # cannot wait there without risking a deadlock. Now it waits its turn.
    DATABASES["default"]["OPTIONS"].update(timeout=30, transaction_mode="IMMEDIATE")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_dramatiq",
    "django_kling",
    "tests.shop",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",  # the admin in the browser's language
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

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

MEDIA_ROOT = tempfile.mkdtemp(prefix="kling-media-")
MEDIA_URL = "/media/"
STATIC_URL = "/static/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

_DRAMATIQ_MIDDLEWARE = [
    "dramatiq.middleware.AgeLimit",
    "dramatiq.middleware.TimeLimit",
    "dramatiq.middleware.Callbacks",
    "dramatiq.middleware.Retries",
    "django_dramatiq.middleware.DbConnectionsMiddleware",
    "django_kling.middleware.Scheduler",
]
if os.environ.get("RABBITMQ_URL"):  # the queue tests on RabbitMQ (a nox session in CI)
    DRAMATIQ_BROKER = {
        "BROKER": "dramatiq.brokers.rabbitmq.RabbitmqBroker",
        "OPTIONS": {"url": os.environ["RABBITMQ_URL"]},
        "MIDDLEWARE": _DRAMATIQ_MIDDLEWARE,
    }
elif os.environ.get("REDIS_URL"):
    DRAMATIQ_BROKER = {
        "BROKER": "dramatiq.brokers.redis.RedisBroker",
        "OPTIONS": {"url": os.environ["REDIS_URL"], "namespace": "django-kling-tests"},
        "MIDDLEWARE": _DRAMATIQ_MIDDLEWARE,
    }
else:
    DRAMATIQ_BROKER = {
        "BROKER": "dramatiq.brokers.stub.StubBroker",
        "OPTIONS": {},
        "MIDDLEWARE": _DRAMATIQ_MIDDLEWARE,
    }

DJANGO_KLING = {
    "PROVIDERS": {"gateway": {"API_KEY": "test-secret-key-do-not-log"}},
    "POLL_INTERVAL": 0.2,
    "MAX_POLL_INTERVAL": 1.0,
    # The scheduler asks soon and often, so the suite stays fast.
    "FIRST_CHECK": {"*": 0.1},
    "SCHEDULER": {"TICK": 0.05, "LEASE": 10.0},
    # Learned check plans change when a test's jobs are asked about; the tests of
    # tests/test_poll_plan.py turn them on.
    "POLL_PLAN": {"MIN_SAMPLES": 1000},
    "ALLOWED_DOWNLOAD_HOSTS": ["http://127.0.0.1:*"],
}

LOGGING_CONFIG = None
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
