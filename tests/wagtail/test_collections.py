"""Collections in the Videos screens (issue 23, items 14 and 15): retrying needs the
permission to edit the image, and the listing, inspect page and actions show only requests
for images the editor may see."""

from __future__ import annotations

import pytest

pytest.importorskip("wagtail", reason="Wagtail is not installed (the [wagtail] extra)")

from django.contrib.auth.models import Permission  # noqa: E402
from django.urls import reverse  # noqa: E402

from django_kling.flow.pipeline import fail  # noqa: E402
from django_kling.jobs import create_video_request  # noqa: E402
from django_kling.models import VideoRequest  # noqa: E402

from .helpers import editor, make_wagtail_image  # noqa: E402


def failed_job(image) -> VideoRequest:
    job = create_video_request(source=image, field_name="file", prompt="Turns.")
    fail(job, "deadline", "too slow")
    return VideoRequest.objects.get(pk=job.pk)


# -- 14: retry needs the permission to edit the image ---------------------------------------------


def test_retry_needs_the_permission_to_edit_the_image(client, image,
                                                      django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        job = failed_job(image)
    chooser = editor("chooser", images=("choose",))  # sees the image, may not edit it
    client.force_login(chooser)
    page = client.get(reverse("kling_videos:inspect", args=(job.pk,))).content.decode()
    assert 'data-kling-action="retry"' not in page
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(reverse("kling_videos:action", args=(job.pk, "retry")))
    assert VideoRequest.objects.count() == 1, "retried without the permission to edit the image"
    assert response["Location"] == reverse("wagtailadmin_home")  # Wagtail's PermissionDenied

    client.force_login(editor("changer"))
    with django_capture_on_commit_callbacks(execute=False):
        client.post(reverse("kling_videos:action", args=(job.pk, "retry")))
    assert VideoRequest.objects.count() == 2


# -- 15: the Videos screens respect collections --------------------------------------------------


def test_the_videos_screens_show_only_requests_for_images_the_editor_may_see(
        db, client, make_image, django_capture_on_commit_callbacks):
    from wagtail.models import Collection, GroupCollectionPermission

    root = Collection.get_first_root_node()
    shop = root.add_child(name="Shop")
    secret = root.add_child(name="Unreleased")
    ours = make_wagtail_image(make_image, "Sea salt")
    ours.collection = shop
    ours.save()
    theirs = make_wagtail_image(make_image, "Prototype")
    theirs.collection = secret
    theirs.save()
    with django_capture_on_commit_callbacks(execute=False):
        mine = create_video_request(source=ours, field_name="file", prompt="Ours.")
        hidden = create_video_request(source=theirs, field_name="file", prompt="Secret.")
    user = editor("shop_editor", images=())
    group = user.groups.get()
    for action in ("add", "change"):
        GroupCollectionPermission.objects.create(
            group=group, collection=shop, permission=Permission.objects.get(
                content_type__app_label="wagtailimages", codename=f"{action}_image"))
    client.force_login(user)

    listing = client.get(reverse("kling_videos:index")).content.decode()
    assert reverse("kling_videos:inspect", args=(mine.pk,)) in listing
    assert reverse("kling_videos:inspect", args=(hidden.pk,)) not in listing, \
        "the listing shows a request for an image of another collection"
    assert "Prototype" not in listing and "Secret." not in listing
    assert client.get(reverse("kling_videos:inspect", args=(mine.pk,))).status_code == 200
    for view in ("inspect", "history", "usage"):
        assert client.get(reverse(f"kling_videos:{view}", args=(hidden.pk,))).status_code == 404
    assert client.post(reverse("kling_videos:action",
                               args=(hidden.pk, "cancel"))).status_code == 404
    hidden.refresh_from_db()
    assert hidden.status == "queued"
