"""The Wagtail story in a real browser: select two images in Wagtail's image listing ->
Generate video -> the clips appear in the Videos listing -> approve and feature one -> the page
whose block shows the image's featured clip plays it. Screenshots go to test-output/wagtail/
(the manual's copies are in docs/_static/screenshots/).

Runs against pytest-django's live server with the sandbox provider and a real Dramatiq worker.
"""

from __future__ import annotations

import pytest

pytest.importorskip("wagtail", reason="Wagtail is not installed (the [wagtail] extra)")

from django.contrib.auth.models import User  # noqa: E402

from django_kling.editorial.preset_defaults import install_default_presets  # noqa: E402
from tests.browser.conftest import OUTPUT, browser  # noqa: E402, F401  (the fixture)

from .helpers import make_wagtail_image  # noqa: E402

pytestmark = pytest.mark.django_db(transaction=True)
SHOTS = OUTPUT.parent / "wagtail"


@pytest.fixture
def boss(transactional_db) -> User:
    return User.objects.create_superuser("boss", "boss@example.com", "pw")


@pytest.fixture
def images(transactional_db, make_image) -> list:
    return [make_wagtail_image(make_image, "Sea salt", 960, 540),
            make_wagtail_image(make_image, "Pepper", 960, 540, color=(30, 110, 50))]


@pytest.fixture
def home(images) -> str:
    """A page (the site's root) whose StreamField shows the featured clip of the first image:
    made before any clip exists, and never edited again."""
    from cms.models import HomePage
    from wagtail.models import Page, Site

    page = Page.get_first_root_node().add_child(instance=HomePage(
        title="Spring sale", slug="spring-sale", body=[
            ("heading", "The jar, moving"),
            ("featured_video", {"image": images[0], "playback": "loop",
                                "caption": "Sea salt, turning"})]))
    Site.objects.update_or_create(is_default_site=True, defaults={
        "hostname": "localhost", "root_page": page})
    return HomePage.objects.get(pk=page.pk).get_url()


@pytest.fixture
def presets(transactional_db) -> None:
    install_default_presets()  # before the browser: its thread is an async context


def test_generate_review_and_place_in_a_real_browser(django_db_setup, live_server, sandbox,
                                                     worker, boss, images, home, presets,
                                                     browser):  # noqa: F811
    SHOTS.mkdir(parents=True, exist_ok=True)
    sandbox.delay = 0.5
    base = live_server.url
    page = browser.new_page()
    # Wagtail's admin scrolls inside its own layout: a tall window fits a whole page on a shot.
    page.set_viewport_size({"width": 1280, "height": 1500})
    page.goto(f"{base}/cms/login/")
    page.fill("#id_username", "boss")
    page.fill("#id_password", "pw")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/cms/")

    # Select both images in Wagtail's image listing and run "Generate video".
    page.goto(f"{base}/cms/images/")
    for image in images:
        page.check(f"input[data-bulk-action-checkbox][data-object-id='{image.pk}']")
    page.click("[data-bulk-action-button][href*='generate_video']")
    page.wait_for_selector("#kling-generate-form")
    assert page.locator("[data-kling-image]").count() == 2
    assert page.text_content("[data-kling-total]").strip() == "1.40 USD"
    page.check("input[name=options-duration][value='10']")  # the estimate follows the options
    assert page.text_content("[data-kling-total]").strip() == "2.80 USD"
    page.check("input[name=options-duration][value='5']")
    # A default preset ("{object}": each image's title) applies to both images at once.
    with page.expect_navigation():  # the script presses "Apply preset"
        page.select_option("select[name=options-preset]", label="Unboxing")
    assert page.locator(".error-message, .errorlist").count() == 0
    assert page.text_content("[data-kling-clips]").strip() == "2"
    assert page.text_content("[data-kling-total]").strip() == "1.40 USD"
    page.fill("textarea[name=options-prompt]", "The jar turns slowly; waves roll in.")
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(SHOTS / "wagtail-generate-video.png"), full_page=True)
    page.click("button[name=kling_generate]")
    page.wait_for_selector(".messages .success")
    assert "2 videos were queued." in page.text_content(".messages")

    # The clips appear in the Videos listing (the page is reloaded until both succeeded).
    page.click(".messages .success a")
    for _ in range(60):
        if page.locator(".kling-status--succeeded").count() == 2:
            break
        page.wait_for_timeout(500)
        page.reload()
    assert page.locator(".kling-status--succeeded").count() == 2
    assert page.locator("img.kling-poster").count() == 2
    page.screenshot(path=str(SHOTS / "wagtail-videos.png"), full_page=True)

    # The page with the block shows nothing yet: no clip of that image is approved.
    page.goto(base + home)
    assert page.locator("h1").text_content() == "Spring sale"
    assert page.locator("figure.kling-video-block").count() == 0

    # The request's page plays the clip; the reviewer approves it, then features it.
    page.goto(f"{base}/cms/kling/videos/")
    page.click("td.title a >> text=Sea salt")
    page.wait_for_selector("video.kling-player")
    page.wait_for_function("document.querySelector('video.kling-player').readyState >= 1")
    duration = page.evaluate("document.querySelector('video.kling-player').duration")
    assert duration == pytest.approx(5.0, abs=0.2)
    page.click("[data-kling-action=approve]")
    page.wait_for_selector("[data-kling-action=feature]")
    assert "The clip was approved." in page.text_content(".messages")
    page.screenshot(path=str(SHOTS / "wagtail-video-inspect.png"), full_page=True)
    page.click("[data-kling-action=feature]")
    page.wait_for_selector(".messages .success")

    # The page, not edited since, now plays that clip, muted and looping.
    page.goto(base + home)
    page.wait_for_selector("figure.kling-video-block video")
    video = "document.querySelector('figure.kling-video-block video')"
    assert page.evaluate(f"{video}.muted && {video}.loop && {video}.autoplay")
    page.wait_for_function(f"{video}.currentTime > 0.3")  # it really plays
    # Marked as AI-generated where a visitor sees it (EU AI Act, Article 50), beside the caption.
    assert page.locator("figcaption .kling-ai-label").is_visible()
    assert page.text_content("figcaption .kling-ai-label") == "AI-generated"
    assert page.text_content("figcaption") == "AI-generated Sea salt, turning"
    page.screenshot(path=str(SHOTS / "wagtail-page.png"), full_page=True)
