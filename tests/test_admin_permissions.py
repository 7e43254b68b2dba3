"""Who may make, retry and see clips (issue 13: items 3, 7, 8 and 13)."""

from __future__ import annotations

import pytest
from django.core import checks
from django.urls import reverse

from django_kling.admin import KlingVideoAdminMixin
from django_kling.flow.pipeline import fail
from django_kling.jobs import create_video_request
from django_kling.models import VideoRequest

from .test_admin import (  # noqa: F401  (fixtures, by their pytest names)
    CHANGELIST,
    KLING_ALL,
    confirm_data,
    login,
    make_product_fixture,
    make_staff,
    messages_of,
    producer_fixture,
)

REQUESTS = "admin:django_kling_videorequest_changelist"


@pytest.fixture
def viewer_producer(db):
    """May queue, retry and cancel requests and see products, but not change them."""
    return make_staff("viewer_producer", "shop.view_product", *KLING_ALL)


@pytest.fixture
def outsider_producer(db):
    """May queue and retry requests, but may not even see products."""
    return make_staff("outsider", *KLING_ALL)


def failed_job(product) -> VideoRequest:
    job = create_video_request(source=product, field_name="image")
    fail(job, "deadline", "too slow")
    return VideoRequest.objects.get(pk=job.pk)


# -- 8: generating needs the change permission on the object ---------------------------------


def test_view_permission_on_a_product_is_not_enough_to_generate(viewer_producer,
                                                                 make_product):
    product = make_product()
    client = login(viewer_producer)
    response = client.post(reverse(CHANGELIST), confirm_data([product]), follow=True)
    assert VideoRequest.objects.count() == 0
    assert any("permission to change" in m for m in messages_of(response))
    page = reverse("admin:shop_product_generate_video", args=[product.pk])
    assert client.get(page).status_code == 403
    assert client.post(page, confirm_data([product], action=False)).status_code == 403
    change = client.get(reverse("admin:shop_product_change", args=[product.pk])).content
    assert b"kling-generate-link" not in change
    assert VideoRequest.objects.count() == 0


def test_the_mixin_may_relax_it_to_view(viewer_producer, make_product, monkeypatch):
    from tests.shop.admin import ProductAdmin

    monkeypatch.setattr(ProductAdmin, "kling_source_permission", "view")
    product = make_product()
    login(viewer_producer).post(reverse(CHANGELIST), confirm_data([product]))
    assert VideoRequest.objects.count() == 1


def test_a_wrong_source_permission_is_a_system_check_error():
    from django.contrib import admin

    from tests.shop.models import Product

    class Wrong(KlingVideoAdminMixin, admin.ModelAdmin):
        kling_source_permission = "delete"

    errors = Wrong(Product, admin.AdminSite()).check()
    assert [e.id for e in errors if isinstance(e, checks.Error)] == ["django_kling.E102"]


# -- 7: one row per selected object -----------------------------------------------------------


def test_repeated_rows_do_not_bypass_max_objects(producer, make_product):
    product = make_product()
    data = confirm_data([product] * 3)  # three rows, one selected object
    response = login(producer).post(reverse(CHANGELIST), data, follow=True)
    assert VideoRequest.objects.count() == 0
    assert any("3 rows for 1 selected objects" in m for m in messages_of(response))


def test_a_repeated_row_queues_its_object_once(producer, make_product):
    first, second = make_product("One"), make_product("Two")
    data = confirm_data([first, first])
    data["_selected_action"] = [str(first.pk), str(second.pk)]
    login(producer).post(reverse(CHANGELIST), data)
    assert list(VideoRequest.objects.values_list("object_id", flat=True)) == [str(first.pk)]


# -- 3: retry needs the same permissions as generating ----------------------------------------


def test_retry_needs_permission_on_the_object(outsider_producer, viewer_producer, producer,
                                              make_product):
    job = failed_job(make_product())
    retry = reverse("admin:django_kling_videorequest_retry", args=[job.pk])
    for user in (outsider_producer, viewer_producer):
        client = login(user)
        assert client.post(retry).status_code == 403
        response = client.post(reverse(REQUESTS), {
            "action": "retry_requests", "_selected_action": [job.pk]}, follow=True)
        assert any("not retried" in m for m in messages_of(response))
        page = client.get(reverse("admin:django_kling_videorequest_change", args=[job.pk]))
        assert b"Retry with the same inputs" not in page.content
    assert VideoRequest.objects.count() == 1
    assert login(producer).post(retry).status_code == 302
    assert VideoRequest.objects.count() == 2


def test_retry_needs_view_permission_on_the_request(make_product):
    job = failed_job(make_product())
    blind = make_staff("blind", "shop.view_product", "shop.change_product",
                       "django_kling.add_videorequest")
    retry = reverse("admin:django_kling_videorequest_retry", args=[job.pk])
    assert login(blind).post(retry).status_code == 403
    assert VideoRequest.objects.count() == 1


# -- 13: editors may be limited to requests for objects they may change -----------------------


def test_requests_can_be_limited_to_changeable_objects(settings, viewer_producer, producer,
                                                       make_product):
    job = failed_job(make_product())
    viewer = login(viewer_producer)
    assert viewer.get(reverse("admin:django_kling_videorequest_change",
                              args=[job.pk])).status_code == 200  # the documented default
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "ADMIN_SHOW_ALL_REQUESTS": False}
    listed = viewer.get(reverse(REQUESTS)).context["cl"].queryset
    assert list(listed) == []
    page = viewer.get(reverse("admin:django_kling_videorequest_change", args=[job.pk]))
    assert page.status_code == 302  # "does not exist" for this editor
    status = viewer.get(reverse("admin:django_kling_videorequest_status"), {"id": str(job.pk)})
    assert status.json()["jobs"] == {}
    assert list(login(producer).get(reverse(REQUESTS)).context["cl"].queryset) == [job]


# -- 2: the cancel button says that work at the provider is still paid for --------------------


def test_cancel_says_a_running_job_is_still_paid_for(producer, make_product):
    from django_kling.models import Status, VideoRequest
    transition = VideoRequest.objects.transition

    job = create_video_request(source=make_product(), field_name="image")
    job = transition(job, Status.SUBMITTING, submit_attempts=1)
    job = transition(job, Status.RUNNING, operation={"gatewayJobId": "job_1"})
    client = login(producer)
    page = client.get(reverse("admin:django_kling_videorequest_change", args=[job.pk]))
    assert "still paid for" in page.content.decode()
    response = client.post(reverse("admin:django_kling_videorequest_cancel", args=[job.pk]),
                           follow=True)
    assert any("still paid for" in m for m in messages_of(response))
