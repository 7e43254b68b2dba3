"""The editors' workflow in a real browser: generate from a preset with two variants, compare
them side by side, approve and feature one in a click, and see the public product page show
exactly that clip (it showed nothing before). Writes the screenshots of the editors' guide.
"""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.core.files.base import ContentFile

from django_kling.editorial.preset_defaults import install_default_presets
from tests.shop.models import Product

from .conftest import OUTPUT
from .test_admin_flow import log_in

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def shop(transactional_db, make_image) -> Product:
    # Rows made before the browser starts (see the browser fixture).
    User.objects.create_superuser("boss", "boss@example.com", "pw")
    install_default_presets()
    product = Product(name="Sea salt", description="A jar of sea salt.")
    product.image.save("salt.png", ContentFile(make_image(960, 540)), save=True)
    return product


def test_preset_variants_compare_approve_and_feature(django_db_setup, live_server, sandbox,
                                                     worker, shop, browser):
    sandbox.delay = 0.3
    base = live_server.url
    page = browser.new_page()
    public = f"{base}/products/{shop.pk}/"
    page.goto(public)
    assert page.locator("video").count() == 0  # no clip yet
    log_in(page, base)

    # Generate video, pick the English introduction preset: the script applies it at once.
    page.goto(f"{base}/admin/shop/product/")
    page.check("input[name=_selected_action]")
    page.select_option("select[name=action]", "generate_video")
    page.click("button[name=index]")
    page.wait_for_selector("#kling-generate-form")
    page.select_option("select[name=options-preset]", label="Spoken introduction (English)")
    page.wait_for_function(
        "document.querySelector('textarea[name=rows-0-prompt]').value.includes('Sea salt')")
    assert page.is_checked("input[name=options-languages][value=en]")
    assert "Meet Sea salt" not in page.input_value("textarea[name=rows-0-prompt]")
    assert "Meet {object}" in page.input_value("textarea[name=options-spoken_line_en]")
    page.select_option("select[name=options-variants]", "2")
    assert page.text_content("[data-kling-total]").strip() == "1.40 USD"  # two clips
    page.screenshot(path=str(OUTPUT / "generate-preset-variants.png"), full_page=True)
    page.click("input[name=_kling_queue]")
    page.wait_for_selector(".messagelist .success")
    assert "2 videos were queued." in page.text_content(".messagelist .success")

    # Both variants finish; the list follows them without a reload.
    page.click(".messagelist .success a")
    page.wait_for_function(
        "document.querySelectorAll('.kling-badge--succeeded').length === 2", timeout=60_000)
    page.goto(base + page.get_attribute("#result_list tbody th a", "href"))
    page.click("a.kling-compare-link")
    page.wait_for_selector(".kling-compare")
    variants = page.locator(".kling-variant")
    assert variants.count() == 2 and page.locator(".kling-variant video").count() == 2
    takes = [variants.nth(i).text_content() for i in range(2)]
    assert "Take 1" in takes[0] and "Take 2" in takes[1]
    assert all("Awaiting review" in take for take in takes)
    page.screenshot(path=str(OUTPUT / "compare-variants.png"), full_page=True)

    # One click approves and features the second take.
    chosen = variants.nth(1)
    chosen_src = chosen.locator("video source").get_attribute("src")
    chosen.locator("button[value=approve_feature]").click()
    page.wait_for_selector(".messagelist .success")
    assert "approved and featured" in page.text_content(".messagelist .success")
    assert "Featured" in page.locator(".kling-variant").nth(1).text_content()
    assert "Awaiting review" in page.locator(".kling-variant").nth(0).text_content()
    page.screenshot(path=str(OUTPUT / "compare-variants-featured.png"), full_page=True)

    # The product's admin page shows the review state and the badge in its Videos section.
    page.goto(f"{base}/admin/shop/product/{shop.pk}/change/")
    page.wait_for_selector(".inline-group .kling-review--featured")
    page.screenshot(path=str(OUTPUT / "product-review.png"), full_page=True)

    # The public page now shows exactly the featured clip.
    page.goto(public)
    assert page.locator("video").count() == 1
    assert page.locator("video source").get_attribute("src") == chosen_src
    assert re.search(r'"@type":\s*"VideoObject"', page.content())
    # Marked as AI-generated where a shopper sees it, and for search engines (issue 24).
    label = page.locator("figure.kling-video figcaption.kling-ai-label")
    assert label.is_visible() and label.text_content().strip() == "AI-generated"
    assert "TrainedAlgorithmicMediaDigitalSource" in page.content()
    page.screenshot(path=str(OUTPUT / "product-page-ai-label.png"), full_page=True)
