"""Presets on any model: ``{object}``, fallback chains, the default presets, and "Apply
preset" naming the objects it cannot fill (issue 21, item 4). Wagtail's side is in
tests/wagtail/test_generate.py."""

from __future__ import annotations

from importlib import import_module

import pytest
from django.apps import apps
from django.contrib.auth.models import User
from django.urls import reverse

from django_kling.editorial.preset_defaults import DEFAULT_PRESETS, install_default_presets
from django_kling.exceptions import InvalidInput
from django_kling.models import VideoRequest
from django_kling.video_presets import FieldFormatter, VideoPreset, template_fields
from tests.shop.models import Product

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


def test_object_is_the_object_itself_and_chains_fall_back(make_product):
    product = make_product("Sea salt", description="")
    user = User.objects.create(username="ada")  # no name, no title: only its str()
    fill = FieldFormatter().render
    assert fill("{object} turns.", product) == "Sea salt turns."
    assert fill("{object} waves.", user) == "ada waves."
    assert fill("{title|name|object}!", product) == "Sea salt!"  # the first it has
    assert fill("{title|name|object}!", user) == "ada!"
    assert fill("{description|object}", product) == "Sea salt"  # empty text: the next one
    with pytest.raises(InvalidInput) as error:
        FieldFormatter(template_fields(Product)).render("{title|colour}", product)
    assert "{object} is the object itself" in error.value.message
    with pytest.raises(InvalidInput):  # still no way into attributes or private fields
        fill("{object.__class__|name}", product)
    with pytest.raises(InvalidInput):
        fill("{password|object}", user)


def test_every_default_preset_fills_for_any_model(make_product):
    install_default_presets()
    user = User.objects.create(username="ada")
    for preset in VideoPreset.objects.all():
        assert "{name}" not in preset.prompt_template + preset.spoken_line_en
        for language in ("en", "zh"):
            options = preset.options_for(user, language=language)
            assert "ada" in options["prompt"], preset.slug
            assert "ada" in options["spoken_line"] or not preset.spoken_line(language)


def test_the_migration_updates_the_defaults_nobody_edited():
    migration = import_module("django_kling.migrations.0012_preset_object_placeholder")
    for values in DEFAULT_PRESETS:
        fields = {name: value.replace("{object}", "{name}") for name, value in values.items()
                  if isinstance(value, str)}
        VideoPreset.objects.create(**fields)
    VideoPreset.objects.filter(slug="lifestyle").update(prompt_template="{name} at home.")
    migration.forwards(apps, None)
    presets = {p.slug: p for p in VideoPreset.objects.all()}
    assert presets["turntable"].prompt_template.startswith("{object} turns slowly")
    assert presets["intro-zh"].spoken_line_zh == "为您介绍{object}，经久耐用，专为您打造。"
    assert presets["lifestyle"].prompt_template == "{name} at home."  # an editor's own
    migration.backwards(apps, None)
    assert VideoPreset.objects.get(slug="unboxing").prompt_template.count("{name}") == 1


def test_apply_preset_names_the_objects_it_cannot_fill_and_keeps_the_options(make_product):
    producer = make_staff("producer4", *PRODUCT_PERMS, *KLING_ALL)
    products = [make_product("Sea salt"), make_product("Pepper")]
    preset = VideoPreset.objects.create(name="Colours", slug="colours", duration=10,
                                        prompt_template="The {colour} jar turns.")
    data = confirm_data(products, prompts={products[0].pk: "My own words.",
                                           products[1].pk: ""})
    data.update({"options-preset": str(preset.pk), "kling_apply_preset": "1"})
    page = login(producer).post(reverse(CHANGELIST), data)
    assert page.status_code == 200 and not VideoRequest.objects.exists()
    batch, formset = page.context["batch_form"], page.context["formset"]
    [error] = batch.errors["preset"]
    assert "“Sea salt”" in error and "“Pepper”" in error and "{colour}" in error
    assert str(batch["duration"].value()) == "5"  # the editor's, not the preset's 10
    assert formset.forms[0]["prompt"].value() == "My own words."


def test_a_default_preset_queues_a_clip_for_each_selected_object(
        make_product, django_capture_on_commit_callbacks):
    install_default_presets()
    preset = VideoPreset.objects.get(slug="unboxing")
    producer = make_staff("producer5", *PRODUCT_PERMS, *KLING_ALL)
    products = [make_product("Sea salt"), make_product("Pepper")]
    client = login(producer)
    data = confirm_data(products, prompts={p.pk: "" for p in products})
    data.update({"options-preset": str(preset.pk), "kling_apply_preset": "1"})
    page = client.post(reverse(CHANGELIST), data)
    assert not page.context["batch_form"].errors
    prompts = [form["prompt"].value() for form in page.context["formset"].forms]
    assert prompts[1].startswith("Hands open a plain box and lift out Pepper,")
    data = confirm_data(products, prompts=dict(zip([p.pk for p in products], prompts,
                                                   strict=True)))
    data["options-preset"] = str(preset.pk)
    with django_capture_on_commit_callbacks(execute=False):
        done = client.post(reverse(CHANGELIST), data, follow=True)
    assert any("2 videos were queued." in m for m in messages_of(done)), messages_of(done)
