"""Issue 25 in a real browser: a phone plays the 480p rendition, a desktop the original, and the
poster an editor picks in the admin is the one the product page shows.

The clip is 960x540 (the sandbox at half scale), so it gets the 480p rendition and no 720p one
(never upscaled). ``currentSrc`` is what Chromium chose among the ``<source>`` elements after
their ``media`` queries.
"""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from PIL import Image, ImageDraw

from django_kling.clip_renditions import Rendition
from django_kling.editorial import review
from django_kling.flow import renditions
from django_kling.jobs import create_video_request
from django_kling.models import VideoRequest
from tests.shop.models import Product

from ..conftest import run_steps
from .conftest import OUTPUT
from .test_admin_flow import log_in

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1440, "height": 900}


def jar_picture() -> bytes:
    """A picture with something to see, so that the frames of the strip differ (zoom, pan)."""
    image = Image.new("RGB", (960, 540), (235, 225, 205))
    draw = ImageDraw.Draw(image)
    for i, colour in enumerate([(200, 60, 40), (40, 120, 200), (60, 160, 80), (230, 180, 40)]):
        draw.ellipse([60 + i * 220, 120 + (i % 2) * 120, 260 + i * 220, 320 + (i % 2) * 120],
                     fill=colour)
    draw.rectangle([0, 470, 960, 540], fill=(90, 60, 40))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def published(transactional_db, sandbox, settings, tmp_path):
    """A product whose featured clip has its 480p rendition (rows made before the browser)."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "ALLOWED_DOWNLOAD_HOSTS":
                             ["http://127.0.0.1:*"]}
    User.objects.create_superuser("boss", "boss@example.com", "pw")
    product = Product(name="Sea salt", description="A jar of sea salt.")
    product.image.save("salt.png", ContentFile(jar_picture()), save=True)
    sandbox.render_scale = 0.5
    job = create_video_request(source=product, field_name="image", prompt="The jar turns.")
    run_steps(job.pk)
    job.refresh_from_db()
    review.feature(review.approve(job))
    [pk] = renditions.start(job.video)
    assert renditions.make(pk)
    return product, job, Rendition.objects.select_related("asset").get(pk=pk)


def in_thread(fn):
    """Run a database read outside Playwright's event loop (Django refuses it inside)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn).result()


def current_src(browser, url: str, viewport: dict) -> str:
    page = browser.new_page()
    page.set_viewport_size(viewport)
    page.goto(url)
    page.wait_for_function("document.querySelector('video').currentSrc !== ''")
    src = page.evaluate("document.querySelector('video').currentSrc")
    page.close()
    return src


def test_a_phone_plays_the_480p_rendition_and_a_desktop_the_original(
        published, live_server, browser):
    product, job, rendition = published
    url = f"{live_server.url}/products/{product.pk}/"
    assert current_src(browser, url, PHONE).endswith(rendition.asset.file.url)
    assert current_src(browser, url, DESKTOP).endswith(job.video.file.url)


def test_the_poster_the_editor_picks_is_the_one_shown(published, live_server, browser):
    product, job, rendition = published
    base = live_server.url
    page = browser.new_page()
    page.set_viewport_size(DESKTOP)
    log_in(page, base)
    page.goto(f"{base}/admin/django_kling/videorequest/{job.pk}/change/")
    page.click("text=Choose another frame")
    page.wait_for_selector(".kling-poster-strip button")
    buttons = page.locator(".kling-poster-strip button")
    assert buttons.count() == 8
    picked = float(buttons.nth(5).get_attribute("value"))
    page.screenshot(path=str(OUTPUT / "poster-strip.png"), full_page=True)
    buttons.nth(5).click()
    page.wait_for_selector(".messagelist .success")
    job, choice, small_poster = in_thread(lambda: (
        VideoRequest.objects.select_related("poster", "video").get(pk=job.pk),
        VideoRequest.objects.get(pk=job.pk).poster_choice.time,
        Rendition.objects.select_related("poster").get(pk=rendition.pk).poster))
    assert job.poster.mime == "image/webp" and choice == pytest.approx(picked)
    assert small_poster.width == rendition.asset.width
    page.goto(f"{base}/products/{product.pk}/")
    shown = page.get_attribute("video", "poster")
    assert shown.endswith(job.poster.file.url)
    loaded = page.evaluate("""async (src) => {
        const img = new Image(); img.src = src; await img.decode();
        return [img.naturalWidth, img.naturalHeight]; }""", shown)
    assert loaded == [job.video.width, job.video.height]
