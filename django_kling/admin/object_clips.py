"""What one confirmed "Generate video" batch makes for each object, shared by Django's admin and
the Wagtail integration: the preset's formats x the chosen languages x the variants, each a
request of its own (and each paid for), and the preset's values copied into the options.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from django.db import models
from django.http import QueryDict
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from ..exceptions import InvalidInput
from ..jobs import create_video_request, variants_of
from ..models import VideoRequest
from ..options.generation import GenerationOptions
from ..video_presets import FieldFormatter, fill_shots, template_fields
from .display import money
from .forms import BatchOptionsForm


def queue_object(source: models.Model, field_name: str, user: Any, shared: dict[str, Any], *,
                 prompt: str, last_frame: Any = None) -> list[VideoRequest]:
    """Queue every clip the batch options ``shared`` (a cleaned ``BatchOptionsForm``) ask for
    ``source``. Raises ``InvalidInput`` like ``create_video_request``."""
    preset = shared.get("preset")
    formats = list(shared["aspect_ratio"])  # as ticked on the page: what it said is made
    chosen = GenerationOptions.from_mapping(
        {**shared, "prompt": prompt, "language": "", "aspect_ratio": formats[0],
         "variants": shared.get("variants") or 1})
    # The page's shots, else (a preset chosen but not applied: no JavaScript) the preset's;
    # their placeholders filled for this object.
    shots = fill_shots(shared.get("shots") or (preset.shots if preset is not None else ()),
                       source)
    queued: list[VideoRequest] = []
    for aspect_ratio in formats:
        for language in shared.get("languages") or [""]:
            options = chosen.replace(aspect_ratio=aspect_ratio, language=language,
                                     spoken_line=_line_for(source, shared, language),
                                     shots=shots)
            job = create_video_request(source=source, field_name=field_name, user=user,
                                       last_frame=last_frame, preset=preset, options=options)
            queued.extend(variants_of(job))
    return queued


def _line_for(source: models.Model, shared: dict[str, Any], language: str) -> str:
    """The spoken line in ``language`` for this object: the form's line may hold ``{field}``
    placeholders (a preset's do), filled as safely as a preset's template."""
    line = shared.get(f"spoken_line_{language}", "") if language else ""
    return FieldFormatter(template_fields(type(source))).render(line, source) if line else ""


def unfilled(objects: Iterable[models.Model], templates: Sequence[str]) \
        -> list[tuple[models.Model, str]]:
    """The objects for which one of ``templates`` (a preset's prompt, spoken lines) cannot be
    filled, each with the reason: known before anything is queued or paid for."""
    refused = []
    for obj in objects:
        formatter = FieldFormatter(template_fields(type(obj)))
        try:
            for template in templates:
                formatter.render(template, obj)
        except InvalidInput as error:
            refused.append((obj, error.message))
    return refused


def preset_templates(preset: Any, languages: Iterable[str] = ("en", "zh")) -> list[str]:
    """The preset's templates an object must fill: its prompt, its lines in ``languages`` and
    its shots' prompts."""
    shots = [str(shot.get("prompt") or "") for shot in preset.shots or ()
             if isinstance(shot, dict)]
    return [text for text in [preset.prompt_template,
                              *(preset.spoken_line(language) for language in languages),
                              *shots] if text]


def unfilled_message(refused: Sequence[tuple[models.Model, str]]) -> str:
    """One message naming the objects a preset cannot fill (the first ten) and why."""
    names = ", ".join(f"“{obj}”" for obj, _reason in refused[:10])
    if len(refused) > 10:
        names += " " + _("and %(count)d more") % {"count": len(refused) - 10}
    return ngettext("The preset cannot fill %(objects)s: %(reason)s",
                    "The preset cannot fill %(count)d objects, %(objects)s: %(reason)s",
                    len(refused)) % {
        "objects": names, "count": len(refused), "reason": refused[0][1]}


def apply_preset_values(data: QueryDict, preset: Any) -> None:
    """Copy the preset's options into posted batch options (``options-`` names), in place."""
    data.setlist("options-aspect_ratio", preset.format_list())  # one clip per format
    values = {"duration": preset.duration, "mode": preset.mode, "speaker": preset.speaker,
              "negative_prompt": preset.negative_prompt,
              "spoken_line_en": preset.spoken_line_en,
              "spoken_line_zh": preset.spoken_line_zh}
    if preset.model:  # none: the model chosen on the page stays
        values["model"] = preset.model
    for name, value in values.items():
        data[f"options-{name}"] = str(value or "")
    # The preset's shots in the rows of the shots field (its unfilled templates); none clear
    # the rows.
    rows = BatchOptionsForm.base_fields["shots"].widget.decompress(preset.shots)
    for index, value in enumerate(rows):
        data[f"options-shots_{index}"] = "" if value is None else str(value)
    if preset.sound:
        data["options-sound"] = "on"
    else:
        data.pop("options-sound", None)
    langs = [code for code in ("en", "zh") if getattr(preset, f"spoken_line_{code}")]
    if langs and not data.getlist("options-languages"):
        data.setlist("options-languages", langs)


def chosen_preset(batch: BatchOptionsForm) -> Any:
    """The preset the (bound or initial) form shows, or None."""
    preset_id = str(_shown(batch, "preset") or "")
    return (batch.fields["preset"].queryset.filter(pk=preset_id).first()
            if preset_id.isdigit() else None)


def _shown(batch: BatchOptionsForm, name: str) -> Any:
    return batch[name].value() if batch.is_bound else batch.initial.get(name)


def formats_of(batch: BatchOptionsForm) -> int:
    """How many formats the page shows ticked (one request each)."""
    return max(1, len(_listed(batch, "aspect_ratio")))


def _listed(batch: BatchOptionsForm, name: str) -> list[str]:
    shown = _shown(batch, name) or []
    return [shown] if isinstance(shown, str) else list(shown)


def clip_plan(batch: BatchOptionsForm, objects: int, per_clip: Any) -> dict[str, Any]:
    """What the page says will be made: objects x formats x variants x languages, and what it
    costs per object and in all (``per_clip``: the price of one clip)."""
    try:
        variants = max(1, int(_shown(batch, "variants") or 1))
    except (TypeError, ValueError):
        variants = 1
    formats, languages = _listed(batch, "aspect_ratio"), _listed(batch, "languages")
    per_object = max(1, len(formats)) * variants * max(1, len(languages))
    return {"objects": objects, "formats": formats, "format_count": max(1, len(formats)),
            "variants": variants, "language_count": max(1, len(languages)),
            "per_object": per_object, "clips": objects * per_object,
            "object_cost": money(per_clip * per_object),
            "total": money(per_clip * per_object * objects)}


def clips_per_object(batch: BatchOptionsForm) -> int:
    """Clips per object: formats x variants x languages (each is paid for)."""
    return int(clip_plan(batch, 1, Decimal(0))["per_object"])
