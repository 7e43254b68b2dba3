"""Issue 26 in a real browser: the Generate page offers only what the chosen model can do, and
its script disables and clears the rest as the model (or a last frame) changes."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.files.base import ContentFile

from django_kling import capabilities

from .conftest import OUTPUT
from .test_admin_flow import log_in

pytestmark = pytest.mark.django_db(transaction=True)

TURBO, V26, V3 = capabilities.V2_5_TURBO, capabilities.V2_6, capabilities.V3_0


@pytest.fixture
def scene(transactional_db, make_image):
    # Rows are made before the browser starts (see test_admin_flow.boss).
    from django_kling.voices import Voice
    from tests.shop.models import Product

    User.objects.create_superuser("boss", "boss@example.com", "pw")
    Voice.objects.create(name="Mei", kling_id="voice_mei", gateway_id="voice_mei")
    product = Product(name="Sea salt", description="A jar of sea salt.")
    product.image.save("salt.png", ContentFile(make_image(800, 450)), save=True)
    return product


def open_generate_page(browser, base: str):
    """The Generate video page of the product, logged in as the boss."""
    page = browser.new_page()
    log_in(page, base)
    page.goto(f"{base}/admin/shop/product/")
    page.check("input[name=_selected_action]")
    page.select_option("select[name=action]", "generate_video")
    page.click("button[name=index]")
    page.wait_for_selector("#kling-generate-form")
    return page


def test_the_page_offers_what_the_model_can_do(django_db_setup, live_server, sandbox, scene,
                                               make_image, browser):
    page = open_generate_page(browser, live_server.url)
    sound = page.locator("input[name=options-sound]")
    voice = page.locator("select[name=options-voices]")
    twelve = page.locator("input[name=options-duration][value='12']")

    # v2.6 (the default): 5 or 10 s, sound on, a voice may be chosen.
    assert twelve.is_disabled() and sound.is_enabled() and sound.is_checked()
    assert voice.is_enabled()

    # The v2.5 turbo: no sound toggle, no voice, still no 12 s.
    page.check(f"input[name=options-model][value='{TURBO}']")
    assert sound.is_disabled() and not sound.is_checked()
    assert voice.is_disabled() and voice.input_value() == ""
    assert twelve.is_disabled()
    page.screenshot(path=str(OUTPUT / "generate-offers-turbo.png"), full_page=True)

    # v3.0: 12 s, sound and a voice.
    page.check(f"input[name=options-model][value='{V3}']")
    assert twelve.is_enabled()
    page.check("input[name=options-duration][value='12']")
    sound.check()
    assert voice.is_enabled()
    voice.select_option(label="Mei")

    # Back to v2.6: 12 s is cleared for 5 s, the first it offers.
    page.check(f"input[name=options-model][value='{V26}']")
    assert twelve.is_disabled() and not twelve.is_checked()
    assert page.locator("input[name=options-duration][value='5']").is_checked()

    # v2.6 pro with a last frame: the gateway (first of the order) honours a last frame with
    # sound (the registry's last_frame_with_sound), so sound stays offered.
    page.set_input_files("input[name=rows-0-last_frame]", files=[{
        "name": "end.png", "mimeType": "image/png", "buffer": make_image(800, 450, (0, 0, 200))}])
    assert sound.is_enabled()
    page.screenshot(path=str(OUTPUT / "generate-offers-last-frame.png"), full_page=True)


def test_with_kling_only_a_last_frame_takes_the_sound_away(django_db_setup, live_server,
                                                          sandbox, scene, settings, make_image,
                                                          browser):
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "PROVIDERS_ORDER": ["kling"]}
    page = open_generate_page(browser, live_server.url)
    sound = page.locator("input[name=options-sound]")
    assert sound.is_enabled() and sound.is_checked()
    page.set_input_files("input[name=rows-0-last_frame]", files=[{
        "name": "end.png", "mimeType": "image/png", "buffer": make_image(800, 450, (0, 0, 200))}])
    # Kling's capability map: v2.6 start+end frames "only no audio".
    assert sound.is_disabled() and not sound.is_checked()


def test_the_shot_rows_show_for_v3_only_and_are_cleared_as_the_model_changes(
        django_db_setup, live_server, sandbox, scene, browser):
    page = open_generate_page(browser, live_server.url)
    shots = page.locator("[data-kling-shots]")
    first_prompt = page.locator("input[name=options-shots_0]")
    # v2.6 (the default) takes no shots: the rows are hidden.
    assert not shots.is_visible()
    page.check(f"input[name=options-model][value='{V3}']")
    assert shots.is_visible() and first_prompt.is_enabled()
    first_prompt.fill("The jar on a shelf")
    page.fill("input[name=options-shots_1]", "5")
    page.screenshot(path=str(OUTPUT / "generate-shots-v3.png"), full_page=True)
    # Back to v2.6: hidden, disabled and cleared (nothing of them is sent).
    page.check(f"input[name=options-model][value='{V26}']")
    assert not shots.is_visible()
    assert first_prompt.is_disabled() and first_prompt.input_value() == ""
