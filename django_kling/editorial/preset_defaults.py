"""The starting set of presets (``kling_presets --install-defaults``; the demo installs it).

Prompts describe the motion and the sound, as Kling's prompt guides advise; the spoken lines
are short enough for a 5-second clip. ``{object}`` is the object itself as text (its ``str()``:
a product's name, a Wagtail image's title), so the defaults work on any model. Migration 0013
brought presets installed with the earlier ``{name}`` texts, and not edited since, to these.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from ..video_presets import VideoPreset

DEFAULT_PRESETS: list[dict[str, Any]] = [
    {"slug": "turntable", "name": "Slow 360° turn",
     "prompt_template": "{object} turns slowly through a full circle on a clean studio "
                        "background; soft even light, the camera stays still.",
     "negative_prompt": "blur, text, watermark, extra objects", "sound": False,
     "mode": "pro", "formats": "16:9, 9:16"},
    {"slug": "unboxing", "name": "Unboxing",
     "prompt_template": "Hands open a plain box and lift out {object}, turning it to the light; "
                        "paper rustles, a soft click as the lid opens.",
     "negative_prompt": "blur, text, watermark", "sound": True, "mode": "pro",
     "formats": "16:9"},
    {"slug": "lifestyle", "name": "Lifestyle scene with ambience",
     "prompt_template": "{object} in use in a bright, lived-in home; the camera drifts slowly "
                        "closer. Quiet room ambience, birds outside the window.",
     "negative_prompt": "blur, text, watermark, distorted hands", "sound": True, "mode": "pro",
     "formats": "16:9"},
    {"slug": "intro-en", "name": "Spoken introduction (English)",
     "prompt_template": "A friendly presenter holds {object} towards the camera and smiles.",
     "speaker": "The presenter", "spoken_line_en": "Meet {object}. Made to last, made for you.",
     "sound": True, "mode": "pro", "formats": "16:9"},
    {"slug": "intro-zh", "name": "Spoken introduction (Chinese)",
     "prompt_template": "A friendly presenter holds {object} towards the camera and smiles.",
     "speaker": "The presenter", "spoken_line_zh": "为您介绍{object}，经久耐用，专为您打造。",
     "sound": True, "mode": "pro", "formats": "16:9"},
]


def install_default_presets() -> list[VideoPreset]:
    """Create the default presets whose slug is free; returns the ones created."""
    created = []
    with transaction.atomic():
        for values in DEFAULT_PRESETS:
            fields = dict(values)
            preset, made = VideoPreset.objects.get_or_create(slug=fields.pop("slug"),
                                                             defaults=fields)
            if made:
                preset.full_clean()
                created.append(preset)
    return created
