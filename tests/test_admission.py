"""The provider concurrency cap (MAX_IN_FLIGHT): jobs wait queued, start in turn, fairly.

Real database and sandbox; the last test runs two real worker processes on Redis and
PostgreSQL and lets the sandbox count the generations running at once.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from django.utils import timezone

from django_kling.editorial import batches
from django_kling.flow import admission
from django_kling.jobs import create_video_request
from django_kling.models import Status, Throttle, VideoRequest
from tests.shop.models import Product

from .conftest import wait_for_end
from .test_admin import make_product_fixture  # noqa: F401  (a fixture)


def capped(settings, cap) -> None:
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "MAX_IN_FLIGHT": cap}


def test_the_cap_setting_per_provider_or_for_all(settings):
    from django_kling.conf import kling_settings

    capped(settings, {"gateway": 20})
    assert (kling_settings.max_in_flight("gateway"), kling_settings.max_in_flight("kling")) \
        == (20, None)
    capped(settings, 5)
    assert kling_settings.max_in_flight("fal") == 5


def test_over_the_cap_jobs_wait_and_start_in_turn_across_lanes(
        db, settings, make_image, make_product, django_capture_on_commit_callbacks):
    capped(settings, 2)
    products = [make_product(f"Jar {i}") for i in range(3)]
    with django_capture_on_commit_callbacks(execute=False):
        batch = batches.start_batch(Product, [p.pk for p in products], field_name="image",
                                    options={})
        batches.create_chunk(batch.pk)
        single = create_video_request(make_image(), prompt="one clip")
    first, second, third = batch.jobs.order_by("batch_index")

    def status(job):
        return VideoRequest.objects.get(pk=job.pk).status

    with django_capture_on_commit_callbacks(execute=False) as sent:
        # Two slots: the oldest job of each lane (the batch; the single requests) first.
        assert admission.admit("gateway") == [first.pk, single.pk]
    assert len(sent) == 2 and status(first) == status(single) == Status.SUBMITTING
    assert status(second) == status(third) == Status.QUEUED
    assert admission.admit("gateway") == []  # no free slot: nothing starts

    VideoRequest.objects.transition(first, Status.FAILED, error_code="x", error_message="x")
    with django_capture_on_commit_callbacks(execute=False):
        assert admission.admit("gateway") == [second.pk]
    VideoRequest.objects.transition(single, Status.CANCELED)
    with django_capture_on_commit_callbacks(execute=False):
        assert admission.admit("gateway") == [third.pk]


def test_a_429_halves_the_effective_cap_for_a_while(db, settings, make_image,
                                                    django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        jobs = [create_video_request(make_image()) for _ in range(4)]
    for job in jobs:
        VideoRequest.objects.transition(job, Status.SUBMITTING)
    assert admission.limit("gateway") is None  # unlimited by default
    admission.throttle("gateway")
    assert admission.limit("gateway") == 2  # half of the 4 in flight
    capped(settings, 10)
    assert admission.limit("gateway") == 2
    Throttle.objects.update(until=timezone.now() - timedelta(seconds=1))
    assert admission.limit("gateway") == 10  # the cool-down is over


def test_jobs_held_by_a_throttle_start_when_it_ends_on_an_uncapped_provider(
        db, make_image, django_capture_on_commit_callbacks):
    """A 429 on an uncapped provider holds new jobs queued with no submit message; the
    scheduler's round must start them once the cool-down is over (the fault matrix's load
    row lost 116 of 200 jobs this way)."""
    with django_capture_on_commit_callbacks(execute=False):
        busy = create_video_request(make_image())
    VideoRequest.objects.transition(busy, Status.SUBMITTING)
    admission.throttle("gateway")  # 1 in flight at most
    with django_capture_on_commit_callbacks(execute=True) as sent:
        held = create_video_request(make_image())
    assert VideoRequest.objects.get(pk=held.pk).status == Status.QUEUED
    assert not [c for c in sent if "dispatch" in repr(c)]  # no message: left to admission
    with django_capture_on_commit_callbacks(execute=False) as sent:
        admission.admit_waiting()  # still throttled, no free slot: nothing starts
    assert sent == [] and VideoRequest.objects.get(pk=held.pk).status == Status.QUEUED

    # The cool-down ended a second ago; the held job was made during it.
    VideoRequest.objects.filter(pk=held.pk).update(
        created_at=timezone.now() - timedelta(seconds=2))
    Throttle.objects.update(until=timezone.now() - timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=False) as sent:
        after = create_video_request(make_image())  # made after the throttle: sent at once
    assert len(sent) == 1
    with django_capture_on_commit_callbacks(execute=False) as sent:
        admission.admit_waiting()
    assert VideoRequest.objects.get(pk=held.pk).status == Status.SUBMITTING
    assert len(sent) == 1  # the held job only, not the one that already has its message
    assert VideoRequest.objects.get(pk=after.pk).status == Status.QUEUED
    assert not Throttle.objects.exists()


def test_429_from_the_provider_throttles(worker, sandbox, make_image, settings):
    sandbox.set_fault("rate_limit", times=1, retry_after=0.2)
    job = wait_for_end(create_video_request(make_image()))
    assert job.status == Status.SUCCEEDED
    assert Throttle.objects.get(provider="gateway").limit == 1


def test_the_sandbox_never_sees_more_than_the_cap(worker, sandbox, make_image, settings):
    capped(settings, 2)
    sandbox.delay = 0.4
    jobs = [create_video_request(make_image(), prompt=f"job {i}") for i in range(6)]
    ended = [wait_for_end(job) for job in jobs]
    assert [job.status for job in ended] == [Status.SUCCEEDED] * 6
    assert sandbox.max_running == 2


@pytest.mark.skipif(not os.environ.get("REDIS_URL")
                    or not os.environ.get("DATABASE_URL", "").startswith("postgres"),
                    reason="needs Redis (REDIS_URL) and PostgreSQL (DATABASE_URL): two worker "
                           "processes share the queue and the database")
def test_the_cap_holds_under_two_worker_processes(transactional_db, sandbox, settings,
                                                  make_image, tmp_path):
    import dramatiq

    from .faults.harness import Workers, settle, worker_database_url, worker_env

    overrides = {"PROVIDERS": settings.DJANGO_KLING["PROVIDERS"], "MAX_IN_FLIGHT": 3,
                 "ALLOWED_DOWNLOAD_HOSTS": ["http://127.0.0.1:*"]}
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, **overrides}
    settings.MEDIA_ROOT = str(tmp_path / "media")
    dramatiq.get_broker().flush_all()
    sandbox.delay = 0.8
    workers = Workers(worker_env(database_url=worker_database_url(),
                                 media_root=tmp_path / "media", overrides=overrides,
                                 crash_marker=tmp_path / "crashed"), tmp_path)
    workers.start(count=2)
    try:
        jobs = settle([create_video_request(make_image(), prompt=f"job {i}")
                       for i in range(12)], timeout=90)
    finally:
        workers.stop()
        dramatiq.get_broker().flush_all()
    assert [job.status for job in jobs] == [Status.SUCCEEDED] * 12, workers.logs()
    assert sandbox.max_running == 3
    assert sandbox.bill_count == 12


def test_the_scheduler_round_asks_each_capped_provider_once_whatever_waits(
        db, settings, make_image, django_capture_on_commit_callbacks):
    """Issue 27: waiting costs only a row. The round used to call ``admit`` once per queued
    job (a DISTINCT over the provider column kept the model's ordering by created_at)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    capped(settings, {"gateway": 1})
    calls = []
    real = admission.admit
    queries = []
    try:
        admission.admit = lambda provider, **kw: calls.append(provider) or real(provider, **kw)
        for waiting in (6, 18):
            with django_capture_on_commit_callbacks(execute=False):
                while VideoRequest.objects.filter(status=Status.QUEUED).count() < waiting:
                    create_video_request(make_image(), prompt="wait")
                real("gateway")  # the one slot taken: the rounds below find the cap full
            calls.clear()
            with CaptureQueriesContext(connection) as captured:
                admission.admit_waiting()
            queries.append(len(captured))
            assert calls == ["gateway"]
    finally:
        admission.admit = real
    assert queries[0] == queries[1], queries
