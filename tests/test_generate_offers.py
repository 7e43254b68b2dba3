"""The Generate page offers only what the chosen model can do (issue 26), without JavaScript:
choices the capability registry refuses are disabled in the HTML, and a form that asks for one
anyway is refused before anything is queued, with the registry's message on its field."""

from __future__ import annotations

import json
import re

from django.urls import reverse
from django.utils import translation

from django_kling import capabilities
from django_kling.models import VideoRequest
from django_kling.voices import Voice

from .test_admin import (  # noqa: F401  (fixtures, by their pytest names)
    CHANGELIST,
    confirm_data,
    login,
    make_product_fixture,
    producer_fixture,
)

TURBO, V26, V3 = capabilities.V2_5_TURBO, capabilities.V2_6, capabilities.V3_0


def field_html(page: str, name: str) -> list[str]:
    """The input and select tags of the option ``name``."""
    return re.findall(rf'<(?:input|select)[^>]*name="options-{name}"[^>]*>', page)


def post(client, products, **data):
    form = confirm_data(products, sound=data.pop("sound", False))
    form.update({f"options-{k}": v for k, v in data.items()})
    return client.post(reverse(CHANGELIST), form)


def test_turbo_offers_no_sound_and_no_voice(producer, make_product, sandbox):
    Voice.objects.create(name="Mei", kling_id="v1", gateway_id="v1")
    product = make_product()
    response = post(login(producer), [product], model=TURBO, sound=True)
    assert response.status_code == 200 and VideoRequest.objects.count() == 0
    page = response.content.decode()
    [sound] = field_html(page, "sound")
    [voice] = field_html(page, "voices")
    assert "disabled" in sound and "checked" not in sound
    assert "disabled" in voice
    errors = response.context["batch_form"].errors
    assert "silent clips only" in str(errors["sound"])
    # Twelve seconds is not offered for the turbo: its radio is there, disabled.
    twelve = [tag for tag in field_html(page, "duration") if 'value="12"' in tag]
    assert twelve and "disabled" in twelve[0]


def test_twelve_seconds_on_v26_is_refused_on_the_page_in_both_languages(producer, make_product,
                                                                       sandbox):
    product = make_product()
    response = post(login(producer), [product], model=V26, duration="12")
    assert "5, 10 seconds, not 12" in str(response.context["batch_form"].errors["duration"])
    with translation.override("zh-hans"):
        response = post(login(producer, HTTP_ACCEPT_LANGUAGE="zh-hans"), [product], model=V26,
                        duration="12")
    assert "秒" in str(response.context["batch_form"].errors["duration"])
    assert VideoRequest.objects.count() == 0 and sandbox.calls == []


def test_v3_offers_twelve_seconds_and_a_voice(producer, make_product, sandbox):
    Voice.objects.create(name="Mei", kling_id="v1", gateway_id="v1")
    product = make_product()
    response = post(login(producer), [product], model=V3, duration="12", mode="std", sound=True)
    page = response.content.decode()
    twelve = [tag for tag in field_html(page, "duration") if 'value="12"' in tag]
    assert "disabled" not in twelve[0]
    assert "disabled" not in field_html(page, "voices")[0]


def page_offers(client, product) -> dict:
    """What the Generate page tells its script each model offers (#kling-offers)."""
    page = client.post(reverse(CHANGELIST), {"action": "generate_video", "select_across": "0",
                                             "_selected_action": [str(product.pk)]})
    return json.loads(re.search(r'<script id="kling-offers" type="application/json">(.*?)'
                                r"</script>", page.content.decode(), re.S).group(1))


def test_the_page_carries_what_each_model_offers_for_its_script(producer, make_product,
                                                                 settings, sandbox):
    product = make_product()
    client = login(producer)
    offers = page_offers(client, product)
    assert offers[TURBO]["sound"] is False and offers[TURBO]["voices"] == 0
    assert offers[V26]["durations"] == [5, 10] and offers[V26]["lastFrameWithSound"] is True
    assert offers[V3]["durations"] == list(range(3, 16)) and offers[V3]["voices"] == 2
    # With Kling first and only, v2.6 cannot do a last frame with sound: not offered.
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "PROVIDERS_ORDER": ["kling"]}
    offers = page_offers(client, product)
    assert offers[V26]["lastFrameWithSound"] is False
