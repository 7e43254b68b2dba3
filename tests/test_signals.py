"""``video_requested``, ``video_ready`` and ``video_failed``: once per request, after the commit.

Real jobs on a real worker (Redis in CI): retried downloads, duplicate messages, failures.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import dramatiq
import pytest
from django.core.files.storage import storages
from django.db import transaction
from dramatiq.brokers.stub import StubBroker
from dramatiq.common import dq_name

from django_kling import tasks
from django_kling.conf import kling_settings
from django_kling.flow.actor_options import FINISH_QUEUE
from django_kling.jobs import create_video_request, retry_video_request
from django_kling.models import Status, VideoRequest
from django_kling.signals import video_failed, video_ready, video_requested

from .conftest import wait_for_end


class Received:
    """What each signal was sent with, in order."""

    def __init__(self) -> None:
        self.requested: list[dict[str, Any]] = []
        self.ready: list[dict[str, Any]] = []
        self.failed: list[dict[str, Any]] = []

    def counts(self) -> tuple[int, int, int]:
        return len(self.requested), len(self.ready), len(self.failed)


@pytest.fixture
def received() -> Iterator[Received]:
    log = Received()

    def on_requested(sender, **kwargs):
        log.requested.append({"sender": sender, "status": kwargs["request"].status, **kwargs})

    def on_ready(sender, **kwargs):
        log.ready.append({"sender": sender, "status": kwargs["request"].status, **kwargs})

    def on_failed(sender, **kwargs):
        log.failed.append({"sender": sender, "status": kwargs["request"].status, **kwargs})

    pairs = ((video_requested, on_requested), (video_ready, on_ready), (video_failed, on_failed))
    for signal, receiver in pairs:
        signal.connect(receiver, weak=False)
    yield log
    for signal, receiver in pairs:
        signal.disconnect(receiver)


def queued(broker: dramatiq.Broker, name: str) -> int:
    if isinstance(broker, StubBroker):
        return broker.queues[name].qsize() if name in broker.queues else 0
    return broker.do_qsize(name)


def drain(worker: dramatiq.Worker, timeout: float = 30.0) -> None:
    """Wait until every message sent so far (delayed ones too) has been handled.

    Not ``broker.join``: the stub broker's counters keep the messages that workers stopped by
    earlier tests never finished, so it would wait forever.
    """
    broker = dramatiq.get_broker()
    names = [name for queue in (kling_settings.QUEUE_NAME, FINISH_QUEUE)
             for name in (queue, dq_name(queue))]
    limit, quiet = time.monotonic() + timeout, 0
    while quiet < 3:  # a message may be between the broker and the worker for a moment
        assert time.monotonic() < limit, "messages still pending"
        worker.join()
        quiet = quiet + 1 if not any(queued(broker, name) for name in names) else 0
        time.sleep(0.02)


def send_duplicates(job: VideoRequest) -> None:
    for actor in (tasks.submit, tasks.poll, tasks.fetch):
        actor.send(str(job.pk))


def test_each_signal_once_across_a_retried_fetch(worker, sandbox, make_image, received):
    # The first download of the clip answers 500: a transient error, fetched again.
    sandbox.set_fault("server_error", times=1, route="file")
    job = wait_for_end(create_video_request(make_image(), prompt="The bottle turns."))
    assert job.status == Status.SUCCEEDED
    assert job.fetch_attempts == 2
    assert sum(call.path.startswith("/files/") for call in sandbox.calls) == 2
    drain(worker)
    assert received.counts() == (1, 1, 0)

    requested, ready = received.requested[0], received.ready[0]
    assert requested["sender"] is VideoRequest and requested["request"].pk == job.pk
    assert requested["status"] == Status.QUEUED
    assert ready["sender"] is VideoRequest
    assert ready["request"].pk == job.pk and ready["status"] == Status.SUCCEEDED
    assert (ready["video"].pk, ready["poster"].pk) == (job.video_id, job.poster_id)
    assert (ready["video"].kind, ready["poster"].kind) == ("video", "poster")
    assert ready["video"].duration == pytest.approx(5, abs=0.1) and ready["video"].has_audio


def test_each_signal_once_across_duplicate_messages(worker, sandbox, make_image, received):
    sandbox.delay = 0.3
    job = create_video_request(make_image())
    for _ in range(3):  # while it runs
        send_duplicates(job)
    job = wait_for_end(job)
    assert job.status == Status.SUCCEEDED
    send_duplicates(job)  # and after it ended
    drain(worker)
    assert received.counts() == (1, 1, 0)
    assert sandbox.bill_count == 1


def test_failed_once_across_retried_fetches(worker, sandbox, make_image, received, settings):
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "MAX_ATTEMPTS": 2}
    sandbox.set_fault("server_error", route="file")  # every download fails
    job = wait_for_end(create_video_request(make_image()))
    assert (job.status, job.error_code, job.fetch_attempts) == (
        Status.FAILED, "download_failed", 2)
    send_duplicates(job)
    drain(worker)
    assert received.counts() == (1, 0, 1)
    failed = received.failed[0]
    assert failed["sender"] is VideoRequest and failed["request"].pk == job.pk
    assert failed["status"] == Status.FAILED
    assert failed["code"] == job.error_code and failed["message"] == job.error_message
    assert "500" in failed["message"]


def test_failed_once_without_retry_for_a_broken_clip(worker, sandbox, make_image, received):
    sandbox.set_fault("truncated_mp4", times=1)  # not transient: no second download
    job = wait_for_end(create_video_request(make_image()))
    assert (job.status, job.fetch_attempts) == (Status.FAILED, 1)
    drain(worker)
    assert received.counts() == (1, 0, 1)
    assert received.failed[0]["code"] == job.error_code


def test_a_retried_request_is_a_new_request(worker, sandbox, make_image, received):
    sandbox.set_fault("generation_error", times=1)
    failed = wait_for_end(create_video_request(make_image()))
    retried = wait_for_end(retry_video_request(failed))
    drain(worker)
    assert [r["request"].pk for r in received.requested] == [failed.pk, retried.pk]
    assert [r["request"].pk for r in received.ready] == [retried.pk]
    assert [r["request"].pk for r in received.failed] == [failed.pk]


def test_sent_only_after_the_commit(worker, sandbox, make_image, received):
    with pytest.raises(RuntimeError), transaction.atomic():
        create_video_request(make_image())
        raise RuntimeError("the host's transaction fails")
    assert received.requested == [] and VideoRequest.objects.count() == 0

    with transaction.atomic():
        job = create_video_request(make_image())
        assert received.requested == []  # not committed yet: nothing sent, nothing queued
    assert [r["request"].pk for r in received.requested] == [job.pk]
    assert wait_for_end(job).status == Status.SUCCEEDED


def test_a_receiver_that_raises_changes_nothing(worker, sandbox, make_image, received, caplog):
    calls = []

    def broken(sender, request, **kwargs):
        calls.append(request.pk)
        raise ValueError("the host's receiver is broken")

    video_requested.connect(broken, weak=False)
    video_ready.connect(broken, weak=False)
    try:
        with caplog.at_level(logging.ERROR, logger="django.dispatch"):
            job = create_video_request(make_image())  # returns: the job exists and is queued
            job = wait_for_end(job)
            drain(worker)
    finally:
        video_requested.disconnect(broken)
        video_ready.disconnect(broken)
    assert job.status == Status.SUCCEEDED and job.fetch_attempts == 1
    assert calls == [job.pk, job.pk]  # once for each signal, never repeated
    assert received.counts() == (1, 1, 0)  # the other receivers still ran
    storage = storages[kling_settings.STORAGE]
    for asset in (job.first_frame, job.video, job.poster):
        assert storage.exists(asset.file.name)  # nothing was rolled back or discarded
    logged = [r for r in caplog.records if r.name == "django.dispatch"
              and "the host's receiver is broken" in r.getMessage()]
    assert len(logged) == 2
