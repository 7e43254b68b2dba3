"""What the sandbox's services can do, from the capability registry (``django_kling.capabilities``,
plain Python like the sandbox): each service refuses what the registry says the real one
refuses (durations, sound, voices), in its own error shape.
"""

from __future__ import annotations

from typing import Any

from ... import capabilities
from ...capabilities import Route
from .shots import kling_problem

MODEL_ID = capabilities.V2_6
TURBO_MODEL_ID = capabilities.V2_5_TURBO
V3_MODEL_ID = capabilities.V3_0


def routes_on(provider: str) -> dict[str, Route]:
    """The registry's routes of ``provider``, by model id."""
    return {model: route for (model, name), route in capabilities.ROUTES.items()
            if name == provider}


def voices_problem(voices: Any, limit: int, *, sound: bool, param: str) -> str:
    """What is wrong with a Kling ``voice_list`` (``[{"voice_id": "..."}]``, at most ``limit``,
    with sound on, as the AI SDK's Kling options schema has it: ``voiceList``); "" if nothing
    (or no list at all)."""
    if voices is None:
        return ""
    if not (isinstance(voices, list) and all(
            isinstance(v, dict) and isinstance(v.get("voice_id"), str) and v["voice_id"]
            for v in voices)):
        return f'{param} must be a list of {{"voice_id": string}}.'
    if len(voices) > limit:
        return f"{param} takes at most {limit} voices on this model."
    if voices and not sound:
        return f"{param} needs sound on."
    return ""


#: The gateway's names of Kling's multi_shot, shot_type and multi_prompt (the AI SDK's options).
GATEWAY_SHOT_FIELDS = ("multiShot", "shotType", "multiPrompt")


def klingai_problem(options: dict[str, Any], route: Route, *, sound: bool, duration: int,
                    last_frame: bool) -> tuple[str, str]:
    """What is wrong with the voices and shots of ``providerOptions.klingai`` and the param
    it is about; ("", "") if nothing."""
    where = "providerOptions.klingai."
    problem = voices_problem(options.get("voiceList"), route.voices, sound=sound,
                             param=where + "voiceList")
    if problem:
        return problem, where + "voiceList"
    problem = kling_problem(options, route, duration=duration, last_frame=last_frame,
                            names=GATEWAY_SHOT_FIELDS)
    return (problem, where + "multiPrompt") if problem else ("", "")
