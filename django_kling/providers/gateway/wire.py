"""The gateway's wire format: error types, retry hints, callback signatures, answer parsing.

Sources (the AI SDK, ``vercel/ai``, ``packages/gateway/src``): the answer schemas of
``gateway-video-model.ts`` (video types ``url`` and ``base64`` only; status ``pending``,
``completed``, ``error``, ``cancelled``), the ``asyncJob`` fixtures of its tests, the error
mapping of ``errors/create-gateway-error.ts`` and the retry rule of ``errors/gateway-error.ts``.
The callback signature scheme is not published: see ``callback_signature``.

Module level, without a client, so property tests can throw any bytes at the parsers: whatever
comes back, the caller sees a ``JobStatus`` or a ``ProviderError``, nothing else. The format is
the AI SDK's gateway provider (``@ai-sdk/gateway``); ``docs/providers.rst`` lists what is used.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import time
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from ...exceptions import ProviderError
from ..base import ImageInput, JobStatus, VideoOutput
from ..bodies import UnacceptableBody
from ..inline import Spooled, iter_sse_json, only_clips

PROTOCOL_VERSION = "0.0.1"
MAX_MESSAGE = 1000

# Gateway error type -> (HTTP status, our error code); unknown types count as server errors.
ERROR_TYPES: dict[str, tuple[int, str]] = {
    "invalid_request_error": (400, "provider_invalid_request"),
    "authentication_error": (401, "provider_auth"),
    "forbidden": (403, "provider_forbidden"),
    "model_not_found": (404, "provider_model_not_found"),
    # An unknown async job id, for instance (errors/gateway-not-found-error.ts).
    "not_found": (404, "provider_not_found"),
    "failed_dependency": (424, "provider_failed_dependency"),
    "rate_limit_exceeded": (429, "provider_rate_limited"),
    "internal_server_error": (500, "provider_server_error"),
}
# Our code for an error answer by its HTTP status alone (a body that is not the gateway's error
# JSON, say a proxy's HTML page, or an unknown error type): the status is kept, as the AI SDK
# keeps it, so that a proxy's 401 stays final and its 503 stays retryable.
STATUS_CODES: dict[int, str] = {
    400: "provider_invalid_request",
    401: "provider_auth",
    403: "provider_forbidden",
    404: "provider_not_found",
    408: "provider_timeout",
    413: "provider_invalid_request",
    424: "provider_failed_dependency",
    429: "provider_rate_limited",
}
RETRYABLE_STATUSES = frozenset({408, 409, 429})
SIGNATURE_HEADER = "x-ai-gateway-signature"


def code_for_status(status: int) -> str:
    if status in STATUS_CODES:
        return STATUS_CODES[status]
    return "provider_server_error" if status >= 500 else "provider_error"


def code_for_error(error_type: str, status: int) -> str:
    """Our code for a gateway error type; unknown types by their HTTP status."""
    return ERROR_TYPES[error_type][1] if error_type in ERROR_TYPES else code_for_status(status)


def is_retryable_status(status: int) -> bool:
    return status in RETRYABLE_STATUSES or status >= 500


def parse_retry_after(headers: httpx.Headers | dict[str, str]) -> float | None:
    """Seconds from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date)."""
    value = headers.get("retry-after-ms")
    if value:
        try:
            return max(0.0, float(value) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError, IndexError, OverflowError):
            return None


def callback_signature(secret: str, timestamp: str, body: bytes) -> str:
    """One ``v1`` value of ``x-ai-gateway-signature``: hex HMAC-SHA256 of ``<t>.<raw body>``.

    WORKING ASSUMPTION. The header's shape, ``t=<unix seconds>,v1=<signature>``, is the AI
    SDK's (``gateway-video-model.test.ts``, ``handleWebhookOption``), but the signed string is
    not published; this is Stripe's scheme, which that header copies. If the gateway signs
    otherwise, only this function changes.
    """
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body,
                    hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int | str, body: bytes) -> str:
    """The whole ``x-ai-gateway-signature`` value for a delivery (what the sandbox sends)."""
    return f"t={timestamp},v1={callback_signature(secret, str(timestamp), body)}"


def parse_signature_header(value: str) -> tuple[str, list[str]]:
    """``t=1,v1=a,v1=b`` -> ``("1", ["a", "b"])``; several ``v1`` during a secret rotation."""
    timestamp = ""
    signatures: list[str] = []
    for part in value.split(","):
        key, _sep, item = part.strip().partition("=")
        if key == "t" and not timestamp:
            timestamp = item.strip()
        elif key == "v1" and item.strip():
            signatures.append(item.strip())
    return timestamp, signatures


# -- parsing (module level so property tests can throw any bytes at it) ------------------------


def image_json(image: ImageInput) -> dict[str, Any]:
    if image.url:
        return {"type": "url", "url": image.url}
    return {
        "type": "file",
        "mediaType": image.media_type,
        "data": image.base64_json(),
    }


def iter_sse_data(lines: Iterator[str], deadline: float | None = None) -> Iterator[Any]:
    """Yield the parsed JSON of each ``data:`` event; comment lines are heartbeats."""
    data: list[str] = []
    for line in lines:
        _check_deadline(deadline)
        if line == "":
            if data:
                yield _loads("\n".join(data))
                data = []
            continue
        if line.startswith(":"):
            continue
        if line.startswith("data:"):
            data.append(line[5:].lstrip(" "))
    if data:
        yield _loads("\n".join(data))


def iter_sse_events(chunks: Iterable[bytes], *, deadline: float | None, string_cap: int,
                    rest_cap: int) -> Iterator[Any]:
    """``iter_sse_data`` on the raw stream, with bounded memory: a clip sent inline in the
    event goes to a temporary file as it arrives (``inline.iter_sse_json``), one over
    ``string_cap`` is refused as soon as it passes it (``UnacceptableBody``)."""
    try:
        for event in iter_sse_json(chunks, string_cap=string_cap, rest_cap=rest_cap,
                                   tick=lambda: _check_deadline(deadline)):
            yield only_clips(event)
    except UnacceptableBody:
        raise
    except ValueError:
        raise _not_json() from None


def _check_deadline(deadline: float | None) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise ProviderError("The gateway took longer than the stream timeout.",
                            code="provider_timeout", retryable=False, provider="gateway")


def _not_json() -> ProviderError:
    return ProviderError("The gateway sent an event that is not valid JSON.",
                         code="provider_bad_response", status=502, retryable=False,
                         provider="gateway")


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise _not_json() from None


def parse_stream_event(event: Any, *, provider: str = "gateway") -> JobStatus:
    if not isinstance(event, dict):
        raise ProviderError("The gateway sent an event that is not an object.",
                            code="provider_bad_response", status=502, provider=provider)
    if event.get("type") == "error":
        status = _int(event.get("statusCode")) or 500
        error_type = str(event.get("errorType") or "")
        code = code_for_error(error_type, status)
        message = str(event.get("message") or "The gateway reported an error.")[:MAX_MESSAGE]
        raise ProviderError(message, code=code, status=status,
                            retryable=is_retryable_status(status), provider=provider)
    if event.get("type") != "result":
        raise ProviderError("The gateway sent an event of an unknown type.",
                            code="provider_bad_response", status=502, provider=provider)
    return JobStatus(
        state="completed",
        videos=parse_videos(event.get("videos"), provider=provider),
        **_answer(event),
    )


def parse_status(data: Any, *, provider: str = "gateway") -> JobStatus:
    if not isinstance(data, dict):
        raise ProviderError("The gateway's status answer is not an object.",
                            code="provider_bad_response", status=502, retryable=True,
                            provider=provider)
    state = data.get("status")
    common = _answer(data)
    if state == "pending":
        return JobStatus(state="pending", **common)
    if state == "completed":
        if isinstance(data.get("videos"), list) and not data["videos"]:
            # The job finished, but its result asset is gone (asyncJob.result.expiresAt).
            return JobStatus(state="expired", error=expiry_explanation(common["metadata"]),
                             **common)
        return JobStatus(state="completed",
                         videos=parse_videos(data.get("videos"), provider=provider), **common)
    if state == "error":
        message = str(data.get("error") or "The provider reported an error.")[:MAX_MESSAGE]
        return JobStatus(state="error", error=message, **common)
    if state == "cancelled":
        # The AI SDK's own words for it (gateway-video-model.ts, doStatus).
        return JobStatus(state="cancelled", error="Video generation was cancelled.", **common)
    raise ProviderError(f"The gateway reported an unknown status {str(state)[:40]!r}.",
                        code="provider_bad_response", status=502, retryable=True,
                        provider=provider)


def parse_videos(videos: Any, *, provider: str = "gateway") -> list[VideoOutput]:
    if not isinstance(videos, list) or not videos:
        raise ProviderError("The provider reported success but sent no video.",
                            code="provider_no_video", status=502, provider=provider)
    parsed = []
    kinds = []
    for video in videos:
        if not isinstance(video, dict):
            continue
        kind = video.get("type")
        kinds.append(str(kind)[:40])
        media_type = str(video.get("mediaType") or "video/mp4")
        if kind == "url" and isinstance(video.get("url"), str) and video["url"]:
            parsed.append(VideoOutput(kind="url", media_type=media_type, url=video["url"]))
        elif kind == "base64" and isinstance(video.get("data"), str):
            parsed.append(VideoOutput(kind="base64", media_type=media_type, data=video["data"]))
        elif kind == "base64" and isinstance(video.get("data"), Spooled):
            parsed.append(VideoOutput(kind="base64", media_type=media_type,
                                      spooled=video["data"]))
    if not parsed:
        # The gateway's schema knows "url" and "base64" only; anything else is a new format.
        shown = ", ".join(repr(kind) for kind in kinds) or "none"
        raise ProviderError(f"The provider sent a video in a form we do not know (type {shown}).",
                            code="provider_no_video", status=502, provider=provider)
    return parsed


def _answer(data: dict[str, Any]) -> dict[str, Any]:
    """The normalized fields every answer carries (see ``base.Answer``)."""
    metadata = as_dict(data.get("providerMetadata"))
    return {"warnings": dicts_in(data.get("warnings")), "metadata": metadata,
            "reported_cost": reported_cost(metadata), "generation_id": generation_id(metadata),
            "expected_seconds": expected_seconds(metadata)}


def expected_seconds(metadata: dict[str, Any]) -> float | None:
    """``providerMetadata.sandbox.expectedSeconds``: the sandbox's word on when the job ends
    (the real gateway says nothing of the kind: None)."""
    value = as_dict(metadata.get("sandbox")).get("expectedSeconds")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return min(max(float(value), 0.0), 3600.0) if value == value else None  # NaN: unknown


def _gateway_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    return as_dict(metadata.get("gateway")) if isinstance(metadata, dict) else {}


def _async_job(metadata: dict[str, Any]) -> dict[str, Any]:
    """``providerMetadata.gateway.asyncJob``: the job's id, status, secret and result."""
    return as_dict(_gateway_metadata(metadata).get("asyncJob"))


def generation_id(metadata: dict[str, Any]) -> str:
    """``providerMetadata.gateway.generationId``: the id the gateway's support asks for."""
    return _short_id(_gateway_metadata(metadata).get("generationId"))


def job_id(metadata: dict[str, Any]) -> str:
    """``providerMetadata.gateway.asyncJob.jobId``."""
    return _short_id(_async_job(metadata).get("jobId"))


def _short_id(value: Any) -> str:
    return value[:200] if isinstance(value, str) else ""


def expiry_explanation(metadata: dict[str, Any]) -> str:
    """Why a completed job has no video, from what the gateway said about its result.

    ``asyncJob.result.expiresAt`` is in the AI SDK's fixtures (unit unstated: seconds, or
    milliseconds when it is that large); a ``message`` there, if the gateway adds one, is kept.
    """
    result = as_dict(_async_job(metadata).get("result"))
    parts = ["The provider finished this job, but its result has expired and can no longer "
             "be downloaded."]
    expires = result.get("expiresAt")
    if isinstance(expires, (int, float)) and not isinstance(expires, bool) and expires > 0:
        seconds = expires / 1000 if expires > 1e11 else expires
        with contextlib.suppress(OverflowError, OSError, ValueError):
            when = datetime.fromtimestamp(seconds, tz=timezone.utc)
            parts.append(f"It expired at {when:%Y-%m-%d %H:%M} UTC.")
    for key in ("message", "reason"):
        if isinstance(result.get(key), str) and result[key].strip():
            parts.append(result[key].strip())
            break
    return " ".join(parts)[:MAX_MESSAGE]


def reported_cost(metadata: dict[str, Any]) -> Decimal | None:
    """The cost the gateway reports in ``providerMetadata.gateway.cost``, if any."""
    cost = _gateway_metadata(metadata).get("cost")
    if not isinstance(cost, (int, float, str)) or not str(cost):
        return None
    with contextlib.suppress(InvalidOperation, ValueError):
        return Decimal(str(cost)).quantize(Decimal("0.001"))
    return None


def signing_secret(metadata: dict[str, Any]) -> str | None:
    """The callback signing secret in ``providerMetadata.gateway.asyncJob.webhookSigningSecret``.

    Sent in the start answer when a ``callbackUrl`` was given (the AI SDK's ``start-video.ts``
    documents it there).
    """
    secret = _async_job(metadata).get("webhookSigningSecret")
    return secret if isinstance(secret, str) and secret else None


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return None


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def dicts_in(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []
