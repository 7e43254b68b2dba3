"""Reviewing and featuring from Wagtail's admin (the workflow's own functions), the approved-only
chooser, and the block that follows the featured clip of an image."""

from __future__ import annotations

import pytest

pytest.importorskip("wagtail", reason="Wagtail is not installed (the [wagtail] extra)")

from django.urls import reverse  # noqa: E402

from django_kling.contrib.wagtail.blocks import FeaturedClipBlock  # noqa: E402
from django_kling.models import ReviewStatus  # noqa: E402
from tests.test_templatetags import make_clip  # noqa: E402

from .helpers import editor  # noqa: E402


@pytest.fixture
def pending(image, sandbox):
    return make_clip(image, field_name="file", prompt="Pending.", approved=False)


def act(client, job, action, **kwargs):
    return client.post(reverse("kling_videos:action", args=(job.pk, action)), **kwargs)


def test_approve_then_feature_from_the_inspect_page(admin_client, pending):
    page = admin_client.get(reverse("kling_videos:inspect", args=(pending.pk,))).content.decode()
    assert "<video" in page  # the reviewer sees the clip the site does not show yet
    assert 'data-kling-action="approve"' in page and 'data-kling-action="feature"' not in page
    act(admin_client, pending, "approve")
    pending.refresh_from_db()
    assert pending.review_status == ReviewStatus.APPROVED and pending.reviewed_by is not None
    page = admin_client.get(reverse("kling_videos:inspect", args=(pending.pk,))).content.decode()
    assert 'data-kling-action="feature"' in page
    act(admin_client, pending, "feature")
    pending.refresh_from_db()
    assert pending.featured


def test_featuring_a_clip_that_is_not_approved_says_why(admin_client, pending):
    page = act(admin_client, pending, "feature", follow=True).content.decode()
    assert "Not possible now" in page
    pending.refresh_from_db()
    assert not pending.featured


def test_reject(admin_client, pending):
    act(admin_client, pending, "reject")
    pending.refresh_from_db()
    assert pending.review_status == ReviewStatus.REJECTED


def test_review_filter(admin_client, pending, image):
    approved = make_clip(image, field_name="file", prompt="Approved.")
    index = reverse("kling_videos:index")
    page = admin_client.get(index, {"review_status": "approved"}).content.decode()
    assert reverse("kling_videos:inspect", args=(approved.pk,)) in page
    assert reverse("kling_videos:inspect", args=(pending.pk,)) not in page


def test_reviewing_needs_the_review_permission(client, pending):
    client.force_login(editor("maker", kling=("add", "change", "view")))
    page = client.get(reverse("kling_videos:inspect", args=(pending.pk,))).content.decode()
    assert 'data-kling-action="approve"' not in page
    act(client, pending, "approve")
    pending.refresh_from_db()
    assert pending.review_status == ReviewStatus.PENDING
    client.force_login(editor("reviewer", kling=("view", "review")))
    act(client, pending, "approve")
    pending.refresh_from_db()
    assert pending.review_status == ReviewStatus.APPROVED


def test_the_chooser_offers_approved_clips_only(admin_client, pending, image, settings):
    approved = make_clip(image, field_name="file", prompt="Approved.")
    html = admin_client.get(reverse("kling_clip_chooser:choose")).json()["html"]
    assert reverse("kling_clip_chooser:chosen", args=(approved.pk,)) in html
    assert reverse("kling_clip_chooser:chosen", args=(pending.pk,)) not in html
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "REQUIRE_APPROVAL": False}
    html = admin_client.get(reverse("kling_clip_chooser:choose")).json()["html"]
    assert reverse("kling_clip_chooser:chosen", args=(pending.pk,)) in html


def test_the_featured_block_follows_the_editors_choice(admin_client, image, sandbox):
    first = make_clip(image, field_name="file", prompt="First.")
    second = make_clip(image, field_name="file", prompt="Second.")
    block = FeaturedClipBlock()
    value = block.to_python({"image": image.pk, "playback": "loop", "caption": ""})
    act(admin_client, first, "feature")
    assert first.video.file.name in block.render(value)
    act(admin_client, second, "feature")  # no page is edited: the block shows the new choice
    html = block.render(value)
    assert second.video.file.name in html and first.video.file.name not in html
    assert " autoplay" in html and " loop" in html
    act(admin_client, second, "reject")  # a rejected clip is never shown
    assert second.video.file.name not in block.render(value)
