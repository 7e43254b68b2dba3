"""Batches: "all N matching" in the admin, the background creation, resuming, the budget.

Real database, real admin views and image checks, the real batch actor on a real worker (the
stub broker, or Redis when REDIS_URL is set).
"""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.urls import reverse

from django_kling import jobs
from django_kling.editorial import batches
from django_kling.exceptions import BudgetExceeded
from django_kling.models import Asset, Status, VideoBatch, VideoRequest
from tests.shop.models import Product

from .conftest import wait_for_end, wait_until
from .test_admin import (  # noqa: F401  (fixtures)
    CHANGELIST,
    login,
    make_product_fixture,
    producer_fixture,
)
from .test_commands import no_embedded_worker_left  # noqa: F401  (a fixture)


def select_all(products, **extra) -> dict:
    """The changelist's action form with "select all N matching" chosen."""
    return {"action": "generate_video", "select_across": "1", "index": "0",
            "_selected_action": [str(products[0].pk)], **extra}


def confirm_batch(products, *, prompt: str = "", sound: bool = True) -> dict:
    data = {**select_all(products), "kling_batch_confirm": "1", "batch-prompt": prompt,
            "options-duration": "5", "options-aspect_ratio": "16:9", "options-mode": "pro",
            "options-negative_prompt": ""}
    del data["index"]  # a confirmation posts back without the action form's index
    if sound:
        data["options-sound"] = "on"
    return data


def test_select_across_makes_exactly_one_job_per_matching_object(
        producer, make_product, worker, sandbox, settings):
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "BATCH_CHUNK": 2}
    products = [make_product(f"Jar {i}") for i in range(5)]
    client = login(producer)
    url = reverse(CHANGELIST)  # one object ticked, "all 5 matching" chosen

    page = client.post(url, select_all(products))
    assert page.templates[0].name == "django_kling/admin/generate_batch.html"
    text = page.content.decode()
    assert "Start a batch of 5 videos" in text and "3.50 USD" in text  # 5 × 5 s × 0.14

    started = time.monotonic()
    response = client.post(url, confirm_batch(products, prompt="The jar turns."))
    assert time.monotonic() - started < 1.0  # the jobs are made in the background
    batch = VideoBatch.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:django_kling_videobatch_change",
                                           args=[batch.pk])
    wait_until(lambda: VideoBatch.objects.get().status == VideoBatch.Status.CREATED,
             timeout=60, what="the batch's jobs")
    made = VideoRequest.objects.filter(batch=batch)
    assert made.count() == 5
    assert sorted(made.values_list("object_id", flat=True)) == sorted(
        str(p.pk) for p in products)
    assert set(made.values_list("prompt", flat=True)) == {"The jar turns."}
    for job in made:
        wait_for_end(job)
    assert sandbox.bill_count == 5

    panel = client.get(reverse("admin:django_kling_videobatch_progress", args=[batch.pk]))
    assert 'data-kling-done="1"' in panel.content.decode()
    assert panel.content.decode().count("<img") == 5  # the clips, as their posters


def test_a_batch_resumed_after_a_crash_makes_no_job_twice(
        db, make_product, settings, monkeypatch, django_capture_on_commit_callbacks):
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "BATCH_CHUNK": 4}
    products = [make_product(f"Jar {i}") for i in range(6)]
    with django_capture_on_commit_callbacks(execute=False):
        batch = batches.start_batch(Product, [p.pk for p in products], field_name="image",
                                    options={"prompt": "Turns."})
    real = jobs.create_video_request
    made = []

    def dies_after_two(*args, **kwargs):
        if len(made) == 2:
            raise KeyboardInterrupt  # the worker stops mid-chunk (nothing below runs)
        made.append(real(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(batches, "create_video_request", dies_after_two)
    with django_capture_on_commit_callbacks(execute=False), pytest.raises(KeyboardInterrupt):
        batches.create_chunk(batch.pk)
    assert batch.jobs.count() == 2
    assert not batches.create_chunk(batch.pk) and batch.jobs.count() == 2  # still leased

    monkeypatch.setattr(batches, "create_video_request", real)
    VideoBatch.objects.filter(pk=batch.pk).update(lease_until=None)  # the lease ran out
    with django_capture_on_commit_callbacks(execute=False):
        assert batches.create_chunk(batch.pk)  # the rest of the first chunk; one more
        assert not batches.create_chunk(batch.pk)
    assert sorted(batch.jobs.values_list("batch_index", flat=True)) == list(range(6))
    batch.refresh_from_db()
    assert batch.status == VideoBatch.Status.CREATED and batch.pending_cost == 0


def test_a_batch_over_the_budget_is_refused_before_anything_is_created(
        producer, make_product, settings):
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "BUDGET": {"per_day": "2.00"}}
    products = [make_product(f"Jar {i}") for i in range(3)]  # 3 × 0.70 = 2.10
    assets = Asset.objects.count()
    with pytest.raises(BudgetExceeded):
        batches.start_batch(Product, [p.pk for p in products], field_name="image", options={})

    client = login(producer)
    page = client.post(reverse(CHANGELIST), select_all(products))
    assert "The budget of 2.00 USD for today is reached" in page.content.decode()
    refused = client.post(reverse(CHANGELIST), confirm_batch(products))
    assert refused.status_code == 200
    assert "The budget of 2.00 USD for today is reached" in refused.content.decode()
    assert (VideoBatch.objects.count(), VideoRequest.objects.count(), Asset.objects.count()) \
        == (0, 0, assets)


def test_a_started_batch_reserves_its_cost_against_the_budget(db, make_product, settings,
                                                              django_capture_on_commit_callbacks):
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "BUDGET": {"per_day": "2.50"}}
    products = [make_product(f"Jar {i}") for i in range(3)]
    with django_capture_on_commit_callbacks(execute=False):
        batches.start_batch(Product, [p.pk for p in products], field_name="image", options={})
    assert jobs.spent_since(VideoBatch.objects.get().created_at) == Decimal("2.100")
    with pytest.raises(BudgetExceeded):  # the batch's jobs do not exist yet, but count
        jobs.create_video_request(source=products[0], field_name="image")


def test_retry_failed_and_cancel_the_rest(producer, make_product, settings,
                                          django_capture_on_commit_callbacks):
    products = [make_product(f"Jar {i}") for i in range(4)]
    with django_capture_on_commit_callbacks(execute=False):
        batch = batches.start_batch(Product, [p.pk for p in products], field_name="image",
                                    options={})
        batches.create_chunk(batch.pk)
    first, second, *_rest = batch.jobs.order_by("batch_index")
    VideoRequest.objects.transition(first, Status.FAILED, error_code="generation_failed",
                                    error_message="Policy")
    client = login(producer)
    page = client.get(reverse("admin:django_kling_videobatch_change", args=[batch.pk]))
    assert "Policy" in page.content.decode()
    with django_capture_on_commit_callbacks(execute=False):
        client.post(reverse("admin:django_kling_videobatch_retry", args=[batch.pk]))
        client.post(reverse("admin:django_kling_videobatch_retry", args=[batch.pk]))
    retried = batch.jobs.filter(batch_index__isnull=True)
    assert [job.object_id for job in retried] == [first.object_id]  # once, not per click
    client.post(reverse("admin:django_kling_videobatch_cancel", args=[batch.pk]))
    assert set(batch.jobs.exclude(pk=first.pk).values_list("status", flat=True)) == {
        Status.CANCELED}
    batch.refresh_from_db()
    assert batch.status == VideoBatch.Status.CANCELED


@pytest.mark.usefixtures("no_embedded_worker_left")
def test_kling_generate_all_with_a_filter(db, make_product, worker, sandbox, capsys):
    for i in range(3):
        make_product(f"Jar {i}")
    make_product("Bottle")
    call_command("kling_generate", "shop.Product", "--all", "--filter", "name__startswith=Jar",
                 "--prompt", "Turns.", "--no-sound")
    out = capsys.readouterr().out
    assert "3/3 jobs created" in out and "[" + "#" * 30 + "]" in out
    batch = VideoBatch.objects.get()
    assert batch.jobs.count() == 3
    assert set(batch.jobs.values_list("generate_audio", flat=True)) == {False}


def test_kling_generate_all_refuses_a_bad_filter(db, make_product):
    make_product("Jar")
    with pytest.raises(Exception, match="field=value"):
        call_command("kling_generate", "shop.Product", "--all", "--filter", "name")
    assert VideoBatch.objects.count() == 0


@pytest.mark.usefixtures("no_embedded_worker_left")
def test_kling_generate_all_with_a_preset_fills_its_template_per_object(
        db, make_product, worker, sandbox, capsys):
    from django_kling.video_presets import VideoPreset

    preset = VideoPreset.objects.create(
        name="Intro", slug="intro", prompt_template="{name} on a table.", formats="1:1, 16:9",
        spoken_line_en="This is {name}.", speaker="A woman", duration=5)
    for name in ("Jar A", "Jar B"):
        make_product(name)
    with pytest.raises(Exception, match="one clip per object"):
        call_command("kling_generate", "shop.Product", "--all", "--preset", "intro",
                     "--variants", "2")
    assert VideoBatch.objects.count() == 0

    call_command("kling_generate", "shop.Product", "--all", "--preset", "intro",
                 "--language", "en")
    assert "2/2 jobs created" in capsys.readouterr().out, list(
        VideoBatch.objects.get().items.values_list("error_code", "error_message"))
    made = VideoBatch.objects.get().jobs.order_by("batch_index")
    assert [job.prompt for job in made] == [
        'Jar A on a table. A woman says in English: "This is Jar A."',
        'Jar B on a table. A woman says in English: "This is Jar B."']
    assert {(job.aspect_ratio, job.language, job.preset_id) for job in made} == {
        ("1:1", "en", preset.pk)}  # the preset's first format: one clip per object


def test_the_batch_page_refuses_variants_and_several_languages(producer, make_product):
    products = [make_product(f"Jar {i}") for i in range(3)]
    client = login(producer)
    page = client.post(reverse(CHANGELIST), {**confirm_batch(products), "options-variants": "2",
                                             "options-languages": ["en", "zh"]})
    assert page.status_code == 200
    text = page.content.decode()
    assert "make variants from an object" in text and "choose one language" in text
    assert VideoBatch.objects.count() == 0 and VideoRequest.objects.count() == 0


# -- issue 23 ------------------------------------------------------------------------------


def test_a_batchs_reservation_counts_today_whatever_day_it_started(
        db, make_product, settings, django_capture_on_commit_callbacks):
    """Item 10: a batch started yesterday at 23:59 still holds its unspent reservation today
    and this month, so its jobs and new requests together cannot overrun today's limit."""
    from datetime import timedelta

    from django.utils import timezone

    settings.DJANGO_KLING = {**settings.DJANGO_KLING,
                             "BUDGET": {"per_day": "2.50", "per_month": "2.50"}}
    products = [make_product(f"Jar {i}") for i in range(3)]  # 3 × 0.70 = 2.10 reserved
    with django_capture_on_commit_callbacks(execute=False):
        batch = batches.start_batch(Product, [p.pk for p in products], field_name="image",
                                    options={})
    started = timezone.localtime().replace(hour=23, minute=59) - timedelta(days=40)
    VideoBatch.objects.filter(pk=batch.pk).update(created_at=started)
    today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    assert jobs.spent_since(today) == Decimal("2.100")
    with pytest.raises(BudgetExceeded, match="today"):
        jobs.create_video_request(source=products[0], field_name="image")
