"""Multi-shot prompts (Kling v3.0): a request's clip told as 2 to 6 shots, each with its own
prompt and its own whole seconds, summing to the request's duration.

What the sources say (keys as in ``django_kling.capabilities``):

* ``sdk-options`` (``multiPrompt``): "Up to 6 shots. Each shot has an index, prompt (max 512
  chars), and duration in seconds. Shot durations must sum to the total duration."; the main
  prompt "is ignored by the API" when ``multiShot`` is true; ``shotType`` ``"customize"``
  (our shots) or ``"intelligence"`` (the model cuts the main prompt itself: not offered).
* ``kling-api`` (``multi_prompt``): up to 6 shots, at least 1; at most 512 characters each;
  each shot's duration at least 1 and at most the task's; their sum equals the task's.
* ``fal-v3`` (``KlingV3MultiPromptElement``): ``{prompt, duration}``, the duration one of
  "3" .. "15" (so 3 s at least on fal: the route's ``min_shot_duration``); ``prompt`` and
  ``multi_prompt`` "must be provided, but not both".

One shot is a plain prompt: at least two are asked for. Which route takes shots, how many,
how long a shot's prompt may be and its shortest duration are the route's (``routes.refusal``);
this module checks what holds on every route. Plain values, no database: the forms, presets,
``kling_generate`` and ``GenerationOptions`` share it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, NamedTuple

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from .. import capabilities
from ..exceptions import InvalidInput

#: Fewest shots of a multi-shot prompt (one shot is the plain prompt).
MIN_SHOTS = 2
#: Most shots any route takes (sdk-options, kling-api: 6).
MAX_SHOTS = max((route.shots for route in capabilities.ROUTES.values()), default=0)
#: Longest shot prompt any route takes (sdk-options, kling-api: 512 characters).
MAX_SHOT_PROMPT = max((route.max_shot_prompt for route in capabilities.ROUTES.values()
                       if route.shots), default=0)
#: The storyboard method sent with our shots (sdk-options ``shotType``; kling-api
#: ``shot_type``; fal-v3 ``shot_type``, whose default it is).
SHOT_TYPE = "customize"


class Shot(NamedTuple):
    """One shot: its prompt and its whole seconds."""

    prompt: str
    duration: int


def _field(index: int) -> str:
    return f"shots-{index}"


def _seconds(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def shot_parts(item: Any) -> tuple[Any, Any]:
    """A shot's raw (prompt, seconds), from a pair or a ``{"prompt", "duration"}`` dict."""
    if isinstance(item, dict):
        return item.get("prompt"), item.get("duration")
    if isinstance(item, (list, tuple)) and len(item) == 2:
        return item[0], item[1]
    raise InvalidInput(_("Each shot needs a prompt and a duration."), code="shot_invalid",
                       field="shots")


def validate_shots(shots: Iterable[Any] | None, *, duration: int) -> tuple[Shot, ...]:
    """The shots, cleaned: ``()`` for none; else 2 to ``MAX_SHOTS`` shots (pairs or
    ``{"prompt", "duration"}`` dicts), each with a prompt of at most ``MAX_SHOT_PROMPT``
    characters and whole seconds (1 or more), summing to ``duration``.

    Raises ``InvalidInput``: ``shots_too_few``, ``shots_too_many``, ``shot_invalid``,
    ``shot_prompt_empty``, ``shot_prompt_too_long``, ``shot_duration_invalid``,
    ``shots_duration_mismatch``.
    """
    from . import validate_prompt

    items = list(shots or ())
    if not items:
        return ()
    if len(items) < MIN_SHOTS:
        raise InvalidInput(
            _("A multi-shot prompt has at least %(min)d shots; for one, write the prompt "
              "instead.") % {"min": MIN_SHOTS}, code="shots_too_few", field="shots",
            params={"min": MIN_SHOTS})
    if len(items) > MAX_SHOTS:
        raise InvalidInput(
            _("A multi-shot prompt has at most %(max)d shots, not %(count)d.")
            % {"max": MAX_SHOTS, "count": len(items)}, code="shots_too_many", field="shots",
            params={"max": MAX_SHOTS, "count": len(items)})
    cleaned: list[Shot] = []
    for number, item in enumerate(items, start=1):
        raw_prompt, raw_duration = shot_parts(item)
        prompt = validate_prompt(raw_prompt if isinstance(raw_prompt, str) else None,
                                 field=_field(number))
        params = {"number": number, "limit": MAX_SHOT_PROMPT, "length": len(prompt)}
        if not prompt:
            raise InvalidInput(_("Shot %(number)d has no prompt.") % params,
                               code="shot_prompt_empty", field=_field(number), params=params)
        if len(prompt) > MAX_SHOT_PROMPT:
            raise InvalidInput(
                _("The prompt of shot %(number)d has %(length)d characters; at most "
                  "%(limit)d.") % params, code="shot_prompt_too_long", field=_field(number),
                params=params)
        seconds = _seconds(raw_duration)
        if seconds is None or seconds < 1:
            params = {"number": number, "value": str(raw_duration)[:20]}
            raise InvalidInput(
                _("The duration of shot %(number)d must be whole seconds (1 or more), not "
                  "“%(value)s”.") % params, code="shot_duration_invalid",
                field=_field(number), params=params)
        cleaned.append(Shot(prompt, seconds))
    total = sum(shot.duration for shot in cleaned)
    if total != duration:
        params = {"total": total, "duration": duration}
        raise InvalidInput(ngettext(
            "The shots last %(total)d second in all; they must add up to the clip's "
            "%(duration)d seconds.",
            "The shots last %(total)d seconds in all; they must add up to the clip's "
            "%(duration)d seconds.", total) % params,
            code="shots_duration_mismatch", field="shots", params=params)
    return tuple(cleaned)


def parse_shot(text: str) -> Shot:
    """``"prompt|seconds"`` (``kling_generate --shot``) as a shot; the last ``|`` splits, so a
    prompt may hold one (a placeholder chain). Raises ``InvalidInput`` (``shot_invalid``)."""
    prompt, bar, seconds = (text or "").rpartition("|")
    if not bar:
        raise InvalidInput(_("A shot is written “prompt|seconds”, e.g. “The bag turns|3”."),
                           code="shot_invalid", field="shots")
    return Shot(prompt, seconds)  # type: ignore[arg-type]  # checked by validate_shots


def parse_shots_json(text: str) -> list[Any]:
    """A JSON list of ``{"prompt": ..., "duration": ...}`` (``kling_generate --shots-json``,
    a preset's stored shots)."""
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, list):
        raise InvalidInput(_("The shots must be a JSON list of {\"prompt\": ..., "
                             "\"duration\": ...} objects."), code="shot_invalid",
                           field="shots")
    return value


def wanted_of(shots: Iterable[Shot]) -> dict[str, int]:
    """What shots ask of a route (``routes.Wanted`` fields)."""
    shots = list(shots)
    return {"shots": len(shots),
            "shortest_shot": min((shot.duration for shot in shots), default=0),
            "longest_shot_prompt": max((len(shot.prompt) for shot in shots), default=0)}
