"""The sandbox's fal routes: fal's queue under ``/fal`` (``sandbox.fal_url``).

``POST /fal/fal-ai/kling-video/v2.6/pro/image-to-video[?fal_webhook=URL]`` (``Authorization:
Key <api_key>``) queues a job and answers its ``status_url`` / ``response_url`` /
``cancel_url``; ``GET .../requests/{id}/status`` says ``IN_QUEUE``, ``IN_PROGRESS`` or
``COMPLETED``; ``GET .../requests/{id}`` gives ``{"video": {...}}`` (a failed job answers 422
with ``detail``). A submit without ``prompt`` (required by fal's API reference) is refused with
422 ``{"detail": [{"loc": ["body", "prompt"], "msg": "Field required", "type": "missing"}]}``
and not billed. fal has no idempotency key: each submit is billed (``billed_by["fal"]``, by
request id). With ``fal_webhook`` the result is POSTed there once, signed with the sandbox's
ED25519 key, whose public half is served as a JWKS at ``GET /fal/.well-known/jwks.json``
(``sandbox.fal_jwks_url``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import time
from typing import Any
from urllib.parse import parse_qs

from .faults import JWKS_ROUTE
from .http import Refusal
from .jobs import Job
from .served import routes_on
from .shots import fal_problem
from .validation import MAX_TEXT, GatewayError, GenerationSpec, _check_image, _fetch

PREFIX = "/fal"
ENDPOINT = "/fal-ai/kling-video/v2.6/pro/image-to-video"
#: fal's endpoints, with the model id and what each can do (the registry's fal routes).
ENDPOINTS = {"/" + route.provider_model: (model, route)
             for model, route in routes_on("fal").items()}
REQUEST = re.compile(r"^/fal-ai/kling-video/requests/([A-Za-z0-9_-]+)(/status)?$")
JWKS = "/.well-known/jwks.json"
USER_ID = "sandbox-user"
FAULT_ANSWERS = {
    "rate_limit": lambda fault: (429, {"detail": "Rate limit exceeded."}),
    "out_of_credit": lambda fault: (403, {
        "detail": "User is locked. Reason: Exhausted balance. "
                  "Top up your balance at fal.ai/dashboard/billing."}),
    "server_error": lambda fault: (500, {"detail": str(fault.params["message"])}),
}


class FalError(Refusal):
    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(str(detail))
        self.status, self.detail = status, detail

    def body(self) -> dict[str, Any]:
        return {"detail": self.detail}


def signing_key(sandbox: Any) -> Any:
    """The sandbox's ED25519 key for fal webhooks, made on first use."""
    key = getattr(sandbox, "_fal_key", None)
    if key is None:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        key = sandbox._fal_key = Ed25519PrivateKey.generate()
    return key


def jwks(sandbox: Any) -> dict[str, Any]:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    raw = signing_key(sandbox).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    x = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    return {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": x, "kid": "sandbox",
                      "alg": "EdDSA", "use": "sig"}]}


def sign(sandbox: Any, request_id: str, body: bytes) -> dict[str, str]:
    """The headers of a signed webhook (request id, user id, timestamp, sha256 of the body)."""
    timestamp = str(int(time.time()))
    message = "\n".join((request_id, USER_ID, timestamp, hashlib.sha256(body).hexdigest()))
    return {"content-type": "application/json", "x-fal-webhook-request-id": request_id,
            "x-fal-webhook-user-id": USER_ID, "x-fal-webhook-timestamp": timestamp,
            "x-fal-webhook-signature": signing_key(sandbox).sign(message.encode()).hex()}


class FalRoutes:
    """Mixed into the sandbox's handler: answers every path under ``/fal``."""

    sandbox: Any

    def _fal_request(self, method: str) -> None:
        if method == "GET" and self.path.startswith(PREFIX + JWKS):
            huge = self.sandbox.faults.take(JWKS_ROUTE, ("huge_answer",))
            if huge is not None:
                self.sandbox._record(method, self.path, self.headers, b"")
                keys = json.dumps(jwks(self.sandbox)).encode()
                self._send_huge(keys[:-1] + b', "padding": "', float(huge.params["megabytes"]),
                                b'"}')
                return
        self._provider_request(method, prefix=PREFIX, provider="fal", answer=self._fal_answer,
                               errors=FAULT_ANSWERS, unfaulted=(JWKS,))

    def _fal_answer(self, path: str, query: str, raw: bytes) -> tuple[int, Any]:
        method = self.command
        if method == "GET" and path == JWKS:
            return 200, jwks(self.sandbox)
        if (self.headers.get("authorization") or "") != f"Key {self.sandbox.api_key}":
            raise FalError(401, "Invalid or missing key.")
        match = REQUEST.match(path)
        if method == "POST" and path in ENDPOINTS:
            hook = (parse_qs(query).get("fal_webhook") or [None])[0]
            return 200, self._fal_submit(raw, hook, path)
        if method == "GET" and match:
            job = self._fal_job(match.group(1))
            return 200, self._fal_status(job) if match.group(2) else self._fal_result(job)
        raise FalError(404, f"No route for {method} {PREFIX}{path}.")

    def _fal_submit(self, raw: bytes, hook: str | None, path: str = ENDPOINT) -> dict[str, Any]:
        spec = parse_submit(raw, path)
        notify = (lambda job: self._fal_notify(job, hook)) if hook else None
        job = self.sandbox._job(spec, None, provider="fal", notify=notify)
        with self.sandbox._lock:
            self.sandbox.billed_by.setdefault("fal", {})[job.id] = 1
        foreign = self.sandbox.faults.take("fal.start", ("foreign_urls",))
        origin = str(foreign.params["origin"]) if foreign else self.sandbox.url
        base = f"{origin}{PREFIX}/fal-ai/kling-video/requests/{job.id}"
        return {"request_id": job.id, "gateway_request_id": job.id, "status_url":
                base + "/status", "response_url": base, "cancel_url": base + "/cancel",
                "queue_position": 0}

    def _fal_job(self, request_id: str) -> Job:
        return self._provider_job(request_id, "fal", FalError(404, "Request not found."))

    def _fal_status(self, job: Job) -> dict[str, Any]:
        if job.outcome is None:
            fault = self.sandbox.faults.take("fal.status", ("generation_error",))
            if fault is not None:
                job.outcome = ("error", str(fault.params["message"]))
        state = "COMPLETED" if job.outcome or job.ready() else (
            "IN_PROGRESS" if job.rendered.is_set() else "IN_QUEUE")
        return {"status": state, "request_id": job.id,
                "response_url": f"{self.sandbox.url}{PREFIX}/fal-ai/kling-video/requests/{job.id}"}

    def _fal_result(self, job: Job) -> dict[str, Any]:
        if job.outcome is not None or (job.ready() and job.failure):
            raise FalError(422, [{"msg": job.outcome[1] if job.outcome else job.failure,
                                  "type": "generation_error"}])
        if not job.ready():
            raise FalError(400, "Request is still in progress.")
        return {"video": {"url": self.sandbox._file_url(job), "content_type": "video/mp4",
                          "file_size": len(job.video or b"")}}

    def _fal_notify(self, job: Job, hook: str) -> None:
        try:
            payload: dict[str, Any] = {"status": "OK", "payload": self._fal_result(job)}
        except FalError as error:
            payload = {"status": "ERROR", "error": "Generation failed.",
                       "payload": {"detail": error.detail}}
        body = json.dumps({"request_id": job.id, "gateway_request_id": job.id,
                           **payload}).encode()
        self.sandbox._post_callback(hook, body, sign(self.sandbox, job.id, body))


def parse_submit(raw: bytes, path: str = ENDPOINT) -> GenerationSpec:
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise FalError(422, "The body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise FalError(422, "The body must be a JSON object.")
    model, route = ENDPOINTS[path]
    duration = body.get("duration", "5")
    if duration not in [str(d) for d in route.durations]:
        raise FalError(422, [{"loc": ["body", "duration"], "msg": "must be one of " + ", ".join(
            f"'{d}'" for d in route.durations)}])
    audio = body.get("generate_audio", True)
    if not isinstance(audio, bool):
        raise FalError(422, [{"loc": ["body", "generate_audio"], "msg": "must be a boolean"}])
    voices = body.get("voice_ids", [])
    if not isinstance(voices, list) or len(voices) > route.voices or not all(
            isinstance(v, str) and v for v in voices):
        raise FalError(422, [{"loc": ["body", "voice_ids"],
                              "msg": f"at most {route.voices} voice ids (strings)"}])
    param, problem = fal_problem(body, route, duration=int(duration))
    if problem:
        raise FalError(422, [{"loc": ["body", param], "msg": problem}])
    if not body.get("prompt") and not body.get("multi_prompt"):
        # fal's API reference marks prompt required: its validation error (pydantic's shape).
        raise FalError(422, [{"loc": ["body", "prompt"], "msg": "Field required",
                              "type": "missing"}])
    texts = {}
    for name in ("prompt", "negative_prompt"):
        value = body.get(name, "")
        if not isinstance(value, str) or len(value) > MAX_TEXT:
            raise FalError(422, [{"loc": ["body", name], "msg": "too long or not a string"}])
        texts[name] = value
    first = _image(body.get("start_image_url"), "start_image_url")
    last = _image(body["end_image_url"], "end_image_url") if "end_image_url" in body else None
    return GenerationSpec(first=first, last=last, duration=int(duration), audio=audio,
                          mode="pro", model=model, prompt=texts["prompt"],
                          negative_prompt=texts["negative_prompt"])


def _image(value: Any, param: str):
    if not isinstance(value, str) or not value:
        raise FalError(422, [{"loc": ["body", param], "msg": "an image URL is required"}])
    try:
        if value.startswith("data:"):
            header, _, encoded = value.partition(",")
            if ";base64" not in header:
                raise FalError(422, [{"loc": ["body", param], "msg": "base64 data URI only"}])
            data = base64.b64decode(encoded, validate=True)
        else:
            data = _fetch(value, param)
        return _check_image(data, param)
    except GatewayError as error:
        raise FalError(422, [{"loc": ["body", param], "msg": error.message}]) from None
    except (binascii.Error, ValueError):
        raise FalError(422, [{"loc": ["body", param], "msg": "invalid base64"}]) from None


__all__ = ["FalRoutes", "jwks", "sign"]
