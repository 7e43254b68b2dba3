"""What the Generate pages offer for each model: read from the capability registry for the
providers a new request may go to (``PROVIDERS_ORDER``), so a choice no provider of the order
can make is never offered (disabled and cleared by the page's script as the model changes,
refused with the registry's message when the form is sent).

Used by the admin's and Wagtail's Generate pages (``BatchOptionsForm``).
"""

from __future__ import annotations

from typing import Any

from ..flow import fallback
from ..options.routes import Wanted, route


def offer(model: str) -> dict[str, Any]:
    """What some provider of the order can do with ``model``: durations, modes, sound, a last
    frame, a last frame with sound, how many voices, multi-shot."""
    routes = [found for found in (route(model, name) for name in fallback.order())
              if found is not None]
    return {
        "durations": sorted({d for r in routes for d in r.durations}),
        "modes": sorted({m for r in routes for m in r.modes}),
        "sound": any(r.sound for r in routes),
        "lastFrame": any(r.last_frame for r in routes),
        "lastFrameWithSound": any(r.last_frame and r.sound and r.last_frame_with_sound
                                  for r in routes),
        "voices": max((r.voices for r in routes), default=0),
        "shots": max((r.shots for r in routes), default=0),
    }


def offers(models: list[str]) -> dict[str, dict[str, Any]]:
    """:func:`offer` of each of ``models``, for the page's script (``json_script``)."""
    return {model: offer(model) for model in models}


def refusal(model: str, wanted: Wanted) -> dict[str, Any] | None:
    """The most telling refusal when no provider of the order can make ``wanted`` with
    ``model`` (``{"reason", "code", "field", ...}``), else None: the registry's message, the
    same the API and ``kling_generate`` give."""
    provider, skipped = fallback.first_provider(wanted, model)
    if provider is not None or not skipped:
        return None
    return next((s for s in skipped if s["code"] != "provider_unsupported_feature"),
                skipped[-1])
