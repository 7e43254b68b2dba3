"""A real web process accepts the gateway's signed delivery and a real worker finishes the job.

The test process submits the job (its worker calls the sandbox's start, with the web process's
callback URL); the sandbox signs a gateway-format delivery (``x-ai-gateway-signature``) and
POSTs it to the web process, a separate Python process serving the tests' URLconf; the web
process verifies it and queues one status call, which a worker runs (the web process's own with
the in-memory broker, the test process's with Redis). The poll interval is ten minutes: only
the webhook can finish the job within the test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.db import connection

from django_kling.jobs import create_video_request
from django_kling.models import Status

from .conftest import free_port, wait_for_end

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def web_process(transactional_db, settings, sandbox, tmp_path):
    """The web process on a free port; yields its base URL."""
    cache_dir = tmp_path / "webhook-cache"
    settings.CACHES = {**settings.CACHES, "webhooks": {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": str(cache_dir)}}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "WEBHOOK_URL": base,
                             "WEBHOOK_CACHE": "webhooks", "POLL_INTERVAL": 600,
                             "WEBHOOK_POLL_INTERVAL": 600, "MAX_POLL_INTERVAL": 600}
    database = {key: connection.settings_dict[key]
                for key in ("ENGINE", "NAME", "USER", "PASSWORD", "HOST", "PORT", "OPTIONS")}
    env = {**os.environ,
           "KLING_WEB_DATABASE": json.dumps(database),
           "KLING_WEB_MEDIA_ROOT": str(settings.MEDIA_ROOT),
           "KLING_WEB_CACHE_DIR": str(cache_dir),
           "KLING_WEB_DJANGO_KLING": json.dumps(settings.DJANGO_KLING)}
    log = tmp_path / "web.log"
    with open(log, "wb") as out:
        server = subprocess.Popen([sys.executable, "-m", "tests.webhook_site", str(port)],
                                  cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        limit = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(base + "/", timeout=2).close()  # noqa: S310  (loopback)
                break
            except urllib.error.HTTPError:
                break  # any HTTP answer: the server is up
            except OSError:
                if server.poll() is not None or time.monotonic() > limit:
                    pytest.fail(log.read_text())
                time.sleep(0.1)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=10)
        print(log.read_text())  # shown by pytest when the test failed


def test_a_gateway_delivery_to_a_web_process_finishes_the_job_with_one_status_call(
        worker, web_process, sandbox, make_image):
    sandbox.delay = 1.0
    started = time.monotonic()
    job = wait_for_end(create_video_request(make_image()), timeout=60)
    assert job.status == Status.SUCCEEDED, job.error_message
    assert time.monotonic() - started < 60  # not the 600 s poll

    (delivery,) = sandbox.webhooks
    assert delivery.url.startswith(web_process + "/kling/webhooks/")
    assert delivery.status_code == 200
    assert delivery.headers["x-ai-gateway-signature"].startswith("t=")
    api = [c.path for c in sandbox.calls if not c.path.startswith("/files/")]
    # One start, then exactly one status call: the one the delivery triggered.
    assert api == ["/v4/ai/video-model/start", "/v4/ai/video-model/status"]
    assert job.poll_count == 1
    start, status = (c for c in sandbox.calls if not c.path.startswith("/files/"))
    assert status.time >= start.time + sandbox.delay  # after the job finished: the nudge
