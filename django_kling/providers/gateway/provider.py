"""The gateway client: options, checks, callbacks, request building and transport.

Two protocols: ``async`` (v4 ``/video-model/start`` + ``/video-model/status`` with an
idempotency key, so a retried start is never billed twice) and ``stream`` (one long
server-sent-events call to ``/video-model``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Mapping
from typing import Any

import httpx
from django.core.checks import CheckMessage
from django.utils.crypto import constant_time_compare
from django.utils.translation import gettext as _

from ...conf import Secret, kling_settings
from ...exceptions import CallbackRefused, ProviderError
from .. import direct, json_body
from ..base import GenerationInput, JobStatus, Started, VideoProvider, check_callback_time
from ..bodies import IDENTITY, UnacceptableBody, iter_capped, read_capped
from ..inline import only_clips, read_json
from ..transport import connection_errors
from .body import build_body
from .options import OPTIONS, check_credentials, check_options, oidc_token
from .wire import (
    MAX_MESSAGE,
    PROTOCOL_VERSION,
    SIGNATURE_HEADER,
    as_dict,
    callback_signature,
    code_for_error,
    code_for_status,
    dicts_in,
    expected_seconds,
    generation_id,
    is_retryable_status,
    iter_sse_events,
    job_id,
    parse_retry_after,
    parse_signature_header,
    parse_status,
    parse_stream_event,
    reported_cost,
    signing_secret,
)

# The name users configure in LOGGING (docs/deployment.rst), whatever the module's path.
logger = logging.getLogger("django_kling.providers.gateway")

#: The team header of ``gateway-headers.ts`` (``VERCEL_AI_GATEWAY_TEAM_HEADER``).
TEAM_HEADER = "x-vercel-ai-gateway-team"
#: Largest error body read (the gateway's are a few hundred bytes).
MAX_ERROR_BODY = 64 * 1024
#: Room for the JSON around an inline clip in an answer (also the most of it kept in memory).
ANSWER_SLACK = 1024 * 1024


class GatewayProvider(VideoProvider):
    name = "gateway"
    FEATURES = frozenset({"webhooks", "idempotency"})
    RESULT_LIFETIME = "not documented"
    OPTIONS = OPTIONS

    @classmethod
    def default_model(cls, options: dict[str, Any]) -> str:
        # The gateway passes the model id on: its MODEL option is an id of MODELS.
        return str(options.get("MODEL") or super().default_model(options))

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
        body = build_body(job, self.options)
        if callback_url:
            body["callbackUrl"] = callback_url
        data = self._post_json(
            "/video-model/start", body, model=job.model,
            extra_headers={"idempotency-key": idempotency_key},
        )
        if not isinstance(data, dict) or data.get("operation") is None:
            raise self._bad_response("the start answer has no operation")
        metadata = as_dict(data.get("providerMetadata"))
        return Started(
            operation=data["operation"],
            # The job's own id is in providerMetadata.gateway.asyncJob (gateway tests' fixture).
            job_id=job_id(metadata) or self.operation_id(data["operation"]),
            generation_id=generation_id(metadata),
            signing_secret=signing_secret(metadata),
            warnings=dicts_in(data.get("warnings")),
            metadata=metadata,
            reported_cost=reported_cost(metadata),
            expected_seconds=expected_seconds(metadata),
        )

    def status(self, operation: Any, *, model: str = "") -> JobStatus:
        data = self._post_json("/video-model/status", {"operation": operation}, model=model)
        status = parse_status(data, provider=self.name)
        status.error = self.safe(status.error)  # provider text is stored and shown
        return status

    def generate(self, job: GenerationInput) -> JobStatus:
        deadline = time.monotonic() + float(self.options.get("STREAM_TIMEOUT", 900.0))
        try:
            with self._client.stream(
                "POST",
                self.base_url + "/video-model",
                headers=self.headers({"accept": "text/event-stream", **IDENTITY},
                                     model=job.model),
                content=json_body.dumps(build_body(job, self.options)),
            ) as response:
                if response.status_code >= 300:
                    raise self.error_from_response(response, self._read_error(response))
                events = iter_sse_events(iter_capped(response, self.answer_cap),
                                         deadline=deadline, string_cap=self.clip_cap,
                                         rest_cap=ANSWER_SLACK)
                for event in events:
                    try:
                        return parse_stream_event(event, provider=self.name)
                    except ProviderError as exc:  # its text is stored and shown: redacted
                        raise ProviderError(
                            self.safe(exc.message), code=exc.code, status=exc.status,
                            retryable=exc.retryable, provider=self.name,
                            generation_id=exc.generation_id) from None
        except UnacceptableBody as exc:
            raise self._unacceptable(exc) from None
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
        return check_options(cls.name, options)

    @classmethod
    def check_deploy(cls, options: dict[str, Any]) -> list[CheckMessage]:
        return check_credentials(cls.name, options)

    @classmethod
    def verify_callback(cls, headers: Mapping[str, str], body: bytes, secret: str, *,
                        tolerance: float) -> str:
        """``x-ai-gateway-signature: t=<unix>,v1=<sig>[,v1=...]`` must sign this body, recently.

        Any one ``v1`` may match (several are sent while a secret rotates); see
        ``wire.callback_signature`` for the signed string, a working assumption. The key
        returned is a hash of the body, not of the signature: the gateway re-signs a resent
        delivery with a new timestamp, and the same event must count once.
        """
        timestamp, signatures = parse_signature_header(headers.get(SIGNATURE_HEADER, ""))
        if not signatures:
            raise CallbackRefused(code="no signature")
        check_callback_time(timestamp, tolerance)
        expected = callback_signature(secret, timestamp, body)
        # Compare against every value (no early exit), each in constant time.
        if not sum(constant_time_compare(expected, sent) for sent in signatures):
            raise CallbackRefused(code="bad signature")
        return hashlib.sha256(body).hexdigest()

    # -- request building ---------------------------------------------------------------------

    def credentials(self) -> tuple[str, str]:
        """``(token, auth method)``: the API key, else the Vercel OIDC token (read now)."""
        if self.api_key:
            return Secret(self.api_key), "api-key"
        token = oidc_token()
        if token:
            return Secret(token), "oidc"
        # Checked here, when a job is sent, and by ``check --deploy``: a build without
        # secrets (migrate, collectstatic) must not need the key.
        raise ProviderError(
            _("No API key is configured for the gateway: set the AI_GATEWAY_API_KEY "
              "environment variable or DJANGO_KLING['PROVIDERS']['gateway']['API_KEY'] "
              "(or run on Vercel, where VERCEL_OIDC_TOKEN is used)."),
            code="provider_no_credentials", provider=self.name)

    def headers(self, extra: dict[str, str] | None = None, *, model: str = "") -> dict[str, str]:
        token, method = self.credentials()
        headers = {
            "authorization": Secret(f"Bearer {token}"),  # its repr() hides it
            "ai-gateway-protocol-version": PROTOCOL_VERSION,
            "ai-gateway-auth-method": method,
            "ai-model-id": model or self.model,
            "ai-video-model-specification-version": self.spec_version,
            "content-type": "application/json",
        }
        if self.options.get("TEAM_ID"):
            headers[TEAM_HEADER] = str(self.options["TEAM_ID"])
        headers.update(extra or {})
        return headers

    # -- transport ----------------------------------------------------------------------------

    @property
    def answer_cap(self) -> int:
        """Largest answer read: a clip can come inline as base64 (4 bytes per 3)."""
        return int(kling_settings.MAX_DOWNLOAD_BYTES) * 4 // 3 + ANSWER_SLACK

    @property
    def clip_cap(self) -> int:
        """Longest base64 text of a clip sent inline: a clip of MAX_DOWNLOAD_BYTES, padded."""
        return self.answer_cap - ANSWER_SLACK + 4

    def _post_json(self, path: str, body: dict[str, Any], *, model: str = "",
                   extra_headers=None) -> Any:
        with connection_errors(self._transport_error):
            try:
                with direct.stream(
                    self._client, "POST",
                    self.base_url + path,
                    headers=self.headers({**IDENTITY, **(extra_headers or {})}, model=model),
                    content=json_body.dumps(body),
                ) as response:
                    status = response.status_code
                    if status >= 300:
                        error = self.error_from_response(response, self._read_error(response))
                        # An error answer means the gateway took no job (fallback: start only).
                        error.fallback = status == 429 or status >= 500
                        raise error
                    # Streamed: a clip sent inline goes to a temporary file as it arrives.
                    data = read_json(iter_capped(response, self.answer_cap),
                                     string_cap=self.clip_cap,
                                     rest_cap=ANSWER_SLACK)
            except UnacceptableBody as exc:
                raise self._unacceptable(exc) from None
            except ValueError:
                raise self._bad_response("the answer is not valid JSON") from None
        return only_clips(data)

    def _read_error(self, response: httpx.Response) -> bytes:
        # An error body is a short JSON object; a larger or encoded one is "unreadable".
        try:
            return read_capped(response, MAX_ERROR_BODY)
        except UnacceptableBody:
            return b""

    def _unacceptable(self, exc: UnacceptableBody) -> ProviderError:
        # Neither gets better by asking again: the job fails with the reason.
        if exc.encoding:
            error = self._bad_response(
                f"it is compressed ({exc.encoding[:40]}) although none was asked for")
            error.retryable = False
            return error
        # The job may be finished and billed: say so, and which limit refused it.
        return ProviderError(
            _("The clip sent inline is larger than the %(mib)s MiB download limit "
              "(MAX_DOWNLOAD_BYTES); it was refused while being read and not stored. The "
              "provider may have billed it: raise the limit and retry if you trust it.")
            % {"mib": int(kling_settings.MAX_DOWNLOAD_BYTES) // 2**20},
            code="download_too_large", status=502, retryable=False, provider=self.name)

    def error_from_response(self, response: httpx.Response, body: bytes) -> ProviderError:
        """The error of a non-2xx answer, mapped as ``errors/create-gateway-error.ts`` maps it.

        The HTTP status is kept whatever the body (a proxy's HTML 401 stays final, its 503
        retryable), and so is the top-level ``generationId``.
        """
        status = response.status_code
        retry_after = parse_retry_after(response.headers)
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            payload = None
        error = as_dict(payload.get("error")) if isinstance(payload, dict) else {}
        support_id = payload.get("generationId") if isinstance(payload, dict) else None
        support_id = support_id[:200] if isinstance(support_id, str) else ""
        if not isinstance(error.get("message"), str):
            # Not the gateway's error shape: a proxy or a broken answer.
            return ProviderError(
                f"The gateway answered HTTP {status} with an unreadable body.",
                code=code_for_status(status), status=status,
                retryable=is_retryable_status(status), retry_after=retry_after,
                provider=self.name, generation_id=support_id)
        return ProviderError(
            self.safe(error["message"]) or f"The gateway answered HTTP {status}.",
            code=code_for_error(str(error.get("type") or ""), status),
            status=status,
            retryable=is_retryable_status(status),
            retry_after=retry_after,
            provider=self.name,
            generation_id=support_id,
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
        for secret in (self.api_key, oidc_token()):
            if secret and len(secret) >= 4:
                text = text.replace(secret, "[redacted]")
        return text[:MAX_MESSAGE]
