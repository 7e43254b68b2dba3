"""fal.ai's queue for ``fal-ai/kling-video/v2.6/pro/image-to-video``.

Submit with ``POST {QUEUE_URL}/{ENDPOINT}`` (``Authorization: Key <FAL_KEY>``), then only ever
the ``status_url`` and ``response_url`` the submit answered with. fal documents no idempotency
key, so a submit whose answer was lost is never sent again (the job fails clearly instead of
paying twice). Webhooks (``?fal_webhook=``) are signed with ED25519 keys that fal publishes as
a JWKS; the key set is cached with an expiry, and any doubt refuses the call (polling goes on).
See ``docs/provider-fal.rst``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import httpx
from django.core.checks import CheckMessage, Error
from django.utils.crypto import constant_time_compare
from django.utils.translation import gettext as _

from ..conf import SETTING_NAME, Setting, kling_settings
from ..exceptions import CallbackRefused, ProviderError
from ..options.shots import SHOT_TYPE
from .base import (
    GenerationInput,
    ImageInput,
    JobStatus,
    PollingProvider,
    Started,
    VideoOutput,
    check_callback_time,
)
from .bodies import IDENTITY, read_capped
from .gateway.wire import parse_retry_after
from .json_body import Spliced
from .transport import MAX_MESSAGE, JsonTransport, as_dict, retryable_status

QUEUE_URL = "https://queue.fal.run"
ENDPOINT = "fal-ai/kling-video/v2.6/pro/image-to-video"
# UNVERIFIED: the address fal's docs give for the webhook keys.
JWKS_URL = "https://rest.alpha.fal.ai/.well-known/jwks.json"
PENDING = frozenset({"IN_QUEUE", "IN_PROGRESS"})
#: Sent when a request has no prompt: fal's API reference marks ``prompt`` required for this
#: endpoint. Neutral on purpose: the picture decides what the clip shows.
DEFAULT_PROMPT = ("The scene comes gently to life with subtle, natural motion and a slow "
                  "camera move; the subject stays as it is in the picture.")

logger = logging.getLogger("django_kling.providers.fal")


def _api_key_from_environment() -> str | None:
    return os.environ.get("FAL_KEY") or None


def data_uri(image: ImageInput) -> str | Spliced:
    """fal takes image URLs; inline bytes go as a ``data:`` URI (spliced, not escaped)."""
    if image.url:
        return image.url
    return image.base64_json(head=f"data:{image.media_type};base64,")


class FalProvider(PollingProvider):
    name = "fal"
    FEATURES = frozenset({"webhooks"})
    RESULT_LIFETIME = "not documented"
    OPTIONS = (
        Setting("API_KEY", _api_key_from_environment, "fal key (Authorization: Key). "
                "Default: env FAL_KEY."),
        Setting("QUEUE_URL", QUEUE_URL, "fal's queue base URL."),
        Setting("ENDPOINT", None, "The model endpoint on the queue for every model; None: the "
                "capability registry's endpoint for the request's model."),
        Setting("JWKS_URL", JWKS_URL, "Where fal publishes the keys that sign webhooks."),
        Setting("JWKS_TTL", 3600, "Seconds the fetched key set is trusted before refetching."),
        Setting("TIMEOUT", 30.0, "Seconds allowed for one submit, status or result call."),
        Setting("DEFAULT_PROMPT", DEFAULT_PROMPT,
                "Prompt sent for a request without one (fal requires a prompt); empty: such "
                "a request is refused before sending, and the fallback order moves on."),
    )

    def __init__(self, options: dict[str, Any], *, transport: httpx.BaseTransport | None = None):
        super().__init__(options)
        self.api_key = str(options.get("API_KEY") or "")
        self.http = JsonTransport(self.name, "fal", timeout=float(options.get("TIMEOUT", 30.0)),
                                  transport=transport, secrets=(self.api_key,))

    def provider_model(self, model: str) -> str:
        return str(self.options.get("ENDPOINT") or super().provider_model(model))

    def start(self, job: GenerationInput, *, idempotency_key: str,
              callback_url: str | None = None) -> Started:
        body: dict[str, Any] = {"start_image_url": data_uri(job.first_frame),
                                "duration": str(job.duration),
                                "generate_audio": job.generate_audio}
        warnings: list[dict[str, Any]] = []
        if job.shots:
            # fal-v3: multi_prompt, a list of KlingV3MultiPromptElement {prompt, duration
            # ("3".."15")}, and shot_type ("customize", its default); "Either prompt or
            # multi_prompt must be provided, but not both": no prompt.
            body["multi_prompt"] = [{"prompt": prompt, "duration": str(seconds)}
                                    for prompt, seconds in job.shots]
            body["shot_type"] = SHOT_TYPE
        else:
            body["prompt"], warnings = self._prompt(job)
        if job.negative_prompt:
            body["negative_prompt"] = job.negative_prompt
        if job.last_frame is not None:
            body["end_image_url"] = data_uri(job.last_frame)  # field name UNVERIFIED
        if job.voice_ids:
            body["voice_ids"] = list(job.voice_ids)[:2]
        url = f"{str(self.options['QUEUE_URL']).rstrip('/')}/{self.provider_model(job.model)}"
        if callback_url:
            url += "?" + urlencode({"fal_webhook": callback_url})
        try:
            data = as_dict(self._call("POST", url, body))
        except ProviderError as exc:
            # No idempotency key: a submit that may have been accepted is never resent.
            if exc.code in ("provider_timeout", "provider_bad_response") or (
                    exc.code == "provider_unreachable" and not exc.fallback):
                exc.retryable = False
            raise
        request_id = data.get("request_id")
        status_url, response_url = data.get("status_url"), data.get("response_url")
        if not all(isinstance(v, str) and v for v in (request_id, status_url, response_url)):
            # The job may exist, but without its URLs we cannot follow it: do not resend.
            error = self.http.bad_response("the submit answer lacks request_id or its URLs")
            error.retryable = False
            raise error
        operation = {"request_id": request_id, "status_url": status_url,
                     "response_url": response_url}
        return Started(operation=operation, job_id=request_id, generation_id=request_id,
                       signing_secret=request_id if callback_url else None,
                       metadata={"fal": {"request_id": request_id}}, warnings=warnings)

    def _prompt(self, job: GenerationInput) -> tuple[str, list[dict[str, Any]]]:
        """The prompt to send and the warnings it brings: fal refuses a submit without one
        (422), so an empty prompt becomes ``DEFAULT_PROMPT``; with no default, the request is
        refused here, before anything is sent, as a refusal the fallback order may pass on."""
        if job.prompt:
            return job.prompt, []
        default = str(self.options.get("DEFAULT_PROMPT") or "").strip()
        if not default:
            raise ProviderError(
                _("fal requires a prompt, and this request has none (no DEFAULT_PROMPT is "
                  "set for fal): write a prompt, or choose another provider."),
                code="provider_prompt_required", status=422, retryable=False, fallback=True,
                provider=self.name)
        return default, [{"type": "default_prompt", "message": _(
            "The request had no prompt; fal requires one, so its default prompt was sent: "
            "“%(prompt)s”.") % {"prompt": default}}]

    def status(self, operation: Any, *, model: str = "") -> JobStatus:
        operation = as_dict(operation)
        data = as_dict(self._call("GET", str(operation.get("status_url") or "")))
        state = data.get("status")
        if state in PENDING:
            return JobStatus(state="pending")
        if state != "COMPLETED":
            raise self.http.bad_response(f"unknown status {str(state)[:40]!r}")
        if data.get("error"):  # newer queue answers carry the failure here
            return JobStatus(state="error", error=str(data["error"])[:MAX_MESSAGE])
        try:
            result = as_dict(self._call("GET", str(operation.get("response_url") or "")))
        except ProviderError as exc:
            if exc.status in (400, 422):  # the request itself failed
                return JobStatus(state="error", error=exc.message)
            raise
        return self.result(result)

    def result(self, result: dict[str, Any]) -> JobStatus:
        video = as_dict(result.get("video"))
        if not isinstance(video.get("url"), str) or not video["url"]:
            raise ProviderError("fal reported success but sent no video.",
                                code="provider_no_video", status=502, provider=self.name)
        return JobStatus(state="completed", videos=[VideoOutput(
            kind="url", url=video["url"],
            media_type=str(video.get("content_type") or "video/mp4"))])

    def operation_id(self, operation: Any) -> str:
        return str(as_dict(operation).get("request_id") or operation)[:200]

    def close(self) -> None:
        self.http.close()

    # -- transport -----------------------------------------------------------------------------

    def _call(self, method: str, url: str, body: Any = None) -> Any:
        if not self.api_key:
            raise ProviderError(_("No API key is configured for fal: set the FAL_KEY "
                                  "environment variable."),
                                code="provider_no_credentials", provider=self.name)
        return self.http.call_returned_url(method, url, authorization=f"Key {self.api_key}",
                                           origin=str(self.options["QUEUE_URL"]),
                                           body=body, error_from=self._error_from)

    def _error_from(self, response: httpx.Response) -> ProviderError:
        status = response.status_code
        try:
            detail = response.json().get("detail")
        except (ValueError, UnicodeDecodeError, AttributeError):
            detail = None
        text = detail if isinstance(detail, str) else json.dumps(detail)[:300] if detail else ""
        code = {401: "provider_auth", 403: "provider_forbidden", 404: "provider_not_found",
                429: "provider_rate_limited"}.get(status, "provider_server_error"
                                                   if status >= 500 else
                                                   "provider_invalid_request")
        # fal answers an exhausted balance with 403 and says so (wording UNVERIFIED).
        if status in (402, 403) and "balance" in text.lower():
            code = "provider_quota"
        return ProviderError(
            self.http.safe(f"fal answered HTTP {status}. {text}".strip()), code=code,
            status=status, retryable=retryable_status(status),
            retry_after=parse_retry_after(response.headers), provider=self.name,
            fallback=status == 429 or status >= 500 or code == "provider_quota")

    # -- checks and callbacks --------------------------------------------------------------------

    @classmethod
    def check_deploy(cls, options: dict[str, Any]) -> list[CheckMessage]:
        if options.get("API_KEY"):
            return []
        return [Error(
            f"No API key for the {cls.name!r} provider: every job would fail when it is sent.",
            hint=f"Set FAL_KEY or {SETTING_NAME}['PROVIDERS']['{cls.name}']['API_KEY'].",
            id="django_kling.E003",
        )]

    @classmethod
    def verify_callback(cls, headers: Mapping[str, str], body: bytes, secret: str, *,
                        tolerance: float) -> str:
        """An ED25519 signature by one of fal's published keys (scheme UNVERIFIED).

        Signed: ``request id \\n user id \\n timestamp \\n sha256(body) hex``, from the
        ``x-fal-webhook-*`` headers; the request id must be this job's, in the header and in
        the body. The key is the signature: a replay repeats it.
        """
        request_id = headers.get("x-fal-webhook-request-id", "")
        user_id = headers.get("x-fal-webhook-user-id", "")
        timestamp = headers.get("x-fal-webhook-timestamp", "")
        signature = headers.get("x-fal-webhook-signature", "")
        check_callback_time(timestamp, tolerance)
        try:
            sent_id = json.loads(body).get("request_id")
            raw_signature = bytes.fromhex(signature)
        except (ValueError, AttributeError, UnicodeDecodeError):
            raise CallbackRefused(code="bad signature") from None
        if not (constant_time_compare(request_id, secret)
                and constant_time_compare(str(sent_id), secret)):
            raise CallbackRefused(code="bad signature")
        message = "\n".join((request_id, user_id, timestamp,
                             hashlib.sha256(body).hexdigest())).encode()
        options = kling_settings.provider_options(cls.name)
        if not JWKS.verify(str(options["JWKS_URL"]), float(options["JWKS_TTL"]), message,
                           raw_signature):
            raise CallbackRefused(code="bad signature")
        return "fal:" + signature


class KeySet:
    """fal's webhook keys, fetched from the JWKS URL and trusted for ``ttl`` seconds.

    A failed fetch is remembered too, for ``FAILURE_TTL`` seconds: while fal's key server is
    down (or the URL is wrong) every forged or genuine callback is refused at once instead of
    blocking a web worker on two fetches of up to ``TIMEOUT`` seconds each; polling finishes
    the jobs meanwhile.
    """

    #: A key set younger than this is not fetched again for an unknown signature, so forged
    #: calls cannot make us hammer fal's key server.
    MIN_REFRESH = 60.0
    #: Seconds a failed fetch is remembered (no keys: every call refused, none fetches).
    FAILURE_TTL = 60.0
    #: Largest key set read; a JWKS of a few keys is well under 10 KiB.
    MAX_BYTES = 64 * 1024
    #: Seconds one fetch may take.
    TIMEOUT = 10.0

    def __init__(self) -> None:
        # url -> (fetched at, trusted until, keys); all on the monotonic clock.
        self._keys: dict[str, tuple[float, float, list[Any]]] = {}
        self._lock = threading.Lock()

    def keys(self, url: str, ttl: float, *, refresh: bool = False) -> list[Any]:
        now = time.monotonic()
        with self._lock:
            cached = self._keys.get(url)
            if cached is not None and (cached[0] + self.MIN_REFRESH > now if refresh
                                       else cached[1] > now):
                return cached[2]
        keys = self._fetch(url)
        with self._lock:
            if keys is None and cached is not None and cached[2] and cached[1] > now:
                # A refresh that failed: the set we had is still trusted until its time.
                self._keys[url] = (now, cached[1], cached[2])
                return cached[2]
            self._keys[url] = (now, now + (ttl if keys is not None else self.FAILURE_TTL),
                               keys or [])
        return keys or []

    def _fetch(self, url: str) -> list[Any] | None:
        """The Ed25519 keys published at ``url``; None when they cannot be had."""
        try:
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

            # Streamed and capped: a key server (or whoever answers for it) cannot make the
            # web worker read an unbounded body.
            with httpx.stream("GET", url, timeout=self.TIMEOUT, headers=IDENTITY) as response:
                response.raise_for_status()
                raw = read_capped(response, self.MAX_BYTES)
            return [Ed25519PublicKey.from_public_bytes(
                base64.urlsafe_b64decode(key["x"] + "=" * (-len(key["x"]) % 4)))
                for key in json.loads(raw).get("keys", [])
                if isinstance(key, dict) and key.get("crv") == "Ed25519"
                and isinstance(key.get("x"), str)]
        except Exception:  # noqa: BLE001  (no keys, no trust: the call is refused)
            logger.warning("fal's webhook key set could not be fetched; callbacks are refused "
                           "for %s s (polling goes on)", int(KeySet.FAILURE_TTL))
            return None

    def verify(self, url: str, ttl: float, message: bytes, signature: bytes) -> bool:
        for refresh in (False, True):  # a rotated key: fetch the set once more
            for key in self.keys(url, ttl, refresh=refresh):
                try:
                    key.verify(signature, message)
                    return True
                except Exception:  # noqa: BLE001,S112  (InvalidSignature: try the next key)
                    continue
        return False

    def clear(self) -> None:
        with self._lock:
            self._keys.clear()


JWKS = KeySet()
