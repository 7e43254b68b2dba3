"""Vercel AI Gateway client for ``klingai/kling-v2.6-i2v`` (see shared protocol notes, §1).

Two protocols: ``async`` (v4 ``/video-model/start`` + ``/video-model/status`` with an
idempotency key, so a retried start is never billed twice) and ``stream`` (one long
server-sent-events call to ``/video-model``). Every answer is parsed defensively: whatever bytes
come back, the caller sees a ``JobStatus``/``Started`` or a ``ProviderError``, nothing else.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import httpx
from django.utils.translation import gettext as _

from ..exceptions import ProviderError
from .base import GenerationInput, ImageInput, JobStatus, Started, VideoOutput, VideoProvider

logger = logging.getLogger("django_kling.providers.gateway")

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


class GatewayProvider(VideoProvider):
    name = "gateway"

    def __init__(self, options: dict[str, Any], *, transport: httpx.BaseTransport | None = None):
        super().__init__(options)
        self.base_url = str(options["BASE_URL"]).rstrip("/")
        self.api_key = str(options.get("API_KEY") or "")
        self.spec_version = "4" if self.base_url.endswith("/v4/ai") else "3"
        timeout = float(options.get("TIMEOUT", 30.0))
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            transport=transport,
            follow_redirects=False,
        )

    # -- public API ---------------------------------------------------------------------------

    def start(
        self, job: GenerationInput, *, idempotency_key: str, callback_url: str | None = None
    ) -> Started:
        body = self.build_body(job)
        if callback_url:
            body["callbackUrl"] = callback_url
        data = self._post_json(
            "/video-model/start", body, extra_headers={"idempotency-key": idempotency_key}
        )
        if not isinstance(data, dict) or data.get("operation") is None:
            raise self._bad_response("the start answer has no operation")
        return Started(
            operation=data["operation"],
            warnings=_list_of_dicts(data.get("warnings")),
            metadata=_dict(data.get("providerMetadata")),
        )

    def status(self, operation: Any) -> JobStatus:
        data = self._post_json("/video-model/status", {"operation": operation})
        return parse_status(data, provider=self.name)

    def generate(self, job: GenerationInput) -> JobStatus:
        deadline = time.monotonic() + float(self.options.get("STREAM_TIMEOUT", 900.0))
        try:
            with self._client.stream(
                "POST",
                self.base_url + "/video-model",
                headers=self.headers({"accept": "text/event-stream"}),
                content=json.dumps(self.build_body(job)).encode(),
            ) as response:
                if response.status_code >= 300:
                    response.read()
                    raise self.error_from_response(response)
                for event in iter_sse_data(response.iter_lines(), deadline):
                    return parse_stream_event(event, provider=self.name)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            # Nothing reached the gateway: safe to try again.
            raise self._transport_error("provider_unreachable", "could not be reached",
                                        exc) from None
        except httpx.TransportError as exc:
            # The request went out, so the job may run (and be billed) without us: a blind
            # retry could pay twice.
            error = self._transport_error("provider_stream_cut", "stream broke off", exc)
            error.retryable = False
            raise error from None
        # The stream ended without its data event: the job may have run (and been billed), so
        # the caller must not resend it blindly.
        raise ProviderError(
            "The gateway closed the stream before sending a result.",
            code="provider_stream_cut",
            status=502,
            retryable=False,
            provider=self.name,
        )

    def operation_id(self, operation: Any) -> str:
        if isinstance(operation, dict):
            for key in ("gatewayJobId", "id", "jobId", "taskId"):
                if operation.get(key):
                    return str(operation[key])[:200]
        return json.dumps(operation, sort_keys=True, default=str)[:200]

    def close(self) -> None:
        self._client.close()

    # -- request building ---------------------------------------------------------------------

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        if not self.api_key:
            # Checked here, when a job is sent, and by ``check --deploy``: a build without
            # secrets (migrate, collectstatic) must not need the key.
            raise ProviderError(
                _("No API key is configured for the gateway: set the AI_GATEWAY_API_KEY "
                  "environment variable or DJANGO_KLING['PROVIDERS']['gateway']['API_KEY']."),
                code="provider_no_credentials", provider=self.name)
        headers = {
            "authorization": f"Bearer {self.api_key}",
            "ai-gateway-protocol-version": PROTOCOL_VERSION,
            "ai-gateway-auth-method": "api-key",
            "ai-model-id": self.model,
            "ai-video-model-specification-version": self.spec_version,
            "content-type": "application/json",
        }
        headers.update(extra or {})
        return headers

    def build_body(self, job: GenerationInput) -> dict[str, Any]:
        first = image_json(job.first_frame)
        frames = [{"frameType": "first_frame", "image": first}]
        if job.last_frame is not None:
            frames.append({"frameType": "last_frame", "image": image_json(job.last_frame)})
        klingai: dict[str, Any] = {"mode": job.mode}
        if job.negative_prompt:
            klingai["negativePrompt"] = job.negative_prompt
        body: dict[str, Any] = {
            "n": 1,
            "duration": job.duration,
            "generateAudio": job.generate_audio,
            "image": first,
            "frameImages": frames,
            "providerOptions": {"klingai": klingai},
        }
        if job.prompt:
            body["prompt"] = job.prompt
        # The image was cropped to the chosen aspect already; for image-to-video the gateway
        # only answers aspectRatio with an "unsupported" warning, so it is sent only on request.
        if job.aspect_ratio:
            body["aspectRatio"] = job.aspect_ratio
        if job.seed is not None:
            body["seed"] = job.seed
        return body

    # -- transport ----------------------------------------------------------------------------

    def _post_json(self, path: str, body: dict[str, Any], *, extra_headers=None) -> Any:
        try:
            response = self._client.post(
                self.base_url + path,
                headers=self.headers(extra_headers),
                content=json.dumps(body).encode(),
            )
        except httpx.TimeoutException as exc:
            raise self._transport_error("provider_timeout", "timed out", exc) from None
        except httpx.TransportError as exc:
            raise self._transport_error("provider_unreachable", "could not be reached",
                                        exc) from None
        if response.status_code >= 300:
            raise self.error_from_response(response)
        try:
            return response.json()
        except (ValueError, UnicodeDecodeError):
            raise self._bad_response("the answer is not valid JSON") from None

    def error_from_response(self, response: httpx.Response) -> ProviderError:
        status = response.status_code
        retry_after = parse_retry_after(response.headers)
        try:
            payload = response.json()
            error = payload["error"]
            message = str(error.get("message") or "")
            error_type = str(error.get("type") or "")
        except (ValueError, UnicodeDecodeError, KeyError, TypeError, AttributeError):
            # Not the gateway's error shape: a proxy or a broken answer; worth another try.
            return ProviderError(
                f"The gateway answered HTTP {status} with an unreadable body.",
                code="provider_bad_response",
                status=502 if status < 500 else status,
                retryable=True,
                retry_after=retry_after,
                provider=self.name,
            )
        code = ERROR_TYPES.get(error_type, (status, STATUS_CODES.get(status, "provider_error")))[1]
        return ProviderError(
            self.safe(message) or f"The gateway answered HTTP {status}.",
            code=code,
            status=status,
            retryable=is_retryable_status(status),
            retry_after=retry_after,
            provider=self.name,
        )

    def _transport_error(self, code: str, what: str, exc: Exception) -> ProviderError:
        logger.warning("gateway %s: %s", what, type(exc).__name__)
        return ProviderError(
            f"The gateway {what} ({type(exc).__name__}).",
            code=code,
            retryable=True,
            provider=self.name,
        )

    def _bad_response(self, why: str) -> ProviderError:
        return ProviderError(
            f"The gateway sent an unexpected answer: {why}.",
            code="provider_bad_response",
            status=502,
            retryable=True,
            provider=self.name,
        )

    def safe(self, text: str) -> str:
        """Provider text made safe to store and show: no secret, bounded length."""
        if self.api_key and len(self.api_key) >= 4:
            text = text.replace(self.api_key, "[redacted]")
        return text[:MAX_MESSAGE]


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
        warnings=_list_of_dicts(event.get("warnings")),
        metadata=_dict(event.get("providerMetadata")),
    )


def parse_status(data: Any, *, provider: str = "gateway") -> JobStatus:
    if not isinstance(data, dict):
        raise ProviderError("The gateway's status answer is not an object.",
                            code="provider_bad_response", status=502, retryable=True,
                            provider=provider)
    state = data.get("status")
    common = {
        "warnings": _list_of_dicts(data.get("warnings")),
        "metadata": _dict(data.get("providerMetadata")),
    }
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


def cost_from_metadata(metadata: dict[str, Any]) -> str | None:
    """The cost the gateway reports in ``providerMetadata.gateway.cost``, if any."""
    gateway = metadata.get("gateway") if isinstance(metadata, dict) else None
    cost = gateway.get("cost") if isinstance(gateway, dict) else None
    return str(cost) if isinstance(cost, (int, float, str)) and str(cost) else None


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list_of_dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []
