"""Fallback between providers of the same model (``PROVIDERS_ORDER``), never paying twice.

A new request goes to the first provider of the order that can do what it asks for (its
duration, a last frame, sound, voices: the capability registry, ``options.routes``) and run its
model id; the others are recorded as skipped, with the reason. A
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

from ..conf import kling_settings
from ..exceptions import InvalidTransition, ProviderError
from ..models import Status, VideoRequest
from ..options.routes import Wanted, refusal
from ..options.shots import wanted_of as shots_wanted
from ..providers import REGISTRY
from ..request_shots import shots_of
from ..voices import voice_providers, voices_of
from . import admission


def order() -> list[str]:
    """The providers a new request may go to, in turn."""
    return list(kling_settings.PROVIDERS_ORDER) or [kling_settings.PROVIDER]


def wanted_of(job: VideoRequest) -> Wanted:
    """What a stored request asks of its route."""
    voices = voices_of(job)
    return Wanted(duration=job.duration, mode=job.mode, sound=job.generate_audio,
                  last_frame=bool(job.last_frame_id), language=job.language,
                  voices=len(voices), voice_providers=voice_providers(voices),
                  **shots_wanted(shots_of(job)))


def record(provider: str, outcome: str, code: str, reason: str) -> dict[str, Any]:
    return {"provider": provider, "outcome": outcome, "code": code, "reason": reason[:500],
            "at": timezone.now().isoformat()}


def default_model() -> str:
    """The model id of a request that names neither a model nor a provider."""
    name = order()[0]
    return REGISTRY[name].default_model(kling_settings.provider_options(name))


def cannot_do(provider: str, wanted: Wanted, model: str) -> dict[str, Any] | None:
    """The skip record for ``provider`` if the capability registry says it cannot make
    ``wanted`` with ``model`` (``routes.refusal``), else None."""
    refused = refusal(model, provider, wanted)
    if refused is None:
        return None
    # The field to change goes with the record, for a refusal shown on a form.
    return {**record(provider, "skipped", refused.code, refused.message),
            "field": refused.field}


def first_provider(wanted: Wanted, model: str) -> tuple[str | None, list[dict[str, Any]]]:
    """The first provider of the order that can make ``wanted`` with ``model``, and the
    skipped ones."""
    skipped = []
    for name in order():
        refused = cannot_do(name, wanted, model)
        if refused is None:
            return name, skipped
        skipped.append(refused)
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
    wanted = wanted_of(job)
    passed = [record(job.provider, "moved on", exc.code, exc.message)]
    for name in names[names.index(job.provider) + 1:]:
        if name in tried or name not in REGISTRY:
            continue
        refused = cannot_do(name, wanted, job.model)
        if refused is not None:
            passed.append(refused)
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
