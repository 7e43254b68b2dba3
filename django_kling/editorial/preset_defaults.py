"""The starting set of presets (``kling_presets --install-defaults``; the demo installs it).

Prompts describe the motion and the sound, as Kling's prompt guides advise; the spoken lines
are short enough for a 5-second clip. ``{name}`` is the object's ``name`` field: a preset is
refused for an object without one, before anything is paid for.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from ..video_presets import VideoPreset

DEFAULT_PRESETS: list[dict[str, Any]] = [
    {"slug": "turntable", "name": "Slow 360° turn",
     "prompt_template": "{name} turns slowly through a full circle on a clean studio "
                        "background; soft even light, the camera stays still.",
     "negative_prompt": "blur, text, watermark, extra objects", "sound": False,
     "mode": "pro", "formats": "16:9, 9:16"},
    {"slug": "unboxing", "name": "Unboxing",
     "prompt_template": "Hands open a plain box and lift out {name}, turning it to the light; "
                        "paper rustles, a soft click as the lid opens.",
     "negative_prompt": "blur, text, watermark", "sound": True, "mode": "pro",
     "formats": "16:9"},
    {"slug": "lifestyle", "name": "Lifestyle scene with ambience",
     "prompt_template": "{name} in use in a bright, lived-in home; the camera drifts slowly "
                        "closer. Quiet room ambience, birds outside the window.",
     "negative_prompt": "blur, text, watermark, distorted hands", "sound": True, "mode": "pro",
     "formats": "16:9"},
    {"slug": "intro-en", "name": "Spoken introduction (English)",
     "prompt_template": "A friendly presenter holds {name} towards the camera and smiles.",
     "speaker": "The presenter", "spoken_line_en": "Meet {name}. Made to last, made for you.",
     "sound": True, "mode": "pro", "formats": "16:9"},
    {"slug": "intro-zh", "name": "Spoken introduction (Chinese)",
     "prompt_template": "A friendly presenter holds {name} towards the camera and smiles.",
     "speaker": "The presenter", "spoken_line_zh": "为您介绍{name}，经久耐用，专为您打造。",
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
