"""Reviewing in the admin: the default filter, bulk actions, buttons, the compare page, the
inline on the object's page, presets and variants on the "Generate video" page."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from django_kling.models import ReviewStatus, VideoRequest
from django_kling.video_presets import VideoPreset

from .test_admin import (  # noqa: F401  (fixtures, by their pytest names)
    KLING_ALL,
    KLING_VIEW,
    PRODUCT_PERMS,
    confirm_data,
    login,
    make_product_fixture,
    make_staff,
    messages_of,
)
from .test_admin_requests import queued_job, succeeded_job

CHANGELIST = "admin:django_kling_videorequest_changelist"
REVIEW = "django_kling.review_videorequest"


@pytest.fixture(name="reviewer")
def reviewer_fixture(db):
    return make_staff("reviewer", *PRODUCT_PERMS, *KLING_VIEW, REVIEW)


def listed(response) -> set:
    return {job.pk for job in response.context["cl"].result_list}


def review_url(job: VideoRequest, next_url: str = "") -> str:
    url = reverse("admin:django_kling_videorequest_review", args=[job.pk])
    return f"{url}?next={next_url}" if next_url else url


def test_reviewers_land_on_clips_awaiting_review(reviewer, make_product, db):
    product = make_product()
    pending, approved = succeeded_job(product), succeeded_job(product)
    VideoRequest.objects.filter(pk=approved.pk).update(review_status=ReviewStatus.APPROVED)
    running = queued_job(product)
    client = login(reviewer)
    # The default view: clips to review and jobs still being made, so that a freshly queued
    # job does not look lost (issue 21); failed and reviewed ones are a click away.
    failed = queued_job(product)
    VideoRequest.objects.filter(pk=failed.pk).update(status="failed")
    landing = client.get(reverse(CHANGELIST))
    assert listed(landing) == {pending.pk, running.pk}
    assert "Awaiting review or in progress" in landing.content.decode()
    assert listed(client.get(reverse(CHANGELIST), {"review": "pending"})) == {pending.pk}
    assert listed(client.get(reverse(CHANGELIST), {"review": "all"})) == {
        pending.pk, approved.pk, running.pk, failed.pk}
    assert listed(client.get(reverse(CHANGELIST), {"review": "approved"})) == {approved.pk}
    # Editors who may not review see every request, as before.
    viewer = make_staff("viewer", *KLING_VIEW)
    assert listed(login(viewer).get(reverse(CHANGELIST))) == {pending.pk, approved.pk,
                                                              running.pk, failed.pk}


def test_bulk_approve_and_reject_need_the_permission(reviewer, make_product):
    product = make_product()
    first, second, running = succeeded_job(product), succeeded_job(product), queued_job(product)
    viewer = make_staff("viewer", *KLING_ALL)
    assert "approve_clips" not in [
        name for name, _ in login(viewer).get(reverse(CHANGELIST)).context[
            "action_form"].fields["action"].choices]
    client = login(reviewer)
    response = client.post(reverse(CHANGELIST) + "?review=all", {
        "action": "approve_clips", "_selected_action": [first.pk, second.pk, running.pk]},
        follow=True)
    assert "2 clips were reviewed." in messages_of(response)
    assert any("1 request was skipped" in m for m in messages_of(response))
    assert set(VideoRequest.objects.filter(review_status="approved").values_list(
        "pk", flat=True)) == {first.pk, second.pk}
    assert VideoRequest.objects.get(pk=first.pk).reviewed_by == reviewer
    client.post(reverse(CHANGELIST) + "?review=all",
                {"action": "reject_clips", "_selected_action": [second.pk]})
    assert VideoRequest.objects.get(pk=second.pk).review_status == "rejected"


def test_the_request_page_approves_and_features_with_a_note(reviewer, make_product):
    job = succeeded_job(make_product())
    client = login(reviewer)
    page = client.get(reverse("admin:django_kling_videorequest_change", args=[job.pk]))
    assert b"kling-approve-button" in page.content and b"Awaiting review" in page.content
    response = client.post(review_url(job), {"decision": "approve_feature",
                                              "review_note": "Sharp."}, follow=True)
    job.refresh_from_db()
    assert (job.review_status, job.featured, job.review_note) == ("approved", True, "Sharp.")
    assert "The clip is now approved and featured." in messages_of(response)
    # An outside "next" is never followed.
    response = client.post(review_url(job, "https://evil.example/"), {"decision": "reject"})
    assert response["Location"] == reverse("admin:django_kling_videorequest_change",
                                           args=[job.pk])


def test_reviewing_is_refused_without_the_permission(make_product):
    job = succeeded_job(make_product())
    client = login(make_staff("viewer", *KLING_ALL))
    assert client.post(review_url(job), {"decision": "approve"}).status_code == 403
    assert VideoRequest.objects.get(pk=job.pk).review_status == "pending"
    page = client.get(reverse("admin:django_kling_videorequest_change", args=[job.pk]))
    assert b"kling-approve-button" not in page.content


def test_compare_page_shows_the_variants_side_by_side(reviewer, make_product):
    product = make_product()
    jobs = [succeeded_job(product), succeeded_job(product)]
    group = jobs[0].pk
    for seed, job in enumerate(jobs, start=7):
        VideoRequest.objects.filter(pk=job.pk).update(variant_group=group, seed=seed)
    client = login(reviewer)
    url = reverse("admin:django_kling_videorequest_compare", args=[group])
    page = client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert html.count("<video") == 2 and "Take 1" in html and "Take 2" in html
    assert '<ol class="breadcrumbs">' in html and '<li aria-current="page">' in html
    assert html.count('value="approve_feature"') == 2
    target = jobs[1]
    response = client.post(review_url(target, url), {"decision": "approve_feature"})
    assert response["Location"] == url
    assert list(VideoRequest.objects.filter(featured=True).values_list("pk", flat=True)) == [
        target.pk]
    assert client.get(reverse("admin:django_kling_videorequest_compare",
                              args=[uuid.uuid4()])).status_code == 404


def test_the_objects_page_shows_review_state_badge_and_buttons(reviewer, make_product):
    product = make_product()
    job = succeeded_job(product)
    client = login(reviewer)
    url = reverse("admin:shop_product_change", args=[product.pk])
    html = client.get(url).content.decode()
    assert "Awaiting review" in html
    # Inside the product's form: submit buttons that post it to the review URL.
    action = reverse("admin:django_kling_videorequest_review", args=[job.pk])
    assert html.count(f'formaction="{action}?next=') == 3  # approve, approve+feature, reject
    client.post(review_url(job, url), {"decision": "approve_feature"})
    html = client.get(url).content.decode()
    assert "kling-review--featured" in html and "kling-approve-button" not in html


def test_generate_page_applies_a_preset_without_javascript_and_queues_variants_per_language(
        make_product):
    producer = make_staff("producer2", *PRODUCT_PERMS, *KLING_ALL)
    product = make_product("Sea salt", width=1280, height=720)
    preset = VideoPreset.objects.create(
        name="Intro", slug="intro", prompt_template="{name} on a rock.", duration=10,
        spoken_line_en="Meet {name}.", spoken_line_zh="这是{name}。", speaker="A guide")
    client = login(producer)
    data = confirm_data([product], prompts={product.pk: ""})
    data.update({"options-preset": str(preset.pk), "kling_apply_preset": "1"})
    page = client.post(reverse("admin:shop_product_changelist"), data)
    assert page.status_code == 200 and not VideoRequest.objects.exists()
    batch, formset = page.context["batch_form"], page.context["formset"]
    assert formset.forms[0]["prompt"].value() == "Sea salt on a rock."
    assert str(batch["duration"].value()) == "10" and batch["speaker"].value() == "A guide"
    assert batch["languages"].value() == ["en", "zh"]
    assert page.context["clips_per_row"] == 2
    assert 'value="Queue 2 videos"' in page.content.decode()  # clips, not objects

    data = confirm_data([product], duration=10, prompts={product.pk: "Sea salt on a rock."})
    data.update({"options-preset": str(preset.pk), "options-variants": "2",
                 "options-languages": ["en", "zh"], "options-speaker": "A guide",
                 "options-spoken_line_en": "Meet {name}.",  # placeholders, as presets
                 "options-spoken_line_zh": "这是Sea salt。"})
    response = client.post(reverse("admin:shop_product_changelist"), data, follow=True)
    assert any("4 videos were queued." in m for m in messages_of(response))
    jobs = list(VideoRequest.objects.all())
    assert sorted(j.language for j in jobs) == ["en", "en", "zh", "zh"]
    assert len({j.variant_group for j in jobs}) == 2 and {j.seed for j in jobs} == {None}
    assert {j.preset_id for j in jobs} == {preset.pk}
    assert any(j.prompt.endswith('A guide says in Chinese: "这是Sea salt。"') for j in jobs)
    assert any(j.prompt.endswith('A guide says in English: "Meet Sea salt."') for j in jobs)
