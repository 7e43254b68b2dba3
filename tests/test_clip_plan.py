"""The "Generate video" page says exactly what will be made and what it costs before Queue:
objects x formats x variants x languages, per object and in all; the formats field shows the
preset's formats, and what is ticked is what is made (issue 21, item 8)."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from django_kling.models import VideoRequest
from django_kling.video_presets import VideoPreset

from .test_admin import (  # noqa: F401  (fixtures, by their pytest names)
    KLING_ALL,
    PRODUCT_PERMS,
    confirm_data,
    login,
    make_product_fixture,
    make_staff,
    messages_of,
)

pytestmark = pytest.mark.django_db
CHANGELIST = "admin:shop_product_changelist"


def plan_text(html: str) -> str:
    found = re.search(r'<p class="kling-plan">(.*?)</p>', html, re.S).group(1)
    return " ".join(re.sub(r"<[^>]+>", " ", found).replace("&times;", "x").split())


def test_two_formats_and_two_variants_for_two_objects_say_eight_clips(
        make_product, django_capture_on_commit_callbacks):
    producer = make_staff("planner", *PRODUCT_PERMS, *KLING_ALL)
    products = [make_product("Sea salt", width=1280, height=720),
                make_product("Pepper", width=1280, height=720)]
    preset = VideoPreset.objects.create(name="Both", slug="both", formats="16:9, 9:16",
                                        prompt_template="{object} turns.", sound=False)
    client = login(producer)
    data = confirm_data(products, sound=False)
    data.update({"options-preset": str(preset.pk), "options-variants": "2",
                 "kling_apply_preset": "1"})
    page = client.post(reverse(CHANGELIST), data)
    html = page.content.decode()
    # The formats field shows what the preset makes, not its first format alone.
    assert page.context["batch_form"]["aspect_ratio"].value() == ["16:9", "9:16"]
    assert plan_text(html) == ("What will be made: objects 2 x formats 2 (16:9, 9:16) x "
                               "variants 2 x languages 1 = 8 clips")
    # 5 s pro silent: 0.35 a clip, 4 clips an object, 8 in all.
    assert re.search(r"data-kling-total>\s*2\.80 USD", html)
    assert re.search(r"data-kling-per-object>\s*1\.40 USD", html)
    assert 'value="Queue 8 videos"' in html
    data = confirm_data(products, sound=False)
    data.update({"options-preset": str(preset.pk), "options-variants": "2",
                 "options-aspect_ratio": ["16:9", "9:16"]})
    with django_capture_on_commit_callbacks(execute=False):
        done = client.post(reverse(CHANGELIST), data, follow=True)
    assert any("8 videos were queued." in m for m in messages_of(done)), messages_of(done)
    assert VideoRequest.objects.filter(aspect_ratio="9:16").count() == 4


def test_what_is_ticked_is_what_is_made(make_product, django_capture_on_commit_callbacks):
    producer = make_staff("planner2", *PRODUCT_PERMS, *KLING_ALL)
    product = make_product("Sea salt", width=1280, height=720)
    preset = VideoPreset.objects.create(name="Both", slug="both", formats="16:9, 9:16",
                                        prompt_template="{object} turns.", sound=False)
    data = confirm_data([product], sound=False)  # the editor kept 16:9 only
    data["options-preset"] = str(preset.pk)
    with django_capture_on_commit_callbacks(execute=False):
        done = login(producer).post(reverse(CHANGELIST), data, follow=True)
    assert any("1 video was queued." in m for m in messages_of(done)), messages_of(done)
    assert list(VideoRequest.objects.values_list("aspect_ratio", flat=True)) == ["16:9"]
