"""Fallback between providers of the same model (``PROVIDERS_ORDER``), never paying twice.

A new request goes to the first provider of the order that can do what it asks for (a last
frame, sound) and run its model id; the others are recorded as skipped, with the reason. A
request moves on to the next provider only when its provider refused the *first* create call
before accepting any work (``ProviderError.fallback``: unreachable, 5xx, rate limit, no
credit). Once a create may have reached a provider (a timeout, a cut connection, an
unreadable success, or any earlier try), the request stays with that provider, which dedupes
by our idempotency key: moving then could pay twice.

Every provider passed over is recorded in ``VideoRequest.provider_attempts``:
``{"provider", "outcome": "skipped" | "moved on", "code", "reason", "at"}``.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from ..conf import kling_settings
from ..exceptions import InvalidTransition, ProviderError
from ..models import Status, VideoRequest
from ..options import last_frame_with_sound, model_label
from ..providers import REGISTRY
from . import admission


def order() -> list[str]:
    """The providers a new request may go to, in turn."""
    return list(kling_settings.PROVIDERS_ORDER) or [kling_settings.PROVIDER]


def wanted_features(*, last_frame: bool, sound: bool) -> set[str]:
    """The provider features a request needs (see ``VideoProvider.FEATURES``)."""
    return {name for name, wanted in (("last_frame", last_frame), ("sound", sound)) if wanted}


def record(provider: str, outcome: str, code: str, reason: str) -> dict[str, Any]:
    return {"provider": provider, "outcome": outcome, "code": code, "reason": reason[:500],
            "at": timezone.now().isoformat()}


def default_model() -> str:
    """The model id of a request that names neither a model nor a provider."""
    name = order()[0]
    return REGISTRY[name].default_model(kling_settings.provider_options(name))


def cannot_do(provider: str, features: set[str], model: str = "") -> dict[str, Any] | None:
    """The skip record for ``provider`` if it lacks one of ``features``, cannot run
    ``model``, or cannot do the two features together on it (the model registry's
    ``last_frame_with_sound``), else None."""
    cls = REGISTRY[provider]
    missing = sorted(cls.missing_features(features))
    if model and not cls.runs_model(model, kling_settings.provider_options(provider)):
        missing.append(model)
    if missing:
        return record(provider, "skipped", "provider_unsupported_feature",
                      _("%(provider)s cannot do: %(features)s.")
                      % {"provider": provider, "features": ", ".join(missing)})
    if {"last_frame", "sound"} <= features and not last_frame_with_sound(model, provider):
        return record(provider, "skipped", code="last_frame_sound_unsupported", reason=_(
            "%(model)s on %(provider)s cannot make a clip with a last frame and sound "
            "together: turn sound off, leave out the last frame, or choose another provider.")
            % {"model": model_label(model), "provider": provider})
    return None


def first_provider(features: set[str], model: str = "") -> tuple[str | None,
                                                                  list[dict[str, Any]]]:
    """The first provider of the order that can do ``features`` and run ``model``, and the
    skipped ones."""
    skipped = []
    for name in order():
        refusal = cannot_do(name, features, model)
        if refusal is None:
            return name, skipped
        skipped.append(refusal)
    return None, skipped


def move_on(job: VideoRequest, exc: ProviderError, attempts: int) -> bool:
    """Send a submitting job to the next provider after ``exc``; False when it must stay.

    Only the first create on a provider can move on: a later one follows a try that may have
    been accepted (and will be found again by the idempotency key). Moving to a provider with a
    cap (``MAX_IN_FLIGHT``, or a 429's throttle) puts the job back in the queue, where that
    provider's admission starts it when it has room.
    """
    if not exc.fallback or attempts != 1:
        return False
    names = order()
    if job.provider not in names:
        return False
    tried = {entry.get("provider") for entry in job.provider_attempts} | {job.provider}
    features = wanted_features(last_frame=bool(job.last_frame_id), sound=job.generate_audio)
    passed = [record(job.provider, "moved on", exc.code, exc.message)]
    for name in names[names.index(job.provider) + 1:]:
        if name in tried or name not in REGISTRY:
            continue
        refusal = cannot_do(name, features, job.model)
        if refusal is not None:
            passed.append(refusal)
            continue
        options = kling_settings.provider_options(name)
        # The model id stays the one chosen (and priced); the provider speaks its own name.
        fields = {"provider": name, "protocol": str(options.get("PROTOCOL", "")),
                  "submit_attempts": 0, "error_streak": 0, "error_code": exc.code,
                  "error_message": exc.message[:2000],
                  "provider_attempts": [*job.provider_attempts, *passed]}
        if admission.limit(name) is None:
            return VideoRequest.objects.update_fields(job, expect=Status.SUBMITTING, **fields)
        # A capped provider: the job waits its turn there like a new one (the next submit
        # message asks admission), never sent past the cap.
        try:
            VideoRequest.objects.transition(job, Status.QUEUED, expect=Status.SUBMITTING,
                                            next_check_at=timezone.now(), **fields)
        except InvalidTransition:  # canceled meanwhile
            return False
        return True
    return False
