"""The capability registry as this site sees it: the documented facts
(``django_kling.capabilities``) with the ``CAPABILITIES`` setting laid over them, and the one
function that says whether a route can do what a request asks (:func:`refusal`).

Every refusal is an ``InvalidInput`` with a stable code, the field to change and a translated
message naming the model and the provider, raised before anything is stored or paid for: the
API, the forms and ``kling_generate`` show the same words; the fallback order records them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from .. import capabilities
from ..capabilities import Route
from ..conf import kling_settings
from ..exceptions import ConfigurationError, InvalidInput
from . import _shown, model_label


@dataclass(frozen=True)
class Wanted:
    """What a request asks of its route."""

    duration: int = 5
    mode: str = "pro"
    sound: bool = False
    last_frame: bool = False
    voices: int = 0
    language: str = ""
    shots: int = 0
    #: The shortest shot's seconds and the longest shot prompt's characters (0: no shots).
    shortest_shot: int = 0
    longest_shot_prompt: int = 0
    #: The providers every chosen voice has an id on (None: no voice chosen).
    voice_providers: frozenset[str] | None = None


def route(model: str, provider: str) -> Route | None:
    """The route ``(model, provider)``: documented facts and the ``CAPABILITIES`` setting; None
    when neither describes it (the provider does not run the model)."""
    overrides = (kling_settings.CAPABILITIES.get(model) or {}).get(provider)
    fact = capabilities.documented(model, provider)
    if overrides is None:
        return fact
    try:
        return capabilities.with_overrides(fact, dict(overrides))
    except (KeyError, TypeError) as exc:
        raise ConfigurationError(
            f"DJANGO_KLING['CAPABILITIES'][{model!r}][{provider!r}]: unknown key(s) {exc}. "
            f"Known keys: {', '.join(capabilities.FIELDS)}.") from None


def routes_of(model: str) -> dict[str, Route]:
    """Every provider that runs ``model``, with its route."""
    names = dict.fromkeys([*capabilities.PROVIDERS,
                           *(kling_settings.CAPABILITIES.get(model) or {})])
    found = {name: route(model, name) for name in names}
    return {name: r for name, r in found.items() if r is not None}


def provider_model(model: str, provider: str) -> str:
    """The provider's own name for ``model`` ("" where the model id itself is sent)."""
    found = route(model, provider)
    return found.provider_model if found is not None else ""


def model_durations(model: str) -> tuple[int, ...]:
    """The durations some provider makes ``model`` in, shortest first."""
    return tuple(sorted({d for r in routes_of(model).values() for d in r.durations}))


def _choices(values: tuple) -> str:
    return ", ".join(str(v) for v in values)


def refusal(model: str, provider: str, wanted: Wanted) -> InvalidInput | None:
    """Why ``provider`` cannot make ``wanted`` with ``model`` (None: it can).

    Codes: ``provider_unsupported_feature`` (the provider does not run the model, or lacks a
    last frame, voices or multi-shot on it), ``model_no_sound``, ``duration_unsupported``,
    ``mode_unsupported``, ``sound_needs_pro``, ``last_frame_needs_pro``,
    ``last_frame_sound_unsupported``, ``voices_too_many``, ``language_unsupported``,
    ``shots_too_many``, ``shot_prompt_too_long``, ``shot_too_short``,
    ``shots_last_frame_unsupported``.
    """
    found = route(model, provider)
    params = {"model": model_label(model), "provider": provider}
    missing = [name for name, lacking in (
        (model, found is None),
        ("last_frame", found is not None and wanted.last_frame and not found.last_frame),
        ("voices", found is not None and wanted.voices and not found.voices),
        ("multi_shot", found is not None and wanted.shots and not found.shots)) if lacking]
    if missing:
        return InvalidInput(_("%(provider)s cannot do: %(features)s.")
                            % {"provider": provider, "features": ", ".join(missing)},
                            code="provider_unsupported_feature", field="__all__")
    assert found is not None
    if wanted.sound and not found.sound:
        return InvalidInput(
            _("%(model)s makes silent clips only: turn sound off, or choose Kling v2.6.")
            % params, code="model_no_sound", field="sound", params=params)
    if wanted.duration not in found.durations:
        duration = {**params, "value": wanted.duration, "choices": _choices(found.durations)}
        return InvalidInput(
            _("%(model)s on %(provider)s makes clips of %(choices)s seconds, not "
              "%(value)s.") % duration, code="duration_unsupported", field="duration",
            params=duration)
    if wanted.mode not in found.modes:
        mode = {**params, "value": wanted.mode, "choices": _choices(found.modes)}
        return InvalidInput(
            _("%(model)s on %(provider)s has the mode %(choices)s only, not “%(value)s”.")
            % mode, code="mode_unsupported", field="mode", params=mode)
    if wanted.sound and found.sound_needs_pro and wanted.mode != "pro":
        return InvalidInput(_("Sound needs the pro mode; choose pro or turn sound off."),
                            code="sound_needs_pro", field="mode")
    if wanted.last_frame and found.last_frame_needs_pro and wanted.mode != "pro":
        return InvalidInput(_("A last frame needs the pro mode."),
                            code="last_frame_needs_pro", field="mode")
    if wanted.last_frame and wanted.sound and not found.last_frame_with_sound:
        return InvalidInput(_(
            "%(model)s on %(provider)s cannot make a clip with a last frame and sound "
            "together: turn sound off, leave out the last frame, or choose another provider.")
            % params, code="last_frame_sound_unsupported", field="sound", params=params)
    if wanted.voices > found.voices:
        voices = {**params, "limit": found.voices}
        return InvalidInput(ngettext(
            "%(model)s on %(provider)s takes at most %(limit)d voice.",
            "%(model)s on %(provider)s takes at most %(limit)d voices.", found.voices) % voices,
            code="voices_too_many", field="voices", params=voices)
    if wanted.voice_providers is not None and provider not in wanted.voice_providers:
        return InvalidInput(_("The chosen voice has no id on %(provider)s.") % params,
                            code="voice_not_on_provider", field="voices", params=params)
    if wanted.language and wanted.language not in found.languages:
        language = {**params, "value": wanted.language, "choices": _choices(found.languages)}
        return InvalidInput(
            _("%(model)s on %(provider)s speaks %(choices)s, not “%(value)s”.") % language,
            code="language_unsupported", field="language", params=language)
    if wanted.shots > found.shots:
        shots = {**params, "limit": found.shots}
        return InvalidInput(
            _("%(model)s on %(provider)s takes at most %(limit)d shots.") % shots,
            code="shots_too_many", field="shots", params=shots)
    if wanted.shots and wanted.longest_shot_prompt > found.max_shot_prompt:
        shots = {**params, "limit": found.max_shot_prompt}
        return InvalidInput(
            _("%(model)s on %(provider)s takes shot prompts of at most %(limit)d characters.")
            % shots, code="shot_prompt_too_long", field="shots", params=shots)
    if wanted.shots and wanted.shortest_shot < found.min_shot_duration:
        shots = {**params, "limit": found.min_shot_duration}
        return InvalidInput(
            _("%(model)s on %(provider)s makes shots of %(limit)d seconds or more.") % shots,
            code="shot_too_short", field="shots", params=shots)
    if wanted.shots and wanted.last_frame and not found.shots_with_last_frame:
        return InvalidInput(
            _("%(model)s on %(provider)s cannot make a multi-shot clip with a last frame: "
              "leave out the last frame or the shots.") % params,
            code="shots_last_frame_unsupported", field="shots", params=params)
    return None


def validate_model(value: str, *, allowed: Iterable[str], sound: bool, shots: int = 0) -> str:
    """Return the model id if editors may choose it and it can do what is asked.

    Raises ``InvalidInput``: ``model_invalid`` (not in ``allowed``, the ``MODELS`` setting),
    ``model_no_sound`` (sound asked of a model no provider makes sound with, such as the v2.5
    turbo: the capability registry, ``routes``), ``model_no_shots`` (``shots`` asked of a
    model no provider takes multi-shot prompts for).
    """
    allowed = list(allowed)
    model = value.strip() if isinstance(value, str) else ""
    if model not in allowed:
        params = {"value": _shown(value), "choices": ", ".join(allowed)}
        raise InvalidInput(
            _("The model must be one of %(choices)s, not “%(value)s”.") % params,
            code="model_invalid", field="model", params=params)
    routes = routes_of(model).values()
    if sound and routes and not any(r.sound for r in routes):
        params = {"model": model_label(model)}
        raise InvalidInput(
            _("%(model)s makes silent clips only: turn sound off, or choose Kling v2.6.")
            % params, code="model_no_sound", field="sound", params=params)
    if shots and not any(r.shots for r in routes):
        params = {"model": model_label(model)}
        raise InvalidInput(
            _("%(model)s takes no multi-shot prompts: leave out the shots, or choose Kling "
              "v3.0.") % params, code="model_no_shots", field="shots", params=params)
    return model
