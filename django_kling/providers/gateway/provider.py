"""The gateway client: options, checks, callbacks, request building and transport.

Two protocols: ``async`` (v4 ``/video-model/start`` + ``/video-model/status`` with an
idempotency key, so a retried start is never billed twice) and ``stream`` (one long
server-sent-events call to ``/video-model``).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping
from typing import Any

import httpx
from django.core.checks import CheckMessage, Error
from django.utils.crypto import constant_time_compare
from django.utils.translation import gettext as _

from ...conf import SETTING_NAME, Setting
from ...exceptions import CallbackRefused, ProviderError
from ..base import GenerationInput, JobStatus, Started, VideoProvider
from .wire import (
    ERROR_TYPES,
    MAX_MESSAGE,
    PROTOCOL_VERSION,
    STATUS_CODES,
    as_dict,
    callback_signature,
    dicts_in,
    image_json,
    is_retryable_status,
    iter_sse_data,
    parse_retry_after,
    parse_status,
    parse_stream_event,
    reported_cost,
    signing_secret,
)

# The name users configure in LOGGING (docs/deployment.rst), whatever the module's path.
logger = logging.getLogger("django_kling.providers.gateway")

GATEWAY_V4_URL = "https://ai-gateway.vercel.sh/v4/ai"
KLING_MODEL_ID = "klingai/kling-v2.6-i2v"
PROTOCOLS = ("async", "stream")


def _api_key_from_environment() -> str | None:
    """env AI_GATEWAY_API_KEY (None when unset), read when the settings are loaded."""
    return os.environ.get("AI_GATEWAY_API_KEY") or None


class GatewayProvider(VideoProvider):
    name = "gateway"
    OPTIONS = (
        Setting("API_KEY", _api_key_from_environment,
                "Gateway API key. Default: env AI_GATEWAY_API_KEY."),
        Setting("BASE_URL", GATEWAY_V4_URL, "Gateway base URL, ending in /v3/ai or /v4/ai."),
        Setting("MODEL", KLING_MODEL_ID, "Model id sent in the ai-model-id header."),
        Setting(
            "PROTOCOL",
            "async",
            '"async": v4 start/status with an idempotency key (never billed twice); '
            '"stream": one long server-sent-events call.',
        ),
        Setting("TIMEOUT", 30.0, "Seconds allowed for one start or status call."),
        Setting("STREAM_TIMEOUT", 900.0, "Seconds allowed for a whole streaming call."),
    )

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
        metadata = as_dict(data.get("providerMetadata"))
        return Started(
            operation=data["operation"],
            generation_id=self.operation_id(data["operation"]),
            signing_secret=signing_secret(metadata),
            warnings=dicts_in(data.get("warnings")),
            metadata=metadata,
            reported_cost=reported_cost(metadata),
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

    # -- options and callbacks ----------------------------------------------------------------

    @classmethod
    def check(cls, options: dict[str, Any]) -> list[CheckMessage]:
        errors: list[CheckMessage] = []
        if options.get("PROTOCOL") not in PROTOCOLS:
            errors.append(Error(
                f"Unknown protocol {options.get('PROTOCOL')!r}.",
                hint='Use "async" (recommended) or "stream".',
                id="django_kling.E006",
            ))
        elif options["PROTOCOL"] == "async" and not str(options["BASE_URL"]).rstrip(
                "/").endswith("/v4/ai"):
            errors.append(Error(
                "The async protocol needs the gateway's v4 base URL.",
                hint='Use a BASE_URL ending in "/v4/ai", or PROTOCOL "stream".',
                id="django_kling.E007",
            ))
        return errors

    @classmethod
    def check_deploy(cls, options: dict[str, Any]) -> list[CheckMessage]:
        if options.get("API_KEY"):
            return []
        return [Error(
            f"No API key for the {cls.name!r} provider: every job would fail when it is sent.",
            hint="Set the AI_GATEWAY_API_KEY environment variable or "
                 f"{SETTING_NAME}['PROVIDERS']['{cls.name}']['API_KEY'].",
            id="django_kling.E003",
        )]

    @classmethod
    def verify_callback(cls, headers: Mapping[str, str], body: bytes, secret: str, *,
                        tolerance: float) -> str:
        """``x-signature`` must sign ``<x-timestamp>.<body>``, the timestamp be recent.

        The signature itself is the delivery's key: a replay repeats it.
        """
        timestamp = headers.get("x-timestamp", "")
        sent = headers.get("x-signature", "")
        try:
            age = abs(time.time() - int(timestamp))
        except ValueError:
            raise CallbackRefused(code="no timestamp") from None
        if age > tolerance:
            raise CallbackRefused(code="stale timestamp")
        if not sent or not constant_time_compare(sent, callback_signature(secret, timestamp,
                                                                          body)):
            raise CallbackRefused(code="bad signature")
        return sent

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
