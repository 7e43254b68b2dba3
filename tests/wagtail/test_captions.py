"""Captions in Wagtail: the video's page shows the cues beside the player, editors correct them
(same validation as Django admin's), the blocks render the track."""

from __future__ import annotations

import pytest

pytest.importorskip("wagtail", reason="Wagtail is not installed (the [wagtail] extra)")

from django.urls import reverse  # noqa: E402

from django_kling.caption_tracks import CaptionTiming, CaptionTrack  # noqa: E402
from django_kling.contrib.wagtail.blocks import KlingVideoBlock  # noqa: E402
from tests.test_templatetags import make_clip  # noqa: E402

from .helpers import editor  # noqa: E402

LINE = "Meet the sea salt."
GOOD = "WEBVTT\n\n00:00:01.000 --> 00:00:02.500\n<v The presenter>Meet our sea salt.\n"


@pytest.fixture
def spoken(image, sandbox):
    return make_clip(image, field_name="file", prompt="A jar.", language="en",
                     spoken_line=LINE, duration=5)


def test_inspect_page_shows_the_cues_and_the_track(admin_client, spoken):
    page = admin_client.get(reverse("kling_videos:inspect", args=(spoken.pk,))).content.decode()
    assert '<track kind="captions" srclang="en"' in page
    assert LINE in page and reverse("kling_videos:captions", args=(spoken.pk,)) in page


def test_editor_corrects_captions_and_invalid_text_is_refused(admin_client, spoken):
    url = reverse("kling_videos:captions", args=(spoken.pk,))
    assert "textarea" in admin_client.get(url).content.decode()
    bad = admin_client.post(url, {"webvtt": GOOD.replace("00:00:02.500", "00:00:09.000")})
    assert bad.status_code == 400 and "after the clip" in bad.content.decode()
    assert CaptionTrack.objects.get(request=spoken).timing == CaptionTiming.TIMED
    assert admin_client.post(url, {"webvtt": GOOD}).status_code == 302
    track = CaptionTrack.objects.get(request=spoken)
    assert (track.timing, track.webvtt, track.transcript) == (
        CaptionTiming.EDITED, GOOD, "Meet our sea salt.")
    admin_client.post(url, {"regenerate": "1"})
    assert CaptionTrack.objects.get(request=spoken).transcript == LINE


def test_captions_page_needs_the_permission(client, spoken):
    client.force_login(editor(kling=("view",)))
    url = reverse("kling_videos:captions", args=(spoken.pk,))
    # Wagtail's admin answers a PermissionDenied with a redirect to the dashboard.
    assert client.get(url).status_code in (302, 403)
    assert client.post(url, {"webvtt": GOOD}).status_code in (302, 403)
    assert CaptionTrack.objects.get(request=spoken).timing == CaptionTiming.TIMED


def test_block_renders_the_track(spoken):
    html = KlingVideoBlock().render(KlingVideoBlock().to_python({"clip": spoken.pk}))
    assert '<track kind="captions" srclang="en" label="English"' in html
