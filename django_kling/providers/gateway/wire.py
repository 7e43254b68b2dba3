"""The gateway's wire format: error types, retry hints, callback signatures, answer parsing.

Module level, without a client, so property tests can throw any bytes at the parsers: whatever
comes back, the caller sees a ``JobStatus`` or a ``ProviderError``, nothing else. The format is
the AI SDK's gateway provider (``@ai-sdk/gateway``); ``docs/providers.rst`` lists what is used.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from ...exceptions import ProviderError
from ..base import ImageInput, JobStatus, VideoOutput

PROTOCOL_VERSION = "0.0.1"
MAX_MESSAGE = 1000

# Gateway error type -> (HTTP status, our error code); unknown types count as server errors.
ERROR_TYPES: dict[str, tuple[int, str]] = {
    "invalid_request_error": (400, "provider_invalid_request"),
    "authentication_error": (401, "provider_auth"),
    "forbidden": (403, "provider_forbidden"),
    "model_not_found": (404, "provider_model_not_found"),
    "failed_dependency": (424, "provider_failed_dependency"),
    "rate_limit_exceeded": (429, "provider_rate_limited"),
    "internal_server_error": (500, "provider_server_error"),
}
STATUS_CODES = {status: code for status, code in ERROR_TYPES.values()}
RETRYABLE_STATUSES = frozenset({408, 409, 429})


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
    """How the gateway signs a callback: HMAC-SHA256 of ``<timestamp>.<body>``, in hex."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body,
                    hashlib.sha256).hexdigest()


# -- parsing (module level so property tests can throw any bytes at it) ------------------------


def image_json(image: ImageInput) -> dict[str, Any]:
    if image.url:
        return {"type": "url", "url": image.url}
    return {
        "type": "file",
        "mediaType": image.media_type,
        "data": base64.b64encode(image.data or b"").decode("ascii"),
    }


def iter_sse_data(lines: Iterator[str], deadline: float | None = None) -> Iterator[Any]:
    """Yield the parsed JSON of each ``data:`` event; comment lines are heartbeats."""
    data: list[str] = []
    for line in lines:
        if deadline is not None and time.monotonic() > deadline:
            raise ProviderError("The gateway took longer than the stream timeout.",
                                code="provider_timeout", retryable=False, provider="gateway")
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


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise ProviderError("The gateway sent an event that is not valid JSON.",
                            code="provider_bad_response", status=502, retryable=False,
                            provider="gateway") from None


def parse_stream_event(event: Any, *, provider: str = "gateway") -> JobStatus:
    if not isinstance(event, dict):
        raise ProviderError("The gateway sent an event that is not an object.",
                            code="provider_bad_response", status=502, provider=provider)
    if event.get("type") == "error":
        status = _int(event.get("statusCode")) or 500
        error_type = str(event.get("errorType") or "")
        code = ERROR_TYPES.get(error_type, (status, STATUS_CODES.get(status, "provider_error")))[1]
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
        return JobStatus(state="completed",
                         videos=parse_videos(data.get("videos"), provider=provider), **common)
    if state == "error":
        message = str(data.get("error") or "The provider reported an error.")[:MAX_MESSAGE]
        return JobStatus(state="error", error=message, **common)
    if state == "cancelled":
        return JobStatus(state="cancelled", error="The provider cancelled the job.", **common)
    raise ProviderError(f"The gateway reported an unknown status {str(state)[:40]!r}.",
                        code="provider_bad_response", status=502, retryable=True,
                        provider=provider)


def parse_videos(videos: Any, *, provider: str = "gateway") -> list[VideoOutput]:
    if not isinstance(videos, list) or not videos:
        raise ProviderError("The provider reported success but sent no video.",
                            code="provider_no_video", status=502, provider=provider)
    parsed = []
    for video in videos:
        if not isinstance(video, dict):
            continue
        kind = video.get("type")
        media_type = str(video.get("mediaType") or "video/mp4")
        if kind == "url" and isinstance(video.get("url"), str) and video["url"]:
            parsed.append(VideoOutput(kind="url", media_type=media_type, url=video["url"]))
        elif kind == "base64" and isinstance(video.get("data"), str):
            parsed.append(VideoOutput(kind="base64", media_type=media_type, data=video["data"]))
        elif kind == "uploaded":
            parsed.append(VideoOutput(kind="uploaded", media_type=media_type))
    if not parsed:
        raise ProviderError("The provider sent a video in a form we do not know.",
                            code="provider_no_video", status=502, provider=provider)
    return parsed


def _answer(data: dict[str, Any]) -> dict[str, Any]:
    """The normalized fields every answer carries (see ``base.Answer``)."""
    metadata = as_dict(data.get("providerMetadata"))
    return {"warnings": dicts_in(data.get("warnings")), "metadata": metadata,
            "reported_cost": reported_cost(metadata)}


def _gateway_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    return as_dict(metadata.get("gateway")) if isinstance(metadata, dict) else {}


def reported_cost(metadata: dict[str, Any]) -> Decimal | None:
    """The cost the gateway reports in ``providerMetadata.gateway.cost``, if any."""
    cost = _gateway_metadata(metadata).get("cost")
    if not isinstance(cost, (int, float, str)) or not str(cost):
        return None
    with contextlib.suppress(InvalidOperation, ValueError):
        return Decimal(str(cost)).quantize(Decimal("0.001"))
    return None


def signing_secret(metadata: dict[str, Any]) -> str | None:
    """The callback signing secret in ``providerMetadata.gateway.webhookSigningSecret``."""
    secret = _gateway_metadata(metadata).get("webhookSigningSecret")
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
