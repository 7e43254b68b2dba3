"""The polling scheduler: the first check waits, later ones back off, no job polled twice at once.

Real worker, real sandbox over HTTP, real database; two scheduler loops and a stream of
webhook-style nudges race for the same jobs.
"""

from __future__ import annotations

import os
import threading
import time

import pytest
from django.db import connections

from django_kling.flow import pipeline, polling
from django_kling.flow.scheduler import Scheduler
from django_kling.jobs import create_video_request
from django_kling.models import Status
from django_kling.providers.gateway.provider import GatewayProvider

from .conftest import wait_for_end, wait_until


def checks_until(done: float, first: float) -> int:
    """Status calls the schedule makes for a generation that takes ``done`` seconds."""
    at, calls = first, 1
    while at < done:
        calls += 1
        at += polling.pending_delay(calls - 1, webhook=False)
    return calls


def test_back_off_and_the_calls_a_three_minute_generation_costs(settings):
    settings.DJANGO_KLING = {"POLL_INTERVAL": 5, "MAX_POLL_INTERVAL": 25}
    assert [polling.pending_delay(n, webhook=False) for n in range(1, 7)] == [
        5, 10, 20, 25, 25, 25]
    settings.DJANGO_KLING = {}  # the defaults: first check at 60 s, then 5, 10, 20, 25...
    assert checks_until(180, first=60) == 8
    settings.DJANGO_KLING = {"WEBHOOK_URL": "https://shop.example.com"}
    assert polling.pending_delay(1, webhook=True) == 300  # the webhook usually comes first


def test_the_first_status_call_waits_for_the_models_typical_time(worker, sandbox, settings,
                                                                 make_image):
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "FIRST_CHECK": {"*": 1.0}}
    sandbox.tells_end = False  # as the real gateway: no word on when the job ends
    job = wait_for_end(create_video_request(make_image()))
    assert job.status == Status.SUCCEEDED
    starts = [c.time for c in sandbox.calls if c.path.endswith("/video-model/start")]
    polls = [c.time for c in sandbox.calls if "/operations/" in c.path or "status" in c.path]
    assert polls and min(polls) - max(starts) >= 0.9
    assert job.poll_count == 1  # the sandbox was done by then: one call was enough


def test_a_job_is_never_polled_by_two_workers_at_once(worker, sandbox, settings, make_image,
                                                      monkeypatch):
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "FIRST_CHECK": {"*": 0.05},
                             "POLL_INTERVAL": 0.05, "MAX_POLL_INTERVAL": 0.1}
    sandbox.delay = 2.0
    real_status = GatewayProvider.status
    lock = threading.Lock()
    asking: set[str] = set()
    overlaps: list[str] = []
    calls = []

    def status(self, operation, **kwargs):
        key = str(operation)
        with lock:
            if key in asking:
                overlaps.append(key)
            asking.add(key)
            calls.append(key)
        try:
            time.sleep(0.03)  # widen the window a second poller would have to hit
            return real_status(self, operation, **kwargs)
        finally:
            with lock:
                asking.discard(key)

    monkeypatch.setattr(GatewayProvider, "status", status)
    second = Scheduler().start()  # the worker's own loop is the first
    jobs = [create_video_request(make_image(), prompt=f"job {i}") for i in range(4)]
    stop = threading.Event()

    def nudge() -> None:  # webhooks arriving all the time
        try:
            while not stop.wait(0.01):
                for job in jobs:
                    pipeline.poll_step(job.pk, forced=True)
        finally:
            connections.close_all()  # this thread's own connection

    nudger = threading.Thread(target=nudge, daemon=True)
    nudger.start()
    try:
        ended = [wait_for_end(job) for job in jobs]
    finally:
        stop.set()
        nudger.join()
        second.stop()
    assert [job.status for job in ended] == [Status.SUCCEEDED] * 4
    assert len(calls) > 3 * len(jobs)  # they were asked about many times, by all three
    assert overlaps == []
    assert sandbox.bill_count == 4


@pytest.mark.django_db
def test_a_poll_message_for_a_job_not_due_asks_nothing(sandbox, make_image, settings,
                                                       django_capture_on_commit_callbacks):
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "FIRST_CHECK": {"*": 600}}
    with django_capture_on_commit_callbacks(execute=False):
        job = create_video_request(make_image())
    assert pipeline.submit_step(job.pk) is None
    asked = len(sandbox.calls)
    assert pipeline.poll_step(job.pk) is None  # a stale kling_poll message
    assert len(sandbox.calls) == asked
    assert polling.claim_due(10) == []  # not due for ten minutes


def test_kling_sync_loop_polls_until_stopped(transactional_db, sandbox, make_image,
                                             monkeypatch):
    # kling_sync --loop: the scheduler in a process of its own (no worker, no middleware).
    import signal

    from django.core.management import call_command

    handlers = {}
    monkeypatch.setattr(signal, "signal", lambda number, handler: handlers.update(
        {number: handler}))
    job = create_video_request(make_image())
    assert pipeline.submit_step(job.pk) is None  # running: only a scheduler asks now
    command = threading.Thread(target=call_command, args=("kling_sync", "--loop"),
                               kwargs={"stdout": open(os.devnull, "w")})  # noqa: SIM115
    command.start()
    try:
        limit = time.monotonic() + 30
        while time.monotonic() < limit:
            job.refresh_from_db()
            if job.status != Status.RUNNING:
                break
            time.sleep(0.05)
    finally:
        while signal.SIGTERM not in handlers:
            time.sleep(0.01)
        handlers[signal.SIGTERM]()
        command.join(30)
    assert not command.is_alive()
    # The loop asked, saw the clip ready and handed the download to a worker.
    assert job.status == Status.FETCHING and job.poll_count >= 1


# -- a poll that fails on the database (issue 21) ------------------------------------------------


def locked_once_on(target: str, monkeypatch) -> list:
    """Make the job's next move to ``target`` fail as SQLite does under load, once."""
    from django.db import OperationalError

    real = pipeline.transition
    failed: list = []

    def transition(job, to, **fields):
        if to == target and not failed:
            failed.append(getattr(job, "pk", job))
            raise OperationalError("database is locked")
        return real(job, to, **fields)

    monkeypatch.setattr(pipeline, "transition", transition)
    return failed


def test_a_poll_that_fails_on_the_database_gives_its_claim_back(worker, sandbox, make_image,
                                                                 monkeypatch):
    """The scheduler's poll died of "database is locked": the job waited out the whole lease
    (120 s by default) before anyone asked again; test_editorial_flow took 125 s on SQLite."""
    failed = locked_once_on(Status.FETCHING, monkeypatch)
    started = time.monotonic()
    job = wait_for_end(create_video_request(make_image()), timeout=30)
    assert job.status == Status.SUCCEEDED, job.error_message
    assert failed == [job.pk]
    assert time.monotonic() - started < 5  # the lease here is 10 s: it was not waited out


@pytest.mark.django_db
def test_a_nudge_that_fails_on_the_database_gives_its_claim_back(
        sandbox, make_image, monkeypatch, django_capture_on_commit_callbacks):
    from django.db import OperationalError

    from django_kling.models import VideoRequest

    with django_capture_on_commit_callbacks(execute=False):
        job = create_video_request(make_image())
    assert pipeline.submit_step(job.pk) is None  # running
    failed = locked_once_on(Status.FETCHING, monkeypatch)
    raised: list[OperationalError] = []

    def nudge() -> bool:  # until the clip is ready and the move to fetching fails
        try:
            pipeline.poll_step(job.pk, forced=True)
        except OperationalError as error:  # Dramatiq retries the message after a second
            raised.append(error)
        return bool(raised)

    wait_until(nudge, timeout=20, what="the locked move")
    assert failed == [job.pk]
    assert VideoRequest.objects.get(pk=job.pk).claimed_until is None  # the retry may claim it
    pipeline.poll_step(job.pk, forced=True)
    assert VideoRequest.objects.get(pk=job.pk).status == Status.SUCCEEDED
