"""A job on the sandbox is noticed as it ends with the app's default polling settings
(``FIRST_CHECK`` 60 s): the sandbox's answers say when the job will end (issue 21, item 9)."""

import pytest

from django_kling.conf import kling_settings
from django_kling.flow import polling
from django_kling.jobs import create_video_request
from django_kling.models import Status

from .conftest import wait_for_end

#: What tests/settings.py tunes for speed; an adopter's project keeps the defaults.
TUNED = ("FIRST_CHECK", "POLL_INTERVAL", "MAX_POLL_INTERVAL", "SCHEDULER")


@pytest.fixture
def default_polling(settings):
    settings.DJANGO_KLING = {name: value for name, value in settings.DJANGO_KLING.items()
                             if name not in TUNED}
    assert kling_settings.first_check("klingai/kling-v2.6-i2v") == 60.0


def test_a_sandbox_job_is_detected_within_seconds(default_polling, worker, sandbox, make_image):
    sandbox.delay = 1.0
    job = create_video_request(make_image(800, 450), prompt="The bottle turns slowly.")
    job = wait_for_end(job, timeout=30)
    assert job.status == Status.SUCCEEDED, (job.error_code, job.error_message)
    took = (job.finished_at - job.submitted_at).total_seconds()
    assert took < 1.0 + 4.0, took  # before: the first status call came after 60 s
    assert job.poll_count <= 3


def test_without_a_word_from_the_provider_first_check_applies(default_polling, db, make_image):
    job = create_video_request(make_image(), prompt="It turns.")
    assert polling.first_check_delay(job, webhook=False) == 60.0
    assert polling.first_check_delay(job, webhook=False, expected=4.0) == 4.5
    assert polling.first_check_delay(job, webhook=False, expected=600.0) == 60.0  # never later
    assert polling.first_check_delay(job, webhook=True, expected=4.0) >= 60.0  # the webhook's
    now = job.created_at
    assert polling.after_pending(job, 1, now=now, expected=0.5) == 1.0
    assert polling.after_pending(job, 1, now=now, expected=60.0) == 5.0  # POLL_INTERVAL
