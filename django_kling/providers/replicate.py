"""Replicate's predictions for ``kwaivgi/kling-v2.6``.

``POST {BASE_URL}/models/{MODEL}/predictions`` without ``Prefer: wait`` (a worker never holds
a connection for minutes), then ``GET urls.get`` until ``succeeded``; the output URL lives one
hour, so the clip is fetched as soon as the prediction succeeds. Replicate has no idempotency
key: a create whose answer was lost is never sent again. Webhooks follow the Standard Webhooks
scheme, checked here with the standard library. See ``docs/provider-replicate.rst``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import threading
from collections.abc import Mapping
from typing import Any

import httpx
from django.core.checks import CheckMessage, Error
from django.utils.translation import gettext as _

from ..conf import SETTING_NAME, Setting
from ..exceptions import CallbackRefused, ProviderError
from .base import (
    GenerationInput,
    ImageInput,
    JobStatus,
    PollingProvider,
    Started,
    VideoOutput,
    check_callback_time,
)
from .fal import data_uri
from .gateway.wire import parse_retry_after
from .transport import MAX_MESSAGE, Files, JsonTransport, as_dict, retryable_status

BASE_URL = "https://api.replicate.com/v1"
MODEL = "kwaivgi/kling-v2.6"
PENDING = frozenset({"starting", "processing"})
#: Replicate's docs recommend data URIs only for files under 1 MB (measured on the URI);
#: larger frames are uploaded through its files API and named by URL.
INLINE_LIMIT = 1_000_000


def _token_from_environment() -> str | None:
    return os.environ.get("REPLICATE_API_TOKEN") or None


def standard_signature(secret: str, webhook_id: str, timestamp: str, body: bytes) -> str:
    """Standard Webhooks: base64 HMAC-SHA256 of ``id.timestamp.body`` with the secret's bytes
    (the part after ``whsec_``, base64-decoded)."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{webhook_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return base64.b64encode(digest.digest()).decode()


class ReplicateProvider(PollingProvider):
    name = "replicate"
    FEATURES = frozenset({"webhooks"})
    RESULT_LIFETIME = "1 hour"
    # The job records the model id editors chose; MODEL names it on Replicate (the registry
    # has Kling v2.6 only there).
    OPTIONS = (
        Setting("API_TOKEN", _token_from_environment,
                "Replicate API token (Bearer). Default: env REPLICATE_API_TOKEN."),
        Setting("BASE_URL", BASE_URL, "Replicate's API base URL."),
        Setting("MODEL", MODEL, "The model whose latest version runs the predictions."),
        Setting("WEBHOOK_SECRET", None, "The account's webhook signing secret; "
                "None: fetched once from GET /webhooks/default/secret."),
        Setting("TIMEOUT", 30.0, "Seconds allowed for one create or status call."),
    )

    def __init__(self, options: dict[str, Any], *, transport: httpx.BaseTransport | None = None):
        super().__init__(options)
        self.token = str(options.get("API_TOKEN") or "")
        self.base_url = str(options.get("BASE_URL") or BASE_URL).rstrip("/")
        self.http = JsonTransport(self.name, "Replicate",
                                  timeout=float(options.get("TIMEOUT", 30.0)),
                                  transport=transport, secrets=(self.token,))
        self._secret: str | None = options.get("WEBHOOK_SECRET") or None
        self._lock = threading.Lock()

    def start(self, job: GenerationInput, *, idempotency_key: str,
              callback_url: str | None = None) -> Started:
        if job.last_frame is not None:  # fallback never sends one here (FEATURES)
            raise ProviderError("Replicate's Kling model takes no last frame.",
                                code="provider_unsupported_feature", provider=self.name)
        # Input field names as the model page shows them (UNVERIFIED).
        model_input: dict[str, Any] = {"start_image": self.image_input(job.first_frame),
                                       "duration": job.duration,
                                       "generate_audio": job.generate_audio}
        if job.prompt:
            model_input["prompt"] = job.prompt
        if job.negative_prompt:
            model_input["negative_prompt"] = job.negative_prompt
        body: dict[str, Any] = {"input": model_input}
        secret = None
        if callback_url:
            secret = self.webhook_secret()
            body["webhook"] = callback_url
            body["webhook_events_filter"] = ["completed"]
        try:
            data = as_dict(self._call("POST", f"{self.base_url}/models/{self.model}/predictions",
                                      body))
        except ProviderError as exc:
            # No idempotency key: a create that may have been accepted is never resent.
            if exc.code in ("provider_timeout", "provider_bad_response") or (
                    exc.code == "provider_unreachable" and not exc.fallback):
                exc.retryable = False
            raise
        prediction_id, get = data.get("id"), as_dict(data.get("urls")).get("get")
        if not (isinstance(prediction_id, str) and prediction_id and isinstance(get, str)):
            error = self.http.bad_response("the prediction has no id or urls.get")
            error.retryable = False
            raise error
        return Started(operation={"id": prediction_id, "get": get}, job_id=prediction_id,
                       generation_id=prediction_id,
                       signing_secret=secret,
                       metadata={"replicate": {"id": prediction_id,
                                               "version": data.get("version")}})

    def image_input(self, image: ImageInput) -> str:
        """The frame as the model's input: its URL, a ``data:`` URI under 1 MB, or else the
        URL of the file uploaded through ``POST {BASE_URL}/files`` (multipart, part
        ``content``, as Replicate's own client sends it). An upload bills nothing, so its
        errors keep their usual retry and fallback."""
        inline = data_uri(image)
        if image.url or len(inline) < INLINE_LIMIT:
            return inline
        extension = {"image/png": "png", "image/jpeg": "jpg"}.get(image.media_type, "bin")
        answer = as_dict(self._call("POST", f"{self.base_url}/files", files={
            "content": (f"frame.{extension}", image.as_bytes(), image.media_type)}))
        url = as_dict(answer.get("urls")).get("get")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise self.http.bad_response("the file upload answer has no urls.get")
        return url

    def status(self, operation: Any, *, model: str = "") -> JobStatus:
        data = as_dict(self._call("GET", str(as_dict(operation).get("get") or "")))
        state = data.get("status")
        metadata = {"replicate": {key: data[key] for key in ("id", "status", "metrics")
                                  if key in data}}
        if state in PENDING:
            return JobStatus(state="pending", metadata=metadata)
        if state == "failed":
            return JobStatus(state="error", metadata=metadata, error=str(
                data.get("error") or "Replicate could not run the prediction.")[:MAX_MESSAGE])
        if state == "canceled":
            return JobStatus(state="cancelled", error="The prediction was canceled.",
                             metadata=metadata)
        if state != "succeeded":
            raise self.http.bad_response(f"unknown status {str(state)[:40]!r}")
        output = data.get("output")
        urls = [output] if isinstance(output, str) else [
            item for item in output if isinstance(item, str)] if isinstance(output, list) else []
        if not urls or not urls[0]:
            raise ProviderError("Replicate reported success but sent no video.",
                                code="provider_no_video", status=502, provider=self.name)
        return JobStatus(state="completed", videos=[VideoOutput(kind="url", url=urls[0])],
                         metadata=metadata)

    def operation_id(self, operation: Any) -> str:
        return str(as_dict(operation).get("id") or operation)[:200]

    def webhook_secret(self) -> str:
        """The account's signing secret: from the settings, or fetched once per client."""
        with self._lock:
            if self._secret is None:
                key = as_dict(self._call("GET", f"{self.base_url}/webhooks/default/secret")
                              ).get("key")
                if not isinstance(key, str) or not key.startswith("whsec_"):
                    raise self.http.bad_response("the webhook secret answer has no key")
                self._secret = key
            return self._secret

    def close(self) -> None:
        self.http.close()

    def _call(self, method: str, url: str, body: Any = None, files: Files | None = None) -> Any:
        if not self.token:
            raise ProviderError(_("No API token is configured for Replicate: set the "
                                  "REPLICATE_API_TOKEN environment variable."),
                                code="provider_no_credentials", provider=self.name)
        return self.http.call_returned_url(method, url, authorization=f"Bearer {self.token}",
                                           origin=self.base_url, body=body, files=files,
                                           error_from=self._error_from)

    def _error_from(self, response: httpx.Response) -> ProviderError:
        status = response.status_code
        try:
            detail = str(response.json().get("detail") or "")
        except (ValueError, UnicodeDecodeError, AttributeError):
            detail = ""
        code = {401: "provider_auth", 402: "provider_quota", 403: "provider_forbidden",
                404: "provider_not_found", 429: "provider_rate_limited"}.get(
            status, "provider_server_error" if status >= 500 else "provider_invalid_request")
        return ProviderError(
            self.http.safe(f"Replicate answered HTTP {status}. {detail}".strip()), code=code,
            status=status, retryable=retryable_status(status),
            retry_after=parse_retry_after(response.headers), provider=self.name,
            fallback=status in (402, 429) or status >= 500)

    @classmethod
    def check_deploy(cls, options: dict[str, Any]) -> list[CheckMessage]:
        if options.get("API_TOKEN"):
            return []
        return [Error(
            f"No API key for the {cls.name!r} provider: every job would fail when it is sent.",
            hint="Set REPLICATE_API_TOKEN or "
                 f"{SETTING_NAME}['PROVIDERS']['{cls.name}']['API_TOKEN'].",
            id="django_kling.E003",
        )]

    @classmethod
    def verify_callback(cls, headers: Mapping[str, str], body: bytes, secret: str, *,
                        tolerance: float) -> str:
        """Standard Webhooks: ``webhook-signature`` holds ``v1,<base64>`` entries (several
        during a secret rotation); one must match, and the timestamp be recent. The key is
        ``webhook-id``, the same on every retry of one delivery."""
        webhook_id = headers.get("webhook-id", "")
        timestamp = headers.get("webhook-timestamp", "")
        check_callback_time(timestamp, tolerance)
        try:
            expected = standard_signature(secret, webhook_id, timestamp, body)
        except (binascii.Error, ValueError):
            raise CallbackRefused(code="bad signature") from None
        sent = [entry.partition(",")[2] for entry in headers.get("webhook-signature", "").split()
                if entry.startswith("v1,")]
        if not webhook_id or not any(hmac.compare_digest(s, expected) for s in sent):
            raise CallbackRefused(code="bad signature")
        return "replicate:" + webhook_id
