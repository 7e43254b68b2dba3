"""Cost estimates and budgets."""

from decimal import Decimal

import pytest

from django_kling.exceptions import BudgetExceeded
from django_kling.jobs import create_video_request, estimate_cost, retry_video_request
from django_kling.models import Status
from django_kling.states import transition


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
    transition(first, Status.FAILED, error_code="x")     # failed jobs are not billed
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
