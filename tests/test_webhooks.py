"""The completion webhook in the gateway's format: a real callback from the sandbox to a live
server, copies, forgeries, and deliveries nobody needs any more."""

import json
import logging
import time
import uuid

import pytest
from django.urls import reverse

from django_kling.flow import callbacks
from django_kling.jobs import create_video_request
from django_kling.models import Status, VideoRequest
from django_kling.providers.gateway import SIGNATURE_HEADER, callback_signature

from .conftest import finished_by_callback, wait_until

BODY = b'{"type":"video.generation.completed","jobId":"job_x"}'


def test_a_webhook_finishes_the_job_with_two_calls(worker, hooks, sandbox, make_image):
    job = finished_by_callback(sandbox, make_image())
    api_calls = [c.path for c in sandbox.calls if not c.path.startswith("/files/")]
    assert api_calls == ["/v4/ai/video-model/start", "/v4/ai/video-model/status"]
    (delivery,) = sandbox.webhooks
    assert delivery.status_code == 200
    assert delivery.headers[SIGNATURE_HEADER].startswith("t=")
    assert json.loads(delivery.body)["type"] == "video.generation.completed"
    # The signing secret was used but never stored with the job.
    row = json.dumps(list(VideoRequest.objects.filter(pk=job.pk).values())[0], default=str)
    assert "whsec_" not in row and "webhookSigningSecret" not in row


#: What a worker's busy threads finished of the backlog in the test below.
BACKLOG_DONE: list[int] = []


def backlog_actor():
    """A stand-in for other work on the main queue (submits of a large batch)."""
    import dramatiq
    from dramatiq.errors import ActorNotFound

    from django_kling.conf import kling_settings

    broker = dramatiq.get_broker()
    try:
        return broker.get_actor("test_backlog")
    except ActorNotFound:
        @dramatiq.actor(actor_name="test_backlog", queue_name=kling_settings.QUEUE_NAME)
        def backlog(index: int) -> None:
            time.sleep(0.25)
            BACKLOG_DONE.append(index)

        return backlog


def test_a_webhook_finishes_its_job_ahead_of_the_work_waiting(worker, hooks, sandbox, make_image):
    """The nudge and the fetch take the finishing queue, ahead of what waits on the main queue:
    behind 60 waiting messages (15 s of work for this worker) the clip is stored within seconds."""
    backlog = backlog_actor()
    BACKLOG_DONE.clear()
    sandbox.delay = 600  # held running until the backlog is queued, then let go
    job = create_video_request(make_image())
    wait_until(lambda: VideoRequest.objects.get(pk=job.pk).status == Status.RUNNING, 20,
               "the job to start")
    for index in range(60):
        backlog.send(index)
    assert sandbox.finish_running() == 1
    wait_until(lambda: VideoRequest.objects.get(pk=job.pk).status == Status.SUCCEEDED, 30,
               "the job to succeed")
    assert len(BACKLOG_DONE) < 30, "the job waited for the backlog"
    assert [c.path for c in sandbox.calls if c.path.endswith("/status")] == [
        "/v4/ai/video-model/status"]
    assert len(sandbox.webhooks) == 1


@pytest.fixture
def running_job(db, make_image, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        job = create_video_request(make_image())
    VideoRequest.objects.transition(job, Status.SUBMITTING)
    job = VideoRequest.objects.transition(job, Status.RUNNING, operation={"gatewayJobId": "job_x"})
    callbacks.remember_secret(job.pk, "whsec_test")
    return job


def post(client, job, body=BODY, *, token=None, secret="whsec_test", timestamp=None,
         signature=None, header=None, pk=None):
    timestamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = signature or callback_signature(secret, timestamp, body)
    pk = pk or job.pk
    url = reverse("django_kling:webhook", args=[pk, token or callbacks.url_token(pk)])
    header = f"t={timestamp},v1={signature}" if header is None else header
    return client.post(url, body, content_type="application/json",
                       headers={SIGNATURE_HEADER: header} if header else {})


def test_a_genuine_call_is_accepted_once(client, running_job):
    now = int(time.time())
    first = post(client, running_job, timestamp=now)
    assert first.status_code == 200 and first.json() == {"accepted": True}
    # The gateway resending the same event a second later signs it again with a new
    # timestamp: still the same delivery, acknowledged so that it stops, not acted on.
    resent = post(client, running_job, timestamp=now + 1)
    assert resent.status_code == 200 and resent.json() == {"accepted": False}
    replay = post(client, running_job, timestamp=now)
    assert replay.status_code == 200 and replay.json() == {"accepted": False}
    # Another event of the same job is another delivery.
    other = post(client, running_job, body=BODY.replace(b"completed", b"failed"))
    assert other.json() == {"accepted": True}


def test_any_v1_value_may_match_during_a_secret_rotation(client, running_job):
    now = str(int(time.time()))
    good = callback_signature("whsec_test", now, BODY)
    response = post(client, running_job, header=f"t={now},v1={'0' * 64},v1={good}")
    assert response.json() == {"accepted": True}


@pytest.mark.parametrize("forgery, reason", [
    ({"token": "0" * 32}, "bad token"),
    ({"secret": "whsec_guessed"}, "bad signature"),
    ({"signature": "nope"}, "bad signature"),
    ({"header": "t=1700000000"}, "no signature"),
    ({"header": f"v1={'a' * 64}"}, "no timestamp"),
    ({"header": ""}, "no signature"),
    ({"timestamp": int(time.time()) - 3600}, "stale timestamp"),
    ({"timestamp": int(time.time()) + 3600}, "stale timestamp"),
])
def test_forged_calls_get_400_without_the_reason(client, running_job, caplog, forgery, reason):
    with caplog.at_level(logging.WARNING, logger="django.security.CallbackRefused"):
        response = post(client, running_job, **forgery)
    assert response.status_code == 400 and response.content == b""
    (record,) = [r for r in caplog.records if r.name == "django.security.CallbackRefused"]
    assert record.getMessage().endswith(f"refused: {reason}")
    assert "whsec_test" not in caplog.text


def test_the_replay_window_holds_for_a_tolerance_under_a_second(settings, running_job):
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "WEBHOOK_TOLERANCE": 0.5}
    assert callbacks.replay_window() >= 2
    assert callbacks.first_delivery(running_job.pk, "k") is True
    assert callbacks.first_delivery(running_job.pk, "k") is False


def test_deliveries_for_ended_or_unknown_jobs_are_acknowledged(client, running_job):
    VideoRequest.objects.transition(running_job, Status.CANCELED)
    callbacks.forget_secret(running_job.pk)  # as at the end of every job
    response = post(client, running_job)
    assert response.status_code == 200 and response.json() == {"accepted": False}
    response = post(client, running_job, pk=uuid.uuid4())
    assert response.status_code == 200 and response.json() == {"accepted": False}


def test_no_known_secret_is_acknowledged_and_not_acted_on(client, running_job):
    callbacks.forget_secret(running_job.pk)
    response = post(client, running_job)
    assert response.status_code == 200 and response.json() == {"accepted": False}


def test_login_required_middleware_does_not_redirect_the_gateway(settings, client, running_job):
    settings.MIDDLEWARE = [*settings.MIDDLEWARE,
                           "django.contrib.auth.middleware.LoginRequiredMiddleware"]
    response = post(client, running_job)
    assert response.status_code == 200 and response.json() == {"accepted": True}


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
