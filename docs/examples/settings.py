"""The quick start's settings, shown by docs/quickstart.rst and checked by tests/test_docs.py.

Only the part between the ``docs:`` markers is shown; the lines above it stand for what a
project's settings module already has.
"""

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# docs: start
INSTALLED_APPS += [
    "django_dramatiq",  # first: it sets up the broker
    "django_kling",
]

DRAMATIQ_BROKER = {
    "BROKER": "dramatiq.brokers.redis.RedisBroker",
    "OPTIONS": {"url": "redis://127.0.0.1:6379/0"},
    "MIDDLEWARE": [
        "dramatiq.middleware.AgeLimit",
        "dramatiq.middleware.TimeLimit",
        "dramatiq.middleware.Callbacks",
        "dramatiq.middleware.Retries",
        "django_dramatiq.middleware.DbConnectionsMiddleware",
        "django_kling.middleware.SyncOnBoot",  # resume lost work when a worker starts
    ],
}

STORAGES["videos"] = {  # clips, posters and frames go to a private S3 bucket
    "BACKEND": "storages.backends.s3.S3Storage",
    "OPTIONS": {
        "bucket_name": "my-shop-videos",
        "default_acl": "private",
        "querystring_auth": True,  # signed URLs
        "file_overwrite": False,
    },
}

DJANGO_KLING = {
    "PROVIDER": "gateway",  # API key: env variable AI_GATEWAY_API_KEY
    "STORAGE": "videos",  # an alias of STORAGES (default: "default")
    "DEFAULTS": {"duration": 5, "aspect_ratio": "16:9", "mode": "pro", "sound": True},
    "BUDGET": {"per_day": "50.00", "per_month": "500.00"},  # in CURRENCY (USD)
}
# docs: end
