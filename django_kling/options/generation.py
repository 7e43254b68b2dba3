"""``GenerationOptions``: what one request asks of the model, as one typed, validated value.

The admin's and Wagtail's forms, presets, batches and ``kling_generate`` all build one of these
and hand it to ``jobs.create_video_request``; nothing passes the options as a loose bag of
keywords through the layers any more. An instance is valid by construction: ``__post_init__``
fills the unset values from the ``DEFAULTS`` setting, normalizes and checks every field (raising
``InvalidInput`` with the field's name and a stable code, as the single validators do) and
composes the prompt with its spoken line once. What depends on the route (which provider, which
model, what it can do, the frames) is checked when the request is made, in ``jobs``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from django.utils.translation import gettext as _

from ..conf import kling_settings
from ..exceptions import InvalidInput
from . import (
    validate_aspect_ratio,
    validate_duration,
    validate_language,
    validate_mode,
    validate_prompt,
    validate_variants,
)
from .shots import validate_shots
from .speech import compose_prompt


@dataclasses.dataclass(frozen=True)
class GenerationOptions:
    """One request's options. ``None`` means "the ``DEFAULTS`` setting's value" (duration,
    aspect ratio, mode, sound) or "the provider's default" (provider, model)."""

    prompt: str = ""
    negative_prompt: str = ""
    duration: int | str | None = None
    aspect_ratio: str | None = None
    mode: str | None = None
    sound: bool | None = None
    seed: int | None = None
    provider: str | None = None
    model: str | None = None
    language: str | None = ""
    spoken_line: str = ""
    speaker: str = ""
    variants: int | str | None = 1
    #: Chosen voices (``Voice`` primary keys, at most two, in their places): the spoken line
    #: is said by ``<<<voice_1>>>`` (``speech``).
    voices: tuple[int, ...] = ()
    #: A multi-shot prompt (Kling v3.0): ``(prompt, seconds)`` pairs, summing to the duration
    #: (``options.shots``); the main prompt is then kept but not sent.
    shots: tuple[Any, ...] = ()
    #: The prompt as the model reads it: ``prompt`` with the spoken line (``options.speech``).
    composed_prompt: str = dataclasses.field(init=False, default="")

    def __post_init__(self) -> None:
        defaults = kling_settings.DEFAULTS
        duration = validate_duration(self.duration if self.duration is not None
                                     else defaults["duration"])
        aspect_ratio = validate_aspect_ratio(self.aspect_ratio or defaults["aspect_ratio"])
        mode = validate_mode(self.mode or defaults["mode"])
        sound = bool(defaults["sound"] if self.sound is None else self.sound)
        prompt = validate_prompt(self.prompt, field="prompt")
        language = validate_language(self.language)
        variants = validate_variants(self.variants)
        voices = tuple(int(v) for v in self.voices or ())
        composed = compose_prompt(prompt, spoken_line=self.spoken_line, language=language,
                                  speaker=self.speaker, voice=bool(voices))
        if voices and not sound:
            raise InvalidInput(_("A voice needs sound; turn sound on."),
                               code="voice_needs_sound", field="sound")
        if self.spoken_line.strip() and not sound:
            raise InvalidInput(_("A spoken line needs sound; turn sound on."),
                               code="speech_needs_sound", field="sound")
        negative = validate_prompt(self.negative_prompt, field="negative_prompt")
        shots = validate_shots(self.shots, duration=duration)
        if shots and self.spoken_line.strip():
            # The spoken line goes into the main prompt, which a multi-shot request replaces.
            raise InvalidInput(_("A spoken line is not sent with shots (they replace the "
                                 "prompt it goes into): write it into a shot's prompt."),
                               code="shots_with_speech", field="shots")
        for name, value in (("duration", duration), ("aspect_ratio", aspect_ratio),
                            ("mode", mode), ("sound", sound), ("prompt", prompt),
                            ("language", language), ("variants", variants),
                            ("negative_prompt", negative), ("composed_prompt", composed),
                            ("voices", voices), ("shots", shots),
                            ("provider", self.provider or None), ("model", self.model or None)):
            object.__setattr__(self, name, value)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> GenerationOptions:
        """The options among ``values`` (a form's cleaned data, a stored batch's options);
        other keys are ignored."""
        names = {field.name for field in dataclasses.fields(cls) if field.init}
        return cls(**{name: value for name, value in values.items() if name in names})

    def overlaid(self, overrides: Mapping[str, Any] | None) -> GenerationOptions:
        """These options with ``overrides`` laid over them where an override is set (not
        ``None`` nor empty): a prompt typed on a form wins over a preset's template."""
        names = {field.name for field in dataclasses.fields(self) if field.init}
        chosen = {name: value for name, value in (overrides or {}).items()
                  if name in names and value not in (None, "")
                  # No shots on a form keep a preset's shots.
                  and not (name == "shots" and not value)}
        return dataclasses.replace(self, **chosen) if chosen else self

    def replace(self, **changes: Any) -> GenerationOptions:
        """A copy with ``changes``, validated again."""
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        """The options as JSON-friendly values (a batch stores them on its row)."""
        return {field.name: getattr(self, field.name)
                for field in dataclasses.fields(self) if field.init}
