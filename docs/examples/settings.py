"""The quick start's settings, shown by README.md and docs/quickstart.rst, checked by tests.

Three parts, each between markers: ``docs:`` is what every project adds (the README's "Install
in your project" shows the same lines); ``s3:`` puts the clips into a private S3 bucket;
``sandbox:`` points the app at ``kling_sandbox`` for a first clip without a key. A test
pastes all three into a fresh ``startproject`` and runs ``check``. The lines above them stand
for what ``startproject`` already wrote (it defines no ``STORAGES``).
"""

from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
]

# docs: start
INSTALLED_APPS += [  # needs django.contrib.contenttypes (startproject lists it)
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
        "django_kling.middleware.Scheduler",  # polls running jobs (a thread per worker process)
        "django_kling.middleware.SyncOnBoot",  # resume lost work when a worker starts
    ],
}

DJANGO_KLING = {
    "PROVIDER": "gateway",  # API key: env variable AI_GATEWAY_API_KEY
    "DEFAULTS": {"duration": 5, "aspect_ratio": "16:9", "mode": "pro", "sound": True},
    "BUDGET": {"per_day": "50.00", "per_month": "500.00"},  # in CURRENCY (USD)
}

# Uploaded pictures and the clips (the "default" storage) are files under MEDIA_ROOT, served
# at MEDIA_URL: by urls.py while DEBUG is on, by your web server in production.
MEDIA_ROOT = BASE_DIR / "media"
MEDIA_URL = "media/"
# docs: end

# s3: start
from boto3.s3.transfer import TransferConfig  # noqa: E402

# At most two 8 MiB parts of a clip in memory while it uploads (boto3's default: ten).
KLING_UPLOADS = TransferConfig(max_concurrency=2, multipart_chunksize=8 * 2**20)
KLING_UPLOADS.max_in_memory_upload_chunks = 2

STORAGES = {  # Django's two storages (already have STORAGES? add just "videos" to it)
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "videos": {  # clips, posters and frames go to a private S3 bucket
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": "my-shop-videos",
            "default_acl": "private",
            "querystring_auth": True,  # signed URLs
            "file_overwrite": False,
            "transfer_config": KLING_UPLOADS,
        },
    },
}
DJANGO_KLING["STORAGE"] = "videos"  # an alias of STORAGES (default: "default")
# The bucket's CORS rule lets your pages load the caption tracks (see "Accessibility").
DJANGO_KLING["CAPTIONS_CORS"] = True
# s3: end

# sandbox: start
# A first clip with no key: `python manage.py kling_sandbox` plays the gateway on port 8765.
DJANGO_KLING["PROVIDERS"] = {"gateway": {"API_KEY": "sandbox-key",
                                         "BASE_URL": "http://127.0.0.1:8765/v4/ai"}}
DJANGO_KLING["ALLOWED_DOWNLOAD_HOSTS"] = ["http://127.0.0.1:*"]  # its clips come over http
# sandbox: end
