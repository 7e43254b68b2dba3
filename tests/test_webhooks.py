"""The completion webhook: a real callback from the sandbox to a live server, and forgeries."""

import json
import time

import pytest
from django.urls import reverse

from django_kling import callbacks
from django_kling.jobs import create_video_request
from django_kling.models import Status, VideoRequest
from django_kling.providers.gateway import callback_signature
from django_kling.states import transition

from .conftest import wait_for_end


@pytest.fixture
def hooks(settings, live_server, sandbox):
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "WEBHOOK_URL": live_server.url,
                             "WEBHOOK_POLL_INTERVAL": 30}
    return live_server


def test_a_webhook_finishes_the_job_with_two_calls(worker, hooks, sandbox, make_image):
    sandbox.delay = 0.5
    started = time.monotonic()
    job = wait_for_end(create_video_request(make_image()), timeout=20)
    assert job.status == Status.SUCCEEDED
    # Long before the 30 s fallback poll: the callback triggered the only status call.
    assert time.monotonic() - started < 15
    api_calls = [c.path for c in sandbox.calls if not c.path.startswith("/files/")]
    assert api_calls == ["/v4/ai/video-model/start", "/v4/ai/video-model/status"]
    assert sandbox.webhooks[0].status_code == 200
    # The signing secret was used but never stored with the job.
    row = json.dumps(list(VideoRequest.objects.filter(pk=job.pk).values())[0], default=str)
    assert "whsec_" not in row and "webhookSigningSecret" not in row


@pytest.fixture
def running_job(db, make_image, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        job = create_video_request(make_image())
    transition(job, Status.SUBMITTING)
    job = transition(job, Status.RUNNING, operation={"gatewayJobId": "job_x"})
    callbacks.remember_secret(job.pk, "whsec_test")
    return job


def post(client, job, body=b'{"status":"completed"}', *, token=None, secret="whsec_test",
         timestamp=None, signature=None):
    timestamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = signature or callback_signature(secret, timestamp, body)
    url = reverse("django_kling:webhook", args=[job.pk, token or callbacks.url_token(job.pk)])
    return client.post(url, body, content_type="application/json",
                       headers={"x-timestamp": timestamp, "x-signature": signature})


def test_a_genuine_call_is_accepted_once(client, running_job):
    body = b'{"status":"completed","n":1}'
    first = post(client, running_job, body)
    assert first.status_code == 200 and first.json() == {"accepted": True}
    replay = post(client, running_job, body)
    assert replay.status_code == 400 and b"replayed" in replay.content


@pytest.mark.parametrize("forgery, reason", [
    ({"token": "0" * 32}, b"bad token"),
    ({"secret": "whsec_guessed"}, b"bad signature"),
    ({"signature": "nope"}, b"bad signature"),
    ({"timestamp": int(time.time()) - 3600}, b"stale timestamp"),
    ({"timestamp": int(time.time()) + 3600}, b"stale timestamp"),
])
def test_forged_calls_get_400(client, running_job, forgery, reason):
    response = post(client, running_job, **forgery)
    assert response.status_code == 400 and reason in response.content


def test_no_known_secret_means_no_trust(client, running_job):
    callbacks.forget_secret(running_job.pk)
    response = post(client, running_job)
    assert response.status_code == 400


def test_only_post(client, running_job):
    url = reverse("django_kling:webhook",
                  args=[running_job.pk, callbacks.url_token(running_job.pk)])
    assert client.get(url).status_code == 405


def test_callback_url_only_when_configured(settings, running_job):
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "WEBHOOK_URL": None}
    assert callbacks.callback_url(running_job.pk) is None
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "WEBHOOK_URL": "https://shop.example.com/"}
    url = callbacks.callback_url(running_job.pk)
    assert url.startswith(f"https://shop.example.com/kling/webhooks/{running_job.pk}/")
