"""Settings of the worker *processes* the fault matrix starts (``tests/faults``).

The test process passes everything scenario-specific through the environment: the test
database, the sandbox URL, the storage, and overrides of DJANGO_KLING as JSON.
"""

import json
import os

from tests.settings import *  # noqa: F403
from tests.settings import DJANGO_KLING, DRAMATIQ_BROKER, STORAGES

DATABASES = {  # noqa: F811
    "default": {
        **__import__("dj_database_url").parse(os.environ["KLING_WORKER_DATABASE_URL"]),
        # So the tests can find (and cut) exactly the workers' connections.
        "OPTIONS": {"application_name": "kling-fault-worker"},
    }
}
MEDIA_ROOT = os.environ["KLING_WORKER_MEDIA_ROOT"]

STORAGES = {
    **STORAGES,
    "crashing": {"BACKEND": "tests.faults.crashing_storage.CrashingStorage"},
}
if os.environ.get("KLING_WORKER_S3_ENDPOINT"):
    STORAGES["videos"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": os.environ["KLING_WORKER_S3_BUCKET"],
            "endpoint_url": os.environ["KLING_WORKER_S3_ENDPOINT"],
            "access_key": "testing",
            "secret_key": "testing",
            "region_name": "us-east-1",
            "default_acl": "private",
            "file_overwrite": False,
            # Fail fast and let the pipeline's own retries do the work.
            "client_config": __import__("botocore.config").config.Config(
                retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=2,
                read_timeout=5),
        },
    }

DRAMATIQ_BROKER = {
    **DRAMATIQ_BROKER,
    "MIDDLEWARE": [*DRAMATIQ_BROKER["MIDDLEWARE"], "tests.faults.crash.CrashAt"],
}

DJANGO_KLING = {  # noqa: F811
    **DJANGO_KLING,
    **json.loads(os.environ.get("KLING_WORKER_OVERRIDES", "{}")),
}

LOGGING_CONFIG = "logging.config.dictConfig"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "loggers": {"django_kling": {"level": "DEBUG"}},
}
