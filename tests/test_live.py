"""One real clip through the real Vercel AI Gateway: opt-in, never in CI.

Runs only when ``KLING_LIVE_API_KEY`` holds a gateway API key (as django-anymail's integration
tests run only with their ESP's key). It makes one 5 s, std, silent clip with
``klingai/kling-v2.6-i2v`` through the async protocol (start, then status calls), stores it and
probes it: about 0.35 USD per run. Run it before a release (docs/contributing.rst)::

    KLING_LIVE_API_KEY=... .venv/bin/python -m pytest -q tests/test_live.py -s
"""

from __future__ import annotations

import os

import pytest

from django_kling.jobs import create_video_request
from django_kling.models import Status

from .conftest import wait_for_end

LIVE_KEY = os.environ.get("KLING_LIVE_API_KEY", "")

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not LIVE_KEY, reason="set KLING_LIVE_API_KEY to run the live gateway "
                                            "test (one paid 5 s clip)"),
]


def test_one_std_silent_clip_through_the_real_gateway(worker, settings, make_image):
    settings.DJANGO_KLING = {
        **settings.DJANGO_KLING,
        "PROVIDERS": {"gateway": {"API_KEY": LIVE_KEY, "PROTOCOL": "async",
                                  "TAGS": ["django-kling", "live-test"]}},
        "POLL_INTERVAL": 5.0, "MAX_POLL_INTERVAL": 30.0,
        "ALLOWED_DOWNLOAD_HOSTS": [],  # the real result URL must pass the SSRF guard
    }
    job = create_video_request(make_image(1280, 720), prompt="The colours slowly drift.",
                               duration=5, mode="std", sound=False,
                               model="klingai/kling-v2.6-i2v")
    job = wait_for_end(job, timeout=15 * 60)
    assert job.status == Status.SUCCEEDED, f"{job.error_code}: {job.error_message}"
    assert job.operation_id and job.generation_id
    assert job.video.duration == pytest.approx(5.0, abs=0.5)
    assert job.video.has_audio is False
    assert job.poster_id is not None
    print(f"live: {job.operation_id} {job.generation_id} reported cost {job.reported_cost} "
          f"warnings {job.warnings}")
