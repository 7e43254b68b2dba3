"""Requests made from a preset: one per format and language, each with its variants.

A preset that names two formats (16:9 for the product page, 9:16 for social posts) and an
editor who asks for English and Chinese make four requests (times the variants); the template
tag later picks the one whose aspect and language fit. The admin's form and ``kling_generate
--preset`` both come here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import models

from ..jobs import ImageSource, create_video_request, variants_of
from ..models import VideoRequest
from ..options import validate_language
from ..options.generation import GenerationOptions
from ..video_presets import VideoPreset


def create_preset_requests(
    preset: VideoPreset,
    *,
    source: models.Model | None = None,
    field_name: str = "",
    image: ImageSource | None = None,
    languages: Iterable[str | None] = ("",),
    variants: int = 1,
    formats: Iterable[str] | None = None,
    overrides: dict[str, Any] | None = None,
    **common: Any,
) -> list[VideoRequest]:
    """Queue the preset's requests for ``source`` (or ``image``); returns all of them.

    ``formats`` (aspect ratios) replaces the preset's own formats when given.
    ``overrides`` replace the preset's own options where their value is not None or empty
    (a prompt typed on the form wins over the template). The templates of every language
    are filled first, so a refused placeholder queues nothing; after that each format and
    language is its own ``create_video_request`` (which checks everything before storing
    anything): a refusal there (the budget, say) keeps the requests already queued, and the
    ``InvalidInput`` reaches the caller.
    """
    chosen = list(dict.fromkeys(validate_language(language) for language in languages)) or [""]
    filled = [GenerationOptions.from_mapping(preset.options_for(source, language=language))
              .overlaid(overrides) for language in chosen]
    jobs: list[VideoRequest] = []
    for aspect in list(formats or ()) or preset.format_list():
        for options in filled:
            first = create_video_request(
                image, source=source, field_name=field_name, preset=preset,
                options=options.replace(aspect_ratio=aspect, variants=variants), **common)
            jobs.extend(variants_of(first))
    return jobs
