"""An editor's whole day in a real browser: upload a product, "Generate video", confirm, watch
the job finish without reloading, play the clip. Then the same pages in Simplified Chinese.

Runs against pytest-django's live server with the sandbox provider and a real Dramatiq worker,
so the job really goes through submit, poll, download, probe and store.
"""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User

from .conftest import OUTPUT

pytestmark = pytest.mark.django_db(transaction=True)

NO_RELOAD_MARK = "window.__klingStillHere = true"
STILL_HERE = "window.__klingStillHere === true"


def log_in(page, base: str) -> None:
    page.goto(f"{base}/admin/login/?next=/admin/")
    page.fill("#id_username", "boss")
    page.fill("#id_password", "pw")
    page.click("input[type=submit]")
    page.wait_for_url(f"{base}/admin/")


@pytest.fixture
def boss(transactional_db) -> User:
    # Made before the browser starts: the test itself talks to the site only through the
    # browser (an ORM call under Playwright's event loop would get a connection of its own).
    return User.objects.create_superuser("boss", "boss@example.com", "pw")


def test_generate_video_in_a_real_browser(django_db_setup, live_server, sandbox, worker, boss,
                                          make_image, browser):
    # django_db_setup first: the test database then outlives the (session-wide) live server.
    # The job runs until the test lets it go (below): a short delay raced the pages on a
    # loaded machine, and the job was done before its page opened.
    sandbox.delay = 600.0
    base = live_server.url
    page = browser.new_page()
    log_in(page, base)

    # Upload a product.
    page.goto(f"{base}/admin/shop/product/add/")
    page.fill("#id_name", "Sea salt")
    page.fill("#id_description", "The jar turns slowly; waves roll in behind it.")
    page.set_input_files("#id_image", files=[{"name": "salt.png", "mimeType": "image/png",
                                              "buffer": make_image(960, 540)}])
    page.click("input[name=_save]")
    page.wait_for_url(re.compile(r"/admin/shop/product/$"))

    # Select it and run "Generate video".
    page.check("input[name=_selected_action]")
    page.select_option("select[name=action]", "generate_video")
    page.click("button[name=index]")
    page.wait_for_selector("#kling-generate-form")
    assert page.locator(".kling-row img.kling-thumb").count() == 1
    assert "waves roll in behind it" in page.input_value("textarea[name=rows-0-prompt]")
    assert page.text_content("[data-kling-total]").strip() == "0.70 USD"
    page.check("input[name=options-duration][value='10']")  # the estimate follows the options
    assert page.text_content("[data-kling-total]").strip() == "1.40 USD"
    page.check("input[name=options-duration][value='5']")
    page.screenshot(path=str(OUTPUT / "generate-video-confirm.png"), full_page=True)
    page.click("input[name=_kling_queue]")

    # One video: the message reads so and links to the request's own page (issue 21).
    page.wait_for_selector(".messagelist .success a")
    message = page.text_content(".messagelist .success")
    assert "1 video was queued." in message and "Follow its progress" in message
    detail_url = page.get_attribute(".messagelist .success a", "href")

    # The list opens on "Awaiting review or in progress": the job just queued is there.
    page.goto(f"{base}/admin/django_kling/videorequest/")
    page.wait_for_selector(".kling-badge")
    page.evaluate(NO_RELOAD_MARK)
    badge = page.locator(".kling-badge")
    assert badge.get_attribute("data-kling-final") == "false", badge.text_content()
    assert page.get_attribute("#result_list tbody th a", "href") == detail_url

    # Open the request's page while it is still running.
    detail = browser.new_page()
    detail.goto(base + detail_url)
    detail.wait_for_selector("[data-kling-panel]")
    assert detail.get_attribute("[data-kling-panel]", "data-kling-status") != "succeeded"
    detail.evaluate(NO_RELOAD_MARK)
    assert sandbox.finish_running() == 1

    # The script turns both to "Succeeded" and brings in the player, without a reload.
    page.wait_for_selector(".kling-badge--succeeded", timeout=40_000)
    assert badge.text_content().strip() == "Succeeded"
    # The review column follows too.
    page.wait_for_selector("[data-kling-review] .kling-review--pending", timeout=10_000)
    detail.wait_for_selector("[data-kling-panel][data-kling-status=succeeded] video",
                             timeout=40_000)
    assert page.evaluate(STILL_HERE) and detail.evaluate(STILL_HERE)

    # The player plays a real MP4.
    detail.wait_for_function(
        "document.querySelector('[data-kling-panel] video').readyState >= 1")
    duration = detail.evaluate("document.querySelector('[data-kling-panel] video').duration")
    assert duration == pytest.approx(5.0, abs=0.2)
    assert detail.evaluate("document.querySelector('[data-kling-panel] video').poster")
    detail.evaluate("(v => { v.muted = true; v.play(); })("
                    "document.querySelector('[data-kling-panel] video'))")
    detail.wait_for_function(
        "document.querySelector('[data-kling-panel] video').currentTime > 0.5")
    detail.evaluate("document.querySelector('[data-kling-panel] video').pause()")
    assert "Succeeded" in detail.text_content("#content")  # the page itself caught up
    src = detail.evaluate("document.querySelector('[data-kling-panel] video').currentSrc")
    clip = browser.request.get(src)
    assert clip.ok and clip.headers["content-type"] == "video/mp4"
    assert clip.body()[4:8] == b"ftyp"
    detail.screenshot(path=str(OUTPUT / "video-request-succeeded.png"), full_page=True)

    assert detail.text_content(".kling-panel-source").strip() == "product: Sea salt"
    product_url = detail.get_attribute(".kling-panel-source a", "href")

    page.screenshot(path=str(OUTPUT / "video-requests.png"), full_page=True)
    # The product's own page lists its clip, playable where the product is edited.
    page.goto(base + product_url)
    page.wait_for_selector(".inline-group video")
    page.screenshot(path=str(OUTPUT / "product-with-videos.png"), full_page=True)

    # The same admin in Simplified Chinese.
    chinese = browser.new_page()
    chinese.route("**/*", lambda route: route.continue_(
        headers={**route.request.headers, "accept-language": "zh-hans"}))
    chinese.goto(base + product_url)
    chinese.click("a.kling-generate-link")
    chinese.wait_for_selector("#kling-generate-form")
    assert "生成视频" in chinese.text_content(".breadcrumbs")
    assert "加入队列" in chinese.input_value("input[name=_kling_queue]")
    chinese.screenshot(path=str(OUTPUT / "generate-video-confirm-zh-hans.png"), full_page=True)
    chinese.goto(f"{base}/admin/django_kling/videorequest/")
    assert chinese.text_content(".kling-badge").strip() == "已完成"
    chinese.screenshot(path=str(OUTPUT / "video-requests-zh-hans.png"), full_page=True)
