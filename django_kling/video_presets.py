"""Presets: shots a team reuses across a catalogue, with placeholders for the object's fields.

A ``VideoPreset`` holds a prompt template (``"{object} turns slowly on a white table"``), the
generation options, the formats it is made in and a spoken line per language. Placeholders are
filled by :class:`FieldFormatter`, which only ever reads a concrete, non-relational field of
the source object by its plain name, or ``{object}``, the object itself as text (its
``str()``, what lists show), which every model has. ``{title|name|object}`` is a fallback
chain: the first name the object has whose text is not empty, so one preset serves products
(``name``), Wagtail images (``title``) and anything else. ``{name.__class__}``, ``{0}``,
``{name[0]}``, format specs (``{name:>99999}``) and conversions are refused, so a template
can reach neither attributes nor related rows nor anything private. Templates are checked when
the preset is saved (``clean()``) and again against the object's model before anything is
paid for.
"""

from __future__ import annotations

import string
from collections.abc import Iterable
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.html import strip_tags
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .conf import kling_settings
from .exceptions import InvalidInput
from .options import AspectRatio, Duration, Language, Mode, validate_aspect_ratio
from .options.routes import validate_model
from .options.shots import shot_parts, validate_shots
from .request_shots import RequestShot  # noqa: F401  (registered with the models, as Voice is)
from .voices import Voice

#: Field names never offered to a template, whatever model they are on.
PRIVATE_NAMES = ("password", "secret", "token", "api_key", "apikey", "private")
#: The placeholder of the object itself (its ``str()``), on every model.
OBJECT = "object"
#: Separates the names of a fallback chain: ``{title|name|object}``.
OR = "|"


def template_fields(model: type[models.Model]) -> list[str]:
    """The names a template may use for objects of ``model``: its concrete, non-relational,
    non-private fields."""
    return [f.name for f in model._meta.concrete_fields
            if not f.is_relation and not f.name.startswith("_")
            and not any(word in f.name.lower() for word in PRIVATE_NAMES)]


class FieldFormatter(string.Formatter):
    """``str.format`` that fills ``{field}`` with a field's text and refuses everything else."""

    def __init__(self, allowed: Iterable[str] | None = None) -> None:
        self.allowed = None if allowed is None else frozenset(allowed)

    def placeholders(self, template: str) -> list[str]:
        """The placeholders in ``template`` (a field name, ``object`` or a chain of them);
        raises ``InvalidInput`` on a refused one."""
        names = []
        try:
            parsed = list(self.parse(template))
        except ValueError as exc:
            raise self._refused(str(exc)) from None
        for _text, name, spec, conversion in parsed:
            if name is None:
                continue
            for part in name.split(OR):
                if not part.isidentifier() or part.startswith("_"):
                    raise self._refused(_("{%(name)s} is not a field name (no attributes, "
                                          "indexes or positions)") % {"name": name})
                if any(word in part.lower() for word in PRIVATE_NAMES):
                    raise self._refused(_("{%(name)s} is private") % {"name": name})
            if spec or conversion:
                raise self._refused(_("{%(name)s} may not carry a format or conversion")
                                    % {"name": name})
            if self.allowed is not None and not self._known(name, self.allowed):
                raise self._unknown(name, self.allowed)
            names.append(name)
        return names

    @staticmethod
    def _known(name: str, fields: Iterable[str]) -> bool:
        return any(part == OBJECT or part in fields for part in name.split(OR))

    def _unknown(self, name: str, fields: Iterable[str]) -> InvalidInput:
        return self._refused(_("{%(name)s} is not a field of the object (fields: %(fields)s; "
                               "{object} is the object itself)")
                             % {"name": name, "fields": ", ".join(sorted(fields))})

    def render(self, template: str, obj: models.Model | None) -> str:
        """``template`` with each placeholder replaced by the object's text: a field's,
        ``{object}``'s (its ``str()``), or a chain's first that is not empty."""
        fields = (self.allowed if self.allowed is not None
                  else frozenset(template_fields(type(obj)) if obj is not None else ()))
        return self.vformat(template, (), {name: self._text(name, obj, fields)
                                           for name in self.placeholders(template)})

    def _text(self, name: str, obj: models.Model | None, fields: Iterable[str]) -> str:
        if not self._known(name, fields):
            raise self._unknown(name, fields)
        text = ""
        for part in name.split(OR):
            if part == OBJECT and obj is None:
                raise self._refused(_("{object} needs an object; this clip is made from a "
                                      "file"))
            if part == OBJECT or part in fields:
                value = obj if part == OBJECT else getattr(obj, part)
                text = " ".join(strip_tags(str("" if value is None else value)).split())
                if text:
                    break
        return text

    @staticmethod
    def _refused(reason: str) -> InvalidInput:
        return InvalidInput(_("The prompt template is refused: %(reason)s.") % {"reason": reason},
                            code="preset_template_invalid", field="prompt_template")


class VideoPreset(models.Model):
    """A named set of generation options, edited in the admin, picked when generating."""

    name = models.CharField(gettext_lazy("name"), max_length=100)
    slug = models.SlugField(gettext_lazy("slug"), max_length=60, unique=True)
    content_type = models.ForeignKey(
        ContentType, models.SET_NULL, null=True, blank=True, related_name="+",
        verbose_name=gettext_lazy("for objects of"),
        help_text=gettext_lazy("Optional: placeholders are then checked against this model's "
                               "fields when the preset is saved."))
    prompt_template = models.TextField(
        gettext_lazy("prompt template"), blank=True,
        help_text=gettext_lazy("Placeholders are filled for each object: {object} with the "
                               "object itself (its name in lists, on any model), {description} "
                               "with a field; {title|name|object} with the first of these the "
                               "object has that is not empty."))
    negative_prompt = models.TextField(gettext_lazy("negative prompt"), blank=True)
    duration = models.PositiveSmallIntegerField(gettext_lazy("duration"),
                                                choices=Duration.choices, default=Duration.FIVE)
    formats = models.CharField(
        gettext_lazy("formats"), max_length=30, default=AspectRatio.LANDSCAPE,
        help_text=gettext_lazy("Aspect ratios separated by commas, e.g. “16:9, 9:16”: one "
                               "clip is made per format."))
    mode = models.CharField(gettext_lazy("mode"), max_length=3, choices=Mode.choices,
                            default=Mode.PRO)
    sound = models.BooleanField(gettext_lazy("sound"), default=True)
    model = models.CharField(gettext_lazy("model"), max_length=100, blank=True,
                             help_text=gettext_lazy("Empty: the provider's default model."))
    speaker = models.CharField(gettext_lazy("speaker"), max_length=100, blank=True,
                               help_text=gettext_lazy("Who speaks the line, e.g. “A young "
                                                      "woman” (default: the presenter)."))
    voice = models.ForeignKey(
        Voice, models.PROTECT, null=True, blank=True, related_name="presets",
        verbose_name=gettext_lazy("voice"),
        help_text=gettext_lazy("Who speaks the line, where the model and provider take voices "
                               "(Kling v2.6 and v3.0: see the feature table)."))
    spoken_line_en = models.TextField(gettext_lazy("spoken line (English)"), blank=True)
    spoken_line_zh = models.TextField(gettext_lazy("spoken line (Chinese)"), blank=True)
    # A JSON list here (the preset's shots are one template, edited and copied as a whole);
    # a request's shots are rows (``request_shots``).
    shots = models.JSONField(
        gettext_lazy("shots"), default=list, blank=True,
        help_text=gettext_lazy("Optional multi-shot prompt (Kling v3.0): a list of "
                               "{\"prompt\": ..., \"duration\": seconds}, 2 to 6 shots adding "
                               "up to the duration; the prompts take the same placeholders."))
    created_at = models.DateTimeField(gettext_lazy("created"), auto_now_add=True)

    class Meta:
        app_label = "django_kling"
        ordering = ["name"]
        verbose_name = gettext_lazy("video preset")
        verbose_name_plural = gettext_lazy("video presets")

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors: dict[str, list[str]] = {}
        model = self.content_type.model_class() if self.content_type_id else None
        formatter = FieldFormatter(template_fields(model) if model is not None else None)
        for name in ("prompt_template", "spoken_line_en", "spoken_line_zh"):
            try:
                formatter.placeholders(getattr(self, name))
            except InvalidInput as exc:
                errors.setdefault(name, []).append(exc.message)
        try:
            for shot in validate_shots(self.shots, duration=self.duration):
                formatter.placeholders(shot.prompt)
            if self.shots and (self.spoken_line_en or self.spoken_line_zh):
                raise InvalidInput(_("A spoken line is not sent with shots (they replace the "
                                     "prompt it goes into): write it into a shot's prompt."),
                                   code="shots_with_speech", field="shots")
        except InvalidInput as exc:
            errors.setdefault("shots", []).append(exc.message)
        try:
            self.format_list()
        except InvalidInput as exc:
            errors.setdefault("formats", []).append(exc.message)
        try:  # what create_video_request would refuse, refused when the preset is saved
            if self.model:
                validate_model(self.model, allowed=kling_settings.MODELS, sound=self.sound,
                               shots=len(self.shots or ()))
            if self.sound and self.mode != Mode.PRO:
                raise InvalidInput(_("Sound needs the pro mode; choose pro or turn sound off."),
                                   field="mode")
        except InvalidInput as exc:
            errors.setdefault(exc.field if exc.field in ("model", "mode", "shots") else "model",
                              []).append(exc.message)
        if errors:
            raise ValidationError(errors)

    def format_list(self) -> list[str]:
        """The aspect ratios, in order, without repeats; raises ``InvalidInput``."""
        found: list[str] = []
        for part in (self.formats or "").split(","):
            if part.strip():
                ratio = validate_aspect_ratio(part)
                if ratio not in found:
                    found.append(ratio)
        return found or [AspectRatio.LANDSCAPE.value]

    def spoken_line(self, language: str) -> str:
        return {Language.ENGLISH: self.spoken_line_en,
                Language.CHINESE: self.spoken_line_zh}.get(language, "")

    def options_for(self, obj: models.Model | None, *, language: str = "") -> dict[str, Any]:
        """The ``create_video_request`` arguments this preset gives for ``obj`` (without the
        format: one request is made per entry of :meth:`format_list`)."""
        formatter = FieldFormatter(template_fields(type(obj)) if obj is not None else ())
        line = self.spoken_line(language)
        return {
            "prompt": formatter.render(self.prompt_template, obj),
            "negative_prompt": self.negative_prompt,
            "duration": self.duration, "mode": self.mode, "sound": self.sound,
            "model": self.model or None, "language": language,
            "spoken_line": formatter.render(line, obj) if line else "",
            "speaker": self.speaker, "preset": self,
            "voices": (self.voice_id,) if self.voice_id else (),
            "shots": fill_shots(self.shots, obj),
        }


def fill_shots(shots: Iterable[Any] | None, obj: models.Model | None) -> tuple[Any, ...]:
    """``shots`` (pairs, or a preset's ``{"prompt", "duration"}`` dicts) with each prompt's
    placeholders filled for ``obj`` as a preset's prompt is; checked with the request
    (``GenerationOptions``)."""
    formatter = FieldFormatter(template_fields(type(obj)) if obj is not None else ())
    filled = []
    for shot in shots or ():
        prompt, seconds = shot_parts(shot)
        filled.append((formatter.render(str(prompt or ""), obj), seconds))
    return tuple(filled)
