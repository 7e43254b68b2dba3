"""Issue 25: posters editors choose, cut again from the original (admin page, JPEG, renditions)."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse
from PIL import Image

from django_kling.clip_renditions import PosterChoice, Rendition
from django_kling.editorial.posters import choose_poster
from django_kling.files import posters
from django_kling.files.frames import ENCODED_SUFFIX
from django_kling.flow import renditions
from django_kling.models import Asset
from tests.test_renditions import RENDITIONS, local, storage, stored_job  # noqa: F401

pytestmark = pytest.mark.django_db


def image_of(asset: Asset) -> Image.Image:
    with asset.file.open("rb") as fh:
        return Image.open(io.BytesIO(fh.read()))


def test_the_poster_is_cut_again_at_the_picked_time_in_webp_and_jpeg(
        sandbox, make_image, storage, settings, tmp_path, client,  # noqa: F811
        django_capture_on_commit_callbacks):
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "POSTER_JPEG": True}
    job = stored_job(sandbox, make_image, scale=0.5)
    [pk] = renditions.start(job.video)
    renditions.make(pk)
    # The request's admin page lists the rendition with its size.
    User.objects.create_superuser("boss", "boss@example.com", "pw")
    client.login(username="boss", password="pw")
    page = client.get(reverse("admin:django_kling_videorequest_change", args=[job.pk]))
    assert "480p: <a href=" in page.content.decode() and "854 × 480" in page.content.decode()
    old = {job.poster.file.name, Rendition.objects.get(pk=pk).poster.file.name}
    with django_capture_on_commit_callbacks(execute=True):
        poster = choose_poster(job, 3.0)
    job.refresh_from_db()
    assert job.poster == poster and poster.mime == "image/webp"
    picture = image_of(poster)
    assert picture.format == "WEBP" and picture.size == (job.video.width, job.video.height)
    choice = PosterChoice.objects.get(request=job)
    assert choice.time == 3.0 and image_of(choice.jpeg).format == "JPEG"
    row = Rendition.objects.select_related("poster", "poster_jpeg", "asset").get(pk=pk)
    assert image_of(row.poster).size == (row.asset.width, row.asset.height)
    assert image_of(row.poster_jpeg).format == "JPEG"
    # The frame really is the one at 3 s of the original, not the first one.
    original = posters.frame_at(local(job.video, tmp_path), 3.0).resize((32, 18))
    first = posters.frame_at(local(job.video, tmp_path), 0.0).resize((32, 18))
    assert original.tobytes() != first.tobytes()
    # The replaced posters are gone from storage (on commit), and so is nothing else.
    assert not [name for name in old if (storage / name).exists()]
    files = {str(p.relative_to(storage)) for p in storage.rglob("*") if p.is_file()
             and not p.name.endswith(ENCODED_SUFFIX)}  # a frame's base64 companion
    assert files == set(Asset.objects.values_list("file", flat=True)) - {""}


def test_the_admin_poster_page_needs_the_review_permission(sandbox, make_image, storage,  # noqa: F811
                                                           client):
    job = stored_job(sandbox, make_image, scale=0.25)
    url = reverse("admin:django_kling_videorequest_poster", args=[job.pk])
    editor = User.objects.create_user("ed", password="pw", is_staff=True)
    editor.user_permissions.add(Permission.objects.get(codename="view_videorequest"))
    client.force_login(editor)
    assert client.get(url).status_code == 403
    editor.user_permissions.add(Permission.objects.get(codename="review_videorequest"))
    editor = User.objects.get(pk=editor.pk)
    client.force_login(editor)
    page = client.get(url).content.decode()
    assert page.count('name="time"') == 9  # eight frames and the time field
    response = client.post(url, {"time": "1.5"})
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.poster_choice.time == 1.5 and job.poster.mime == "image/webp"
