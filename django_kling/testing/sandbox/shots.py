"""The sandbox's check of a multi-shot prompt, as each service documents it.

Kling and the gateway (whose ``providerOptions.klingai`` the AI SDK passes on as Kling's body):
``multi_shot`` true, ``shot_type`` ``"customize"`` (or ``"intelligence"``, the model cutting the
prompt itself, with no list), ``multi_prompt`` of 1 to 6 ``{index (from 1), prompt (at most 512
characters), duration (a string of seconds, at least 1)}`` summing to the task's duration.
fal: ``multi_prompt`` of ``{prompt, duration}`` with durations "3".."15", ``shot_type``
``"customize"`` by default, never together with ``prompt``. The limits are the registry's
route (``shots``, ``max_shot_prompt``, ``min_shot_duration``, ``shots_with_last_frame``), so
the sandbox refuses what the app refuses before paying. Plain Python, no Django; the callers
wrap the returned text in their service's error shape.
"""

from __future__ import annotations

from typing import Any

from ...capabilities import Route

KLING_SHOT_TYPES = ("customize", "intelligence")
FAL_SHOT_TYPES = ("customize", "intelligent")


def _shots_problem(items: Any, route: Route, *, duration: int, param: str,
                   indexed: bool) -> str:
    if not isinstance(items, list) or not items:
        return f"{param} must be a non-empty list."
    if len(items) > route.shots:
        return f"{param} takes at most {route.shots} shots."
    total = 0
    for place, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            return f"{param}[{place - 1}] must be an object."
        if indexed and (isinstance(item.get("index"), bool) or item.get("index") != place):
            return f"{param}[{place - 1}].index must be {place} (shots are numbered from 1)."
        prompt = item.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            return f"{param}[{place - 1}].prompt must be a non-empty string."
        if len(prompt) > route.max_shot_prompt:
            return (f"{param}[{place - 1}].prompt has more than {route.max_shot_prompt} "
                    "characters.")
        seconds = item.get("duration")
        if not (isinstance(seconds, str) and seconds.isdigit()
                and route.min_shot_duration <= int(seconds) <= duration):
            return (f"{param}[{place - 1}].duration must be a string of "
                    f"{route.min_shot_duration} to {duration} seconds.")
        total += int(seconds)
    if total != duration:
        return f"The durations in {param} add up to {total}, not the duration {duration}."
    return ""


def kling_problem(body: dict[str, Any], route: Route, *, duration: int, last_frame: bool,
                  names: tuple[str, str, str] = ("multi_shot", "shot_type", "multi_prompt"),
                  ) -> str:
    """What is wrong with Kling's multi-shot fields in ``body`` (named ``names``: the
    gateway's ``multiShot``, ``shotType``, ``multiPrompt``); "" if nothing or none sent."""
    multi_shot, shot_type, multi_prompt = (body.get(name) for name in names)
    if multi_shot is None and shot_type is None and multi_prompt is None:
        return ""
    if not route.shots:
        return f"{names[0]} is not supported by this model."
    if not isinstance(multi_shot, bool):
        return f"{names[0]} must be a boolean."
    if not multi_shot:
        return ""  # "If false, shot_type and multi_prompt are ignored."
    if shot_type not in KLING_SHOT_TYPES:
        return f"{names[1]} must be one of {', '.join(KLING_SHOT_TYPES)} with {names[0]}."
    if last_frame and not route.shots_with_last_frame:
        return f"{names[0]} cannot be combined with a last frame on this model."
    if shot_type == "intelligence":
        return ""
    return _shots_problem(multi_prompt, route, duration=duration, param=names[2],
                          indexed=True)


def fal_problem(body: dict[str, Any], route: Route, *, duration: int) -> tuple[str, str]:
    """The field of fal's multi-shot input that is wrong and what is wrong with it (fal's
    ``loc`` and ``msg``); the message is "" if nothing is (or none was sent)."""
    items, shot_type = body.get("multi_prompt"), body.get("shot_type")
    if items is None and shot_type is None:
        return "", ""
    if not route.shots:
        return "multi_prompt", "not supported by this endpoint"
    if shot_type is not None and shot_type not in FAL_SHOT_TYPES:
        return "shot_type", f"must be one of {', '.join(FAL_SHOT_TYPES)}"
    if items is None:
        return "", ""
    if body.get("prompt"):
        return "prompt", "either prompt or multi_prompt must be provided, but not both"
    if "end_image_url" in body and not route.shots_with_last_frame:
        return "multi_prompt", "cannot be combined with end_image_url"
    return "multi_prompt", _shots_problem(items, route, duration=duration,
                                          param="multi_prompt", indexed=False)
