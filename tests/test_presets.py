"""Presets, spoken lines and variants: safe placeholders, the composed prompt, seeds and money."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.management import CommandError, call_command

from django_kling.editorial.preset_defaults import DEFAULT_PRESETS
from django_kling.editorial.preset_jobs import create_preset_requests
from django_kling.exceptions import BudgetExceeded, InvalidInput
from django_kling.jobs import create_video_request, estimate_cost, variants_of
from django_kling.models import Asset, VideoRequest
from django_kling.options.speech import compose_prompt
from django_kling.video_presets import FieldFormatter, VideoPreset, template_fields
from tests.shop.models import Product

pytestmark = pytest.mark.django_db


@pytest.fixture
def product(make_image) -> Product:
    product = Product(name="Sea <b>Salt</b>", description="A glass bottle.")
    # Large enough for a 9:16 crop (each side of at least 300 px).
    product.image.save("product.png", ContentFile(make_image(1280, 720)), save=True)
    return product


# -- placeholders -----------------------------------------------------------------------------


def test_placeholders_fill_plain_field_text(product):
    formatter = FieldFormatter(template_fields(Product))
    assert formatter.render("{name} on a table. {description}", product) == (
        "Sea Salt on a table. A glass bottle.")  # markup stripped, text only
    assert formatter.render("A {{literal}} brace", product) == "A {literal} brace"


@pytest.mark.parametrize("template", [
    "{name.__class__}", "{name.__init__.__globals__}", "{name[0]}", "{0}", "{}",
    "{name!r}", "{name:>99999999}", "{name:{description}}", "{_state}", "{password}",
    "{api_key}", "{unknown}", "{name", "}",
])
def test_placeholders_cannot_reach_attributes_or_private_data(product, template):
    formatter = FieldFormatter(template_fields(Product))
    with pytest.raises(InvalidInput) as error:
        formatter.render(template, product)
    assert error.value.code == "preset_template_invalid"


def test_unknown_placeholders_are_refused_when_the_preset_is_saved():
    preset = VideoPreset(name="Spin", slug="spin", prompt_template="{name} spins {colour}",
                         content_type=ContentType.objects.get_for_model(Product))
    with pytest.raises(ValidationError) as error:
        preset.full_clean()
    assert "colour" in str(error.value.message_dict["prompt_template"])
    preset.prompt_template = "{name} spins"
    preset.spoken_line_en = "Look at {name.__class__}"
    with pytest.raises(ValidationError) as error:
        preset.full_clean()
    assert set(error.value.message_dict) == {"spoken_line_en"}
    preset.spoken_line_en = "Look at {name}"
    preset.formats = "16:9, 4:3"
    with pytest.raises(ValidationError) as error:
        preset.full_clean()
    assert set(error.value.message_dict) == {"formats"}
    preset.formats = "16:9, 9:16, 16:9"
    preset.full_clean()
    assert preset.format_list() == ["16:9", "9:16"]
    preset.model = "klingai/kling-v2.5-turbo-i2v"  # silent only, and the preset has sound
    with pytest.raises(ValidationError) as error:
        preset.full_clean()
    assert set(error.value.message_dict) == {"model"}
    preset.model, preset.mode = "", "std"
    with pytest.raises(ValidationError) as error:
        preset.full_clean()
    assert set(error.value.message_dict) == {"mode"}


def test_install_defaults_is_idempotent_and_every_default_is_valid():
    out = io.StringIO()
    call_command("kling_presets", "--install-defaults", stdout=out)
    assert f"Installed {len(DEFAULT_PRESETS)} preset(s)." in out.getvalue()
    assert VideoPreset.objects.count() == len(DEFAULT_PRESETS) >= 5
    for preset in VideoPreset.objects.all():
        preset.full_clean()
    VideoPreset.objects.filter(slug="unboxing").update(name="Our own unboxing")
    out = io.StringIO()
    call_command("kling_presets", "--install-defaults", stdout=out)
    assert "Installed 0 preset(s)." in out.getvalue() and "Our own unboxing" in out.getvalue()
    assert {p.slug for p in VideoPreset.objects.all() if p.spoken_line_zh} == {"intro-zh"}


# -- the spoken line in the prompt ------------------------------------------------------------


def test_spoken_line_is_quoted_speech_attributed_to_a_speaker():
    assert compose_prompt("A woman holds the bottle.", spoken_line='Try "it" now',
                          language="en", speaker="The woman") == (
        "A woman holds the bottle. The woman says in English: \"Try 'it' now\"")
    assert compose_prompt("", spoken_line="你好", language="zh") == (
        'The presenter says in Chinese: "你好"')
    assert compose_prompt("No speech.", language="zh") == "No speech."
    with pytest.raises(InvalidInput) as error:
        compose_prompt("x", spoken_line="Hello")
    assert error.value.code == "speech_needs_language"


def test_the_composed_prompt_is_checked_against_the_limit_before_anything_is_stored(
        make_image, sandbox):
    prompt = "p" * 2450
    with pytest.raises(InvalidInput) as error:
        create_video_request(make_image(), prompt=prompt, spoken_line="Hello there, friends.",
                             language="en")
    assert error.value.code == "prompt_too_long" and error.value.params["length"] > 2500
    assert VideoRequest.objects.count() == 0 and Asset.objects.count() == 0
    with pytest.raises(InvalidInput) as error:
        create_video_request(make_image(), spoken_line="Hello", language="en", sound=False)
    assert error.value.code == "speech_needs_sound"


# -- variants ---------------------------------------------------------------------------------


def test_variants_share_a_group_and_each_costs(
        make_image, sandbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        first = create_video_request(make_image(), prompt="Waves.", variants=3)
    group = list(variants_of(first))
    assert len(group) == 3 == len(callbacks)  # each one queued
    assert {job.variant_group for job in group} == {first.variant_group} != {None}
    # Kling ignores seeds: variants differ by the model's own randomness, none is invented.
    assert {job.seed for job in group} == {None}
    assert {job.first_frame_id for job in group} == {first.first_frame_id}  # stored once
    per_clip = estimate_cost(duration=5, mode="pro", sound=True)
    assert sum(job.estimated_cost for job in group) == per_clip * 3
    with django_capture_on_commit_callbacks(execute=False):
        seeded = create_video_request(make_image(), variants=2, seed=41)
    assert [job.seed for job in variants_of(seeded)] == [41, 41]  # kept as asked, not sent
    with pytest.raises(InvalidInput) as error:
        create_video_request(make_image(), variants=5)
    assert error.value.code == "variants_invalid"


def test_the_budget_counts_every_variant(make_image, sandbox, settings):
    per_clip = estimate_cost(duration=5, mode="pro", sound=True)
    settings.DJANGO_KLING = {**settings.DJANGO_KLING,
                             "BUDGET": {"per_day": str(per_clip * 2 + Decimal("0.01"))}}
    with pytest.raises(BudgetExceeded):
        create_video_request(make_image(), variants=3)
    assert VideoRequest.objects.count() == 0 and Asset.objects.count() == 0
    create_video_request(make_image(), variants=2)
    assert VideoRequest.objects.count() == 2


def test_a_preset_makes_one_request_per_format_and_language(product, sandbox,
                                                           django_capture_on_commit_callbacks):
    preset = VideoPreset.objects.create(
        name="Intro", slug="intro", prompt_template="{name} on a table.", formats="16:9, 9:16",
        spoken_line_en="This is {name}.", spoken_line_zh="这是{name}。", speaker="A woman")
    with django_capture_on_commit_callbacks(execute=False):
        jobs = create_preset_requests(preset, source=product, field_name="image",
                                      languages=["en", "zh"], variants=2)
    assert len(jobs) == 8
    assert sorted({(j.aspect_ratio, j.language) for j in jobs}) == [
        ("16:9", "en"), ("16:9", "zh"), ("9:16", "en"), ("9:16", "zh")]
    chinese = next(j for j in jobs if j.language == "zh")
    assert chinese.prompt == 'Sea Salt on a table. A woman says in Chinese: "这是Sea Salt。"'
    assert {j.preset_id for j in jobs} == {preset.pk}

    preset.prompt_template = "{name} {price}"
    preset.save()
    with pytest.raises(InvalidInput):
        create_preset_requests(preset, source=product, field_name="image")
    assert VideoRequest.objects.count() == 8  # nothing more queued


def test_kling_generate_with_a_preset(product, sandbox, django_capture_on_commit_callbacks):
    call_command("kling_presets", "--install-defaults", stdout=io.StringIO())
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=False):
        call_command("kling_generate", f"shop.Product:{product.pk}", "--preset", "turntable",
                     stdout=out)
    assert sorted(VideoRequest.objects.values_list("aspect_ratio", flat=True)) == [
        "16:9", "9:16"]  # one per format of the preset
    assert out.getvalue().count("Queued ") == 2
    VideoRequest.objects.all().delete()
    with django_capture_on_commit_callbacks(execute=False):
        call_command("kling_generate", f"shop.Product:{product.pk}", "--preset", "turntable",
                     "--aspect-ratio", "1:1", "--prompt", "Spin.", stdout=io.StringIO())
    job = VideoRequest.objects.get()  # the command line wins over the preset
    assert (job.aspect_ratio, job.prompt, job.generate_audio) == ("1:1", "Spin.", False)
    with pytest.raises(CommandError, match="preset_missing"):
        call_command("kling_generate", f"shop.Product:{product.pk}", "--preset", "nope")
