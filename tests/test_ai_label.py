"""The visible "AI-generated" label of {% kling_video %} and the Wagtail blocks (EU AI Act,
Article 50: generated video shown as such), on by default, off by setting or per tag."""

from __future__ import annotations

import pytest
from django.utils import translation

from . import test_templatetags
from .test_templatetags import Elements, json_ld, render, valid_fragment

# The product with an approved clip, as the template tag's tests make it.
product = test_templatetags.product
clip_job = test_templatetags.clip_job


def label(markup: str) -> list[str]:
    page = Elements(markup)
    return [attrs.get("class") for tag, attrs in page.elements if tag == "figcaption"]


def test_the_label_is_on_by_default(clip_job, product):
    markup = render("{% kling_video obj %}", obj=product)
    valid_fragment(markup)
    assert label(markup) == ["kling-ai-label"]
    assert Elements(markup).first("figure") == {"class": "kling-video"}
    assert '<small>AI-generated</small></figcaption></figure>' in markup


def test_the_label_is_translated(clip_job, product):
    with translation.override("zh-hans"):
        markup = render("{% kling_video obj %}", obj=product)
    assert "<small>AI 生成</small>" in markup


@pytest.mark.parametrize("source, setting, shown", [
    ("{% kling_video obj ai_label=False %}", True, False),
    ("{% kling_video obj ai_label=True %}", False, True),
    ("{% kling_video obj %}", False, False),
    ("{% kling_video obj ai_label=show %}", True, False),
])
def test_the_label_can_be_switched_off(clip_job, product, settings, source, setting, shown):
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "AI_LABEL": setting}
    markup = render(source, obj=product, show=False)
    valid_fragment(markup)
    assert ("AI-generated" in markup) is shown
    assert ("<figure" in markup) is shown  # without the label, the bare <video> as before
    assert "<video" in markup


def test_json_ld_says_it_even_without_the_label(clip_job, product, settings):
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "AI_LABEL": False}
    data = json_ld(render("{% kling_video_jsonld obj %}", obj=product))
    assert data["digitalSourceType"] == "https://schema.org/TrainedAlgorithmicMediaDigitalSource"
