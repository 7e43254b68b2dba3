"""Captions in a real browser: the product page plays a clip that speaks, its ``<track>`` loads
and shows the spoken line while the sandbox's voice speaks; an editor corrects a caption in
the admin and the page shows the corrected words. Writes the screenshots of the accessibility
page.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.urls import reverse

from django_kling.editorial import review
from django_kling.jobs import create_video_request
from django_kling.models import Status
from django_kling.testing.sandbox import voice
from tests.conftest import wait_for_end
from tests.shop.models import Product

from .conftest import OUTPUT
from .test_admin_flow import log_in

pytestmark = pytest.mark.django_db(transaction=True)

LINE = "Meet the sea salt jar."


@pytest.fixture
def spoken_clip(transactional_db, worker, sandbox, make_image) -> Product:
    # Rows (and the clip) made before the browser starts (see the browser fixture).
    boss = User.objects.create_superuser("boss", "boss@example.com", "pw")
    product = Product(name="Sea salt", description="A jar of sea salt.")
    product.image.save("salt.png", ContentFile(make_image(960, 540)), save=True)
    job = wait_for_end(create_video_request(source=product, field_name="image",
                                            prompt="A jar on a table.", language="en",
                                            spoken_line=LINE, duration=5))
    assert job.status == Status.SUCCEEDED, job.error_message
    review.approve(job, by=boss)
    product.job = job
    return product


ACTIVE_CUE = """() => {
    const track = document.querySelector('video').textTracks[0];
    const cue = track && track.activeCues && track.activeCues[0];
    return cue ? cue.getCueAsHTML().textContent : null;
}"""


def play_until_cue(page) -> str:
    """Play the page's clip from the start of the speech and return the active cue's text."""
    page.wait_for_function("document.querySelector('video').readyState >= 1")
    page.wait_for_function("(() => { const t = document.querySelector('video').textTracks[0];"
                           " return t && t.cues && t.cues.length > 0; })()")
    page.evaluate("""(start) => { const v = document.querySelector('video');
        v.muted = true; v.currentTime = start; v.play(); }""", voice.SPEECH_START + 0.2)
    page.wait_for_function(f"({ACTIVE_CUE})() !== null")
    return page.evaluate(f"({ACTIVE_CUE})()")


def test_page_plays_captions_and_shows_the_editors_correction(
        django_db_setup, live_server, spoken_clip, browser):
    base = live_server.url
    page = browser.new_page()
    page.goto(f"{base}/products/{spoken_clip.pk}/")
    track = page.locator("video track")
    assert track.get_attribute("kind") == "captions" and track.get_attribute("srclang") == "en"
    assert page.locator("video").get_attribute("crossorigin") is None  # same origin
    assert page.evaluate("document.querySelector('video').textTracks[0].mode") == "showing"
    assert play_until_cue(page) == LINE
    assert page.evaluate("document.querySelector('video').textTracks[0].cues.length") > 0
    page.screenshot(path=str(OUTPUT / "captions-on-the-page.png"))

    # The editor corrects the words in the admin, from the request's page.
    log_in(page, base)
    page.goto(base + reverse("admin:django_kling_videorequest_change",
                             args=[spoken_clip.job.pk]))
    page.wait_for_selector(".kling-captions")
    assert LINE in page.text_content(".kling-captions")  # beside the player
    page.screenshot(path=str(OUTPUT / "captions-review.png"), full_page=True)
    page.click("a.kling-edit-captions")
    text = page.input_value("textarea[name=webvtt]")
    page.fill("textarea[name=webvtt]", text.replace("\n" + text.split("\n")[3], "\n99:99"))
    page.click("input[name=_save]")
    page.wait_for_selector(".errorlist")  # invalid WebVTT: a form error, nothing stored
    page.screenshot(path=str(OUTPUT / "captions-invalid.png"), full_page=True)
    page.fill("textarea[name=webvtt]", text.replace("Meet the sea salt jar.",
                                                    "Meet our sea salt jar."))
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist .success")

    page.goto(f"{base}/products/{spoken_clip.pk}/")
    assert play_until_cue(page) == "Meet our sea salt jar."
