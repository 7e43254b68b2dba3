"""Cost estimates and budgets."""

import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import dramatiq
import pytest
from django.db import connection, connections

from django_kling.exceptions import BudgetExceeded
from django_kling.flow import pipeline
from django_kling.jobs import (
    cancel_video_request,
    create_video_request,
    estimate_cost,
    retry_video_request,
)
from django_kling.models import Status, VideoRequest

from .conftest import wait_for_end


def test_estimates_follow_the_price_table():
    assert estimate_cost(duration=5, mode="pro", sound=True) == Decimal("0.700")
    assert estimate_cost(duration=10, mode="pro", sound=True) == Decimal("1.400")
    assert estimate_cost(duration=10, mode="std", sound=False) == Decimal("0.700")


def test_custom_prices(settings):
    settings.DJANGO_KLING = {**settings.DJANGO_KLING,
                             "PRICES": {"pro": {"silent": "0.10", "sound": "0.20"}}}
    assert estimate_cost(duration=10, mode="pro", sound=True) == Decimal("2.000")


@pytest.fixture
def quiet(django_capture_on_commit_callbacks):
    """Create jobs without enqueuing them (no worker in these tests)."""
    with django_capture_on_commit_callbacks(execute=False):
        yield


@pytest.mark.django_db
def test_daily_budget_counts_in_flight_and_succeeded_only(settings, make_image, quiet):
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "BUDGET": {"per_day": "1.50"}}
    first = create_video_request(make_image())          # 0.70 in flight
    create_video_request(make_image())                  # 1.40
    with pytest.raises(BudgetExceeded) as caught:
        create_video_request(make_image())              # would be 2.10
    assert caught.value.code == "budget_exceeded"
    assert "1.50 USD" in caught.value.message and "today" in caught.value.message
    # failed jobs are not billed
    VideoRequest.objects.transition(first, Status.FAILED, error_code="x")
    create_video_request(make_image())
    failed = type(first).objects.get(pk=first.pk)
    with pytest.raises(BudgetExceeded):
        retry_video_request(failed)


@pytest.mark.django_db
def test_monthly_budget(settings, make_image, quiet):
    settings.DJANGO_KLING = {**settings.DJANGO_KLING,
                             "BUDGET": {"per_day": None, "per_month": "1.00"}}
    create_video_request(make_image())
    with pytest.raises(BudgetExceeded) as caught:
        create_video_request(make_image(), duration=10)
    assert "this month" in caught.value.message


def test_unknown_budget_key_is_rejected(settings):
    from django.core.exceptions import ImproperlyConfigured

    from django_kling.conf import kling_settings

    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "BUDGET": {"per_week": "5"}}
    with pytest.raises(ImproperlyConfigured, match="per_week"):
        kling_settings.BUDGET  # noqa: B018


# -- what counts against the budget (issue 13, item 2) ---------------------------------------


@pytest.fixture
def budget_of_one_clip(settings):
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "BUDGET": {"per_day": "0.70"}}


@pytest.mark.django_db
def test_canceled_after_reaching_the_provider_still_counts(sandbox, budget_of_one_clip,
                                                           make_image, quiet):
    # The gateway has no cancel call: a job canceled while it runs there is still billed.
    # The submit step runs here, not on a worker, so nothing else writes meanwhile.
    sandbox.delay = 30.0
    job = create_video_request(make_image())
    assert pipeline.submit_step(job.pk) is None  # running: the scheduler polls it next
    assert VideoRequest.objects.get(pk=job.pk).status == Status.RUNNING
    assert sandbox.bill_count == 1  # it reached the provider
    assert cancel_video_request(job)
    with pytest.raises(BudgetExceeded):
        create_video_request(make_image())
    assert sandbox.bill_count == 1


@pytest.mark.django_db
def test_canceled_before_reaching_the_provider_does_not_count(budget_of_one_clip, make_image,
                                                              quiet):
    job = create_video_request(make_image())
    assert cancel_video_request(job)
    again = create_video_request(make_image())  # nothing was sent, nothing billed
    assert again.status == Status.QUEUED
    with pytest.raises(BudgetExceeded):  # and the new one counts
        create_video_request(make_image())


def test_failed_after_the_clip_was_made_still_counts(worker, sandbox, budget_of_one_clip,
                                                     make_image):
    sandbox.set_fault("not_a_video")
    job = wait_for_end(create_video_request(make_image()))
    assert job.status == Status.FAILED and job.error_code.startswith("media")
    with pytest.raises(BudgetExceeded):
        create_video_request(make_image())


def test_failed_at_the_provider_does_not_count(worker, sandbox, budget_of_one_clip,
                                               make_image):
    sandbox.set_fault("generation_error")  # Kling bills no failed task
    job = wait_for_end(create_video_request(make_image()))
    assert (job.status, job.error_code) == (Status.FAILED, "generation_failed")
    sandbox.clear_faults()
    again = wait_for_end(create_video_request(make_image()))
    assert again.status == Status.SUCCEEDED, again.error_message
    assert sandbox.bill_count == 2  # the sandbox billed both; only the clip counts here


@pytest.mark.django_db
def test_the_reported_cost_is_preferred(settings, make_image, quiet):
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "BUDGET": {"per_day": "1.00"}}
    job = create_video_request(make_image())  # 0.70 estimated
    VideoRequest.objects.filter(pk=job.pk).update(reported_cost=Decimal("0.20"))
    create_video_request(make_image())  # 0.20 + 0.70 fits
    with pytest.raises(BudgetExceeded):  # 0.20 + 0.70 + 0.70 does not
        create_video_request(make_image())


# -- check and insert are one step (issue 13, item 1) -----------------------------------------


@pytest.mark.django_db(transaction=True)
def test_parallel_requests_cannot_overspend(settings, make_image):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite lets one writer in at a time whatever we do")
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "BUDGET": {"per_day": "0.70"}}
    image = make_image()
    start = threading.Barrier(6)

    def one_request() -> str:
        try:
            start.wait()
            create_video_request(image)
            return "queued"
        except BudgetExceeded:
            return "refused"
        finally:
            connections.close_all()  # each thread had its own connection

    with ThreadPoolExecutor(6) as pool:
        outcomes = sorted(pool.map(lambda _: one_request(), range(6)))
    dramatiq.get_broker().flush_all()
    assert outcomes == ["queued"] + ["refused"] * 5
    assert VideoRequest.objects.count() == 1
