"""The sandbox's Replicate routes under ``/replicate`` (``sandbox.replicate_url``).

``POST /replicate/v1/models/kwaivgi/kling-v2.6/predictions`` (``Authorization: Bearer
<api_key>``) creates a prediction (billed each time: Replicate has no idempotency key;
``billed_by["replicate"]`` by prediction id), ``GET /replicate/v1/predictions/{id}`` reports
``starting``, ``processing``, ``succeeded`` (``output`` is the clip's URL), ``failed`` or
``canceled``; ``GET /replicate/v1/webhooks/default/secret`` gives
``sandbox.replicate_webhook_secret``. With ``webhook`` the finished prediction is POSTed there
once, signed the Standard Webhooks way (``webhook-id``, ``webhook-timestamp``,
``webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">``).

Files: ``POST /replicate/v1/files`` (multipart, the file in the part ``content``, as Replicate's
Python client sends it) keeps the file in ``sandbox.uploads`` and answers its ``urls.get``,
which a prediction's ``start_image`` may name. A ``data:`` URI of 1 MB or more is refused
(422): Replicate's docs recommend data URIs only under 1 MB, larger files go through the files
API or a URL.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Callable
from typing import Any

from .http import Refusal
from .jobs import Job
from .validation import MAX_TEXT, GatewayError, GenerationSpec, _check_image, _fetch

PREFIX = "/replicate"
CREATE = "/v1/models/kwaivgi/kling-v2.6/predictions"
PREDICTION = re.compile(r"^/v1/predictions/([A-Za-z0-9_-]+)$")
FILES = "/v1/files"
#: Replicate's docs: data URIs only for files under 1 MB (measured here on the URI itself).
INLINE_LIMIT = 1_000_000
WEBHOOK_KEY_PATH = "/v1/webhooks/default/secret"  # noqa: S105 (a URL path)


class ReplicateError(Refusal):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail

    def body(self) -> dict[str, Any]:
        return {"title": "Error", "detail": self.detail, "status": self.status}


FAULT_ANSWERS = {
    "rate_limit": lambda fault: (429, ReplicateError(429, "Request was throttled.").body()),
    "out_of_credit": lambda fault: (402, ReplicateError(
        402, "You have insufficient credit to run this model.").body()),
    "server_error": lambda fault: (500, ReplicateError(500, str(fault.params["message"])).body()),
}


def signature_headers(secret: str, body: bytes) -> dict[str, str]:
    webhook_id = "msg_" + secrets.token_hex(12)
    timestamp = str(int(time.time()))
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{webhook_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return {"content-type": "application/json", "webhook-id": webhook_id,
            "webhook-timestamp": timestamp,
            "webhook-signature": "v1," + base64.b64encode(digest.digest()).decode()}


class ReplicateRoutes:
    """Mixed into the sandbox's handler: answers every path under ``/replicate``."""

    sandbox: Any

    def _replicate_request(self, method: str) -> None:
        self._provider_request(method, prefix=PREFIX, provider="replicate",
                               answer=self._replicate_answer, errors=FAULT_ANSWERS,
                               unfaulted=(WEBHOOK_KEY_PATH,))

    def _replicate_answer(self, path: str, query: str, raw: bytes) -> tuple[int, Any]:
        method = self.command
        token = self.headers.get("authorization") or ""
        if not hmac.compare_digest(token.encode(), f"Bearer {self.sandbox.api_key}".encode()):
            raise ReplicateError(401, "You did not pass a valid authentication token")
        match = PREDICTION.match(path)
        if method == "POST" and path == CREATE:
            return 201, self._replicate_create(raw)
        if method == "GET" and match:
            return 200, self._prediction(self._replicate_job(match.group(1)))
        if method == "POST" and path == FILES:
            return 201, self._replicate_upload(raw)
        if method == "GET" and path == WEBHOOK_KEY_PATH:
            return 200, {"key": self.sandbox.replicate_webhook_secret}
        raise ReplicateError(404, f"No route for {method} {PREFIX}{path}.")

    def _replicate_upload(self, raw: bytes) -> dict[str, Any]:
        """Replicate's ``POST /v1/files``: the multipart part ``content`` is the file."""
        from email.parser import BytesParser
        from email.policy import HTTP

        header = f"content-type: {self.headers.get('content-type') or ''}\r\n\r\n".encode()
        message = BytesParser(policy=HTTP).parsebytes(header + raw)
        parts = [part for part in message.iter_parts()
                 if part.get_param("name", header="content-disposition") == "content"] \
            if message.is_multipart() else []
        if not parts:
            raise ReplicateError(400, "Send the file as multipart/form-data, part 'content'.")
        data = parts[0].get_payload(decode=True) or b""
        file_id = secrets.token_hex(8)
        with self.sandbox._lock:
            self.sandbox.uploads[file_id] = (parts[0].get_content_type(), data)
        url = f"{self.sandbox.url}{PREFIX}{FILES}/{file_id}"
        return {"id": file_id, "name": parts[0].get_filename() or "file",
                "content_type": parts[0].get_content_type(), "size": len(data),
                "checksums": {"sha256": hashlib.sha256(data).hexdigest()}, "metadata": {},
                "urls": {"get": url}}

    def _uploaded(self, url: str) -> bytes | None:
        """The bytes of a file uploaded here, when ``url`` is its ``urls.get``."""
        own = f"{self.sandbox.url}{PREFIX}{FILES}/"
        if not url.startswith(own):
            return None
        with self.sandbox._lock:
            upload = self.sandbox.uploads.get(url[len(own):])
        if upload is None:
            raise ReplicateError(422, "input.start_image names a file that does not exist.")
        return upload[1]

    def _replicate_create(self, raw: bytes) -> dict[str, Any]:
        spec, hook = parse_prediction(raw, self._uploaded)
        secret = self.sandbox.replicate_webhook_secret

        def notify(job: Job) -> None:
            body = json.dumps(self._prediction(job, with_faults=False)).encode()
            self.sandbox._post_callback(hook, body, signature_headers(secret, body))

        job = self.sandbox._job(spec, None, provider="replicate",
                                notify=notify if hook else None)
        with self.sandbox._lock:
            self.sandbox.billed_by.setdefault("replicate", {})[job.id] = 1
        answer = self._prediction(job, with_faults=False)
        foreign = self.sandbox.faults.take("replicate.start", ("foreign_urls",))
        if foreign is not None:
            answer["urls"] = {name: url.replace(self.sandbox.url, str(foreign.params["origin"]))
                              for name, url in answer["urls"].items()}
        return answer

    def _replicate_job(self, prediction_id: str) -> Job:
        return self._provider_job(prediction_id, "replicate",
                                  ReplicateError(404, "Prediction not found."))

    def _prediction(self, job: Job, *, with_faults: bool = True) -> dict[str, Any]:
        if job.outcome is None and with_faults:
            fault = self.sandbox.faults.take("replicate.status", ("generation_error",
                                                                  "cancelled"))
            if fault is not None:
                job.outcome = ("error", str(fault.params["message"])) \
                    if fault.name == "generation_error" else ("cancelled", "")
        base = {"id": job.id, "model": "kwaivgi/kling-v2.6", "version": "sandbox",
                "urls": {"get": f"{self.sandbox.url}{PREFIX}/v1/predictions/{job.id}",
                         "cancel": f"{self.sandbox.url}{PREFIX}/v1/predictions/{job.id}/cancel"},
                "error": None, "output": None}
        if job.outcome is not None or (job.ready() and job.failure):
            kind, message = job.outcome or ("error", job.failure or "")
            if kind == "cancelled":
                return {**base, "status": "canceled"}
            return {**base, "status": "failed", "error": message}
        if not job.ready():
            return {**base, "status": "processing" if job.rendered.is_set() else "starting"}
        return {**base, "status": "succeeded", "output": self.sandbox._file_url(job),
                "metrics": {"predict_time": 1.0}}


def parse_prediction(raw: bytes, uploaded: Callable[[str], bytes | None] = lambda url: None,
                     ) -> tuple[GenerationSpec, str | None]:
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ReplicateError(400, "The body is not valid JSON.") from None
    model_input = body.get("input") if isinstance(body, dict) else None
    if not isinstance(model_input, dict):
        raise ReplicateError(422, "input is required.")
    duration = model_input.get("duration", 5)
    if duration not in (5, 10) or isinstance(duration, bool):
        raise ReplicateError(422, "input.duration must be 5 or 10.")
    audio = model_input.get("generate_audio", True)
    if not isinstance(audio, bool):
        raise ReplicateError(422, "input.generate_audio must be a boolean.")
    texts = {}
    for name in ("prompt", "negative_prompt"):
        value = model_input.get(name, "")
        if not isinstance(value, str) or len(value) > MAX_TEXT:
            raise ReplicateError(422, f"input.{name} is too long or not a string.")
        texts[name] = value
    hook = body.get("webhook")
    if hook is not None and not (isinstance(hook, str) and hook.startswith(("http://",
                                                                            "https://"))):
        raise ReplicateError(422, "webhook must be an http(s) URL.")
    return GenerationSpec(first=_image(model_input.get("start_image"), uploaded), last=None,
                          duration=duration, audio=audio, mode="pro", prompt=texts["prompt"],
                          negative_prompt=texts["negative_prompt"]), hook


def _image(value: Any, uploaded: Callable[[str], bytes | None]):
    if not isinstance(value, str) or not value:
        raise ReplicateError(422, "input.start_image is required.")
    try:
        if value.startswith("data:"):
            if len(value) >= INLINE_LIMIT:
                raise ReplicateError(422, "input.start_image: a data URI must be under 1 MB; "
                                          "upload larger files with POST /v1/files and pass "
                                          "the file's URL.")
            header, _, encoded = value.partition(",")
            data = base64.b64decode(encoded, validate=True)
        else:
            data = uploaded(value)
            if data is None:
                data = _fetch(value, "start_image")
        return _check_image(data, "start_image")
    except GatewayError as error:
        raise ReplicateError(422, error.message) from None
    except (binascii.Error, ValueError):
        raise ReplicateError(422, "input.start_image is not valid base64.") from None
