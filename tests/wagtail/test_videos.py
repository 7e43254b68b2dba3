"""The "Videos" menu item: listing, filters, inspect page with the player, retry and cancel."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("wagtail", reason="Wagtail is not installed (the [wagtail] extra)")

from django.core.management import call_command  # noqa: E402
from django.urls import reverse  # noqa: E402

from django_kling.jobs import create_video_request  # noqa: E402
from django_kling.models import Status, VideoRequest  # noqa: E402
from tests.test_templatetags import make_clip  # noqa: E402

from .helpers import editor  # noqa: E402


@pytest.fixture
def clip_job(image, sandbox) -> VideoRequest:
    return make_clip(image, field_name="file", prompt="The jar turns.")


@pytest.fixture
def queued_job(image, django_capture_on_commit_callbacks) -> VideoRequest:
    with django_capture_on_commit_callbacks(execute=False):
        return create_video_request(source=image, field_name="file", prompt="Waiting.")


def test_the_menu_has_videos(admin_client):
    page = admin_client.get(reverse("wagtailadmin_home")).content.decode()
    assert reverse("kling_videos:index") in page


def test_listing_and_status_filter(admin_client, clip_job, queued_job):
    index = reverse("kling_videos:index")
    page = admin_client.get(index).content.decode()
    assert page.count(reverse("kling_videos:inspect", args=(clip_job.pk,))) >= 1
    assert reverse("kling_videos:inspect", args=(queued_job.pk,)) in page
    assert "Sea salt" in page and clip_job.poster.file.name in page
    succeeded = admin_client.get(index, {"status": "succeeded"}).content.decode()
    assert reverse("kling_videos:inspect", args=(clip_job.pk,)) in succeeded
    assert reverse("kling_videos:inspect", args=(queued_job.pk,)) not in succeeded


def test_no_add_or_edit_form(admin_client):
    page = admin_client.get(reverse("kling_videos:index")).content.decode()
    assert "/kling/videos/new/" not in page
    assert admin_client.get("/cms/kling/videos/new/").status_code == 404


def test_inspect_shows_the_player_and_retry(admin_client, clip_job):
    page = admin_client.get(reverse("kling_videos:inspect", args=(clip_job.pk,))).content.decode()
    assert "<video" in page and clip_job.video.file.name in page
    assert 'data-kling-action="retry"' in page and 'data-kling-action="cancel"' not in page


def test_retry_makes_a_new_request_with_the_same_inputs(admin_client, clip_job,
                                                        django_capture_on_commit_callbacks):
    url = reverse("kling_videos:action", args=(clip_job.pk, "retry"))
    with django_capture_on_commit_callbacks(execute=False):
        response = admin_client.post(url)
    retried = VideoRequest.objects.exclude(pk=clip_job.pk).get()
    assert response["Location"] == reverse("kling_videos:inspect", args=(retried.pk,))
    assert retried.first_frame_id == clip_job.first_frame_id
    assert retried.object_id == clip_job.object_id and retried.status == Status.QUEUED


def test_cancel(admin_client, queued_job):
    page = admin_client.get(reverse("kling_videos:inspect", args=(queued_job.pk,))).content.decode()
    assert 'data-kling-action="cancel"' in page
    admin_client.post(reverse("kling_videos:action", args=(queued_job.pk, "cancel")))
    queued_job.refresh_from_db()
    assert queued_job.status == Status.CANCELED
    # Once ended it cannot be canceled again: a message, nothing changes.
    response = admin_client.post(reverse("kling_videos:action", args=(queued_job.pk, "cancel")),
                                 follow=True)
    assert "Not possible now" in response.content.decode()


def test_unknown_action_and_get_are_refused(admin_client, queued_job):
    assert admin_client.post(reverse("kling_videos:action",
                                     args=(queued_job.pk, "explode"))).status_code == 404
    assert admin_client.get(reverse("kling_videos:action",
                                    args=(queued_job.pk, "cancel"))).status_code == 405


def test_permissions(client, queued_job, clip_job):
    viewer = editor("viewer", kling=("view",))
    client.force_login(viewer)
    assert client.get(reverse("kling_videos:index")).status_code == 200
    page = client.get(reverse("kling_videos:inspect", args=(queued_job.pk,))).content.decode()
    assert "data-kling-action" not in page
    # Wagtail turns PermissionDenied into a redirect to the dashboard with a message.
    for job, action in ((queued_job, "cancel"), (clip_job, "retry")):
        response = client.post(reverse("kling_videos:action", args=(job.pk, action)))
        assert response.status_code == 302 and response["Location"] == reverse(
            "wagtailadmin_home")
    queued_job.refresh_from_db()
    assert queued_job.status == Status.QUEUED and VideoRequest.objects.count() == 2
    client.force_login(editor("nobody", kling=()))
    assert client.get(reverse("kling_videos:index")).status_code in (302, 403)


def test_manage_py_check_is_clean(capsys):
    call_command("check")
    assert "no issues" in capsys.readouterr().out


def test_rows_and_badges_read_as_their_state(admin_client, clip_job, queued_job):
    # A queued job awaits its clip, not a review; each state has its own colour (issue 21).
    page = admin_client.get(reverse("kling_videos:index")).content.decode()
    rows = {job: next(row for row in page.split("<tr")
                      if reverse("kling_videos:inspect", args=(job.pk,)) in row)
            for job in (clip_job, queued_job)}
    assert "Approved" in rows[clip_job] and "Awaiting review" not in rows[queued_job]
    assert "kling-status--queued" in rows[queued_job]
    assert "kling-status--succeeded" in rows[clip_job]
    assert "kling-review--approved" in rows[clip_job]


def test_inspect_page_has_a_human_title_and_no_raw_values(admin_client, queued_job):
    page = admin_client.get(reverse("kling_videos:inspect", args=(queued_job.pk,)))
    html = page.content.decode()
    title = html[html.index("<title>"):html.index("</title>")]
    assert str(queued_job.pk) not in title and "Sea salt" in title
    values = [value.strip() for value in re.findall(r"<dd[^>]*>(.*?)</dd>", html, re.S)]
    assert values and not {"False", "True", "None", ""} & set(values), values
    assert "No" in values  # generate_audio / featured as words
    assert "Pro (1080p, sound)" in values  # the mode as the clip has it


def test_the_inspect_page_has_the_frame_strip_and_picks_a_poster(admin_client, clip_job):
    page = admin_client.get(reverse("kling_videos:inspect", args=(clip_job.pk,))).content.decode()
    assert page.count('name="time"') == 8 and "data:image/jpeg;base64," in page
    old = clip_job.poster.file.name
    response = admin_client.post(reverse("kling_videos:poster", args=(clip_job.pk,)),
                                 {"time": "2.5"})
    assert response["Location"] == reverse("kling_videos:inspect", args=(clip_job.pk,))
    clip_job.refresh_from_db()
    assert clip_job.poster.mime == "image/webp" and clip_job.poster.file.name != old
    assert clip_job.poster_choice.time == 2.5
    assert (clip_job.poster.width, clip_job.poster.height) == (clip_job.video.width,
                                                               clip_job.video.height)
