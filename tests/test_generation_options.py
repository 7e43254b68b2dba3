"""GenerationOptions: one typed value for a request's options, valid by construction."""

import dataclasses

import pytest

from django_kling.exceptions import InvalidInput
from django_kling.options.generation import GenerationOptions


def test_unset_values_come_from_the_defaults_setting(settings):
    settings.DJANGO_KLING = {"DEFAULTS": {"duration": 10, "aspect_ratio": "9:16", "mode": "pro",
                                          "sound": False}}
    options = GenerationOptions(prompt="  Waves.  ")
    assert (options.duration, options.aspect_ratio, options.mode, options.sound) == (
        10, "9:16", "pro", False)
    assert options.prompt == "Waves." and options.composed_prompt == "Waves."


def test_values_are_normalized_once():
    options = GenerationOptions(duration="10", variants="2", language="zh", model="",
                                spoken_line="你好", prompt="A cup.")
    assert options.duration == 10 and options.variants == 2 and options.model is None
    assert options.language == "zh"
    assert options.composed_prompt.startswith("A cup. ") and "你好" in options.composed_prompt


@pytest.mark.parametrize(("fields", "code", "field"), [
    ({"duration": 16}, "duration_invalid", "duration"),
    ({"aspect_ratio": "4:3"}, "aspect_ratio_invalid", "aspect_ratio"),
    ({"spoken_line": "Hello", "language": "en", "sound": False}, "speech_needs_sound", "sound"),
    ({"spoken_line": "Hello"}, "speech_needs_language", "language"),
    ({"variants": 9}, "variants_invalid", "variants"),
])
def test_bad_values_are_refused_with_their_code(fields, code, field):
    with pytest.raises(InvalidInput) as caught:
        GenerationOptions(**fields)
    assert caught.value.code == code and caught.value.field == field


def test_frozen_and_replaced_with_a_new_check():
    options = GenerationOptions(prompt="Waves.")
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.prompt = "other"  # type: ignore[misc]
    assert options.replace(duration=10).duration == 10
    with pytest.raises(InvalidInput):
        options.replace(duration=16)


def test_overlaid_keeps_what_an_override_leaves_empty():
    preset = GenerationOptions(prompt="Turntable.", duration=10, negative_prompt="blur")
    chosen = preset.overlaid({"prompt": "", "duration": 5, "mode": None, "unknown": 1})
    assert (chosen.prompt, chosen.duration, chosen.negative_prompt) == ("Turntable.", 5, "blur")


def test_as_dict_round_trips():
    options = GenerationOptions(prompt="Waves.", duration=10, language="en",
                                spoken_line="Hi", speaker="Ann", seed=4)
    assert GenerationOptions.from_mapping(options.as_dict()) == options
    assert "composed_prompt" not in options.as_dict()
