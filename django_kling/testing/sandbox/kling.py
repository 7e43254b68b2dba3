"""The sandbox's Kling routes: Kling's own API under ``/kling`` (``sandbox.kling_url``).

``POST /kling/v1/videos/image2video`` creates a task (billed once per ``external_task_id``; a
second create with the same one is refused with code 1201, the likelier of the two readings of
Kling's docs); ``GET /kling/v1/videos/image2video/{id}`` queries one task, the path holding its
task id or its external task id; ``GET /kling/v1/videos/image2video`` is the paginated list of
the account's tasks (``pageNum``, ``pageSize``; newest first), which ignores any other query
parameter, ``external_task_id`` included, as Kling's list does: a client that reads it as "my
task" adopts another job's task here, as it would there. Auth: ``Bearer <api_key>`` or an
HS256 JWT signed with ``sandbox.kling_secret_key`` whose ``iss`` is
``sandbox.kling_access_key`` (checked for ``exp`` and ``nbf``). With a
``callback_url`` the finished task object is POSTed there once, unsigned, as Kling does.
Errors are ``{"code", "message", "request_id"}`` with Kling's codes and HTTP statuses.
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
from typing import Any
from urllib.parse import parse_qs

from .http import Refusal
from .jobs import Job
from .served import routes_on, voices_problem
from .shots import kling_problem
from .validation import MAX_TEXT, GatewayError, GenerationSpec, _check_image, _fetch

PREFIX = "/kling"
CREATE = "/v1/videos/image2video"
TASK = re.compile(r"^/v1/videos/image2video/([A-Za-z0-9_-]+)$")
MODEL_NAME = "kling-v2-6"
#: Kling's model names, with the model id and what each can do (the registry's Kling routes).
MODEL_NAMES = {route.provider_model: (model, route) for model, route in routes_on("kling").items()}
FAULT_ANSWERS = {
    "rate_limit": lambda fault: (429, KlingError(429, 1302, "Rate limit exceeded.").body()),
    "out_of_credit": lambda fault: (429, KlingError(429, 1102, "Resource pack exhausted.").body()),
    "server_error": lambda fault: (
        500, KlingError(500, 5000, str(fault.params["message"])).body()),
}


class KlingError(Refusal):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message,
                "request_id": secrets.token_hex(8)}


def _invalid(message: str) -> KlingError:
    return KlingError(400, 1201, message)


class KlingRoutes:
    """Mixed into the sandbox's handler: answers every path under ``/kling``."""

    sandbox: Any

    def _kling_request(self, method: str) -> None:
        self._provider_request(method, prefix=PREFIX, provider="kling", answer=self._kling_answer,
                               errors=FAULT_ANSWERS)

    def _kling_answer(self, path: str, query: str, raw: bytes) -> tuple[int, Any]:
        method = self.command
        self._kling_auth()
        if method == "POST" and path == CREATE:
            answer = self._kling_create(raw)
        elif method == "GET" and path == CREATE:
            answer = self._kling_list(parse_qs(query))
        elif method == "GET" and TASK.match(path):
            answer = self._kling_task(self._kling_job(TASK.match(path).group(1)))
        else:
            raise KlingError(404, 1202, f"No route for {method} {PREFIX}{path}.")
        return 200, {"code": 0, "message": "SUCCEED", "request_id": secrets.token_hex(8),
                     "data": answer}

    def _kling_auth(self) -> None:
        scheme, _, token = (self.headers.get("authorization") or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise KlingError(401, 1000, "Authorization header missing.")
        if hmac.compare_digest(token.encode(), self.sandbox.api_key.encode()):
            return
        self.sandbox.kling_tokens.append(token)
        check_jwt(token, self.sandbox.kling_access_key, self.sandbox.kling_secret_key)

    def _kling_create(self, raw: bytes) -> dict[str, Any]:
        body = _json_object(raw)
        key = body.get("external_task_id")
        if key is not None and (not isinstance(key, str) or not key):
            raise _invalid("external_task_id must be a non-empty string.")
        with self.sandbox._lock:
            if key and ("kling", key) in self.sandbox._jobs_by_key:
                raise _invalid(f"external_task_id {key} already exists.")
        spec, callback = parse_create(body)
        notify = (lambda job: self.sandbox._post_callback(
            callback, json.dumps(self._kling_task(job)).encode(),
            {"content-type": "application/json"})) if callback else None
        job = self.sandbox._job(spec, key or None, provider="kling", notify=notify)
        return {"task_id": job.id, "task_status": "submitted",
                "task_info": {"external_task_id": key or ""},
                "created_at": int(time.time() * 1000), "updated_at": int(time.time() * 1000)}

    def _kling_list(self, query: dict[str, list[str]]) -> list[dict[str, Any]]:
        """One page of the account's tasks, newest first (``pageNum`` from 1, ``pageSize`` up
        to 500, default 30); unknown parameters are ignored, as Kling's list does."""
        page, size = _page_number(query, "pageNum", 1, 1_000_000), \
            _page_number(query, "pageSize", 30, 500)
        with self.sandbox._lock:
            jobs = [job for job in reversed(self.sandbox._jobs.values())
                    if job.provider == "kling" and job.generation == self.sandbox._generation]
        return [self._kling_task(job, with_faults=False)
                for job in jobs[(page - 1) * size: page * size]]

    def _kling_job(self, task_id: str) -> Job:
        """The task by its task id, or by our external task id (both are documented)."""
        with self.sandbox._lock:
            job = self.sandbox._jobs_by_key.get(("kling", task_id))
        if job is not None:
            return job
        return self._provider_job(task_id, "kling", KlingError(404, 1203, "Task not found."))

    def _kling_task(self, job: Job, *, with_faults: bool = True) -> dict[str, Any]:
        """The task object, as the query answers it and the callback sends it (a listing
        plays no fault: a fault is meant for one task's query)."""
        task: dict[str, Any] = {
            "task_id": job.id, "task_info": {"external_task_id": job.key or ""},
            "created_at": int(time.time() * 1000), "updated_at": int(time.time() * 1000),
        }
        if job.outcome is None and with_faults:
            fault = self.sandbox.faults.take("kling.status", ("generation_error",))
            if fault is not None:
                job.outcome = ("error", str(fault.params["message"]))
        if job.outcome is not None or (job.ready() and job.failure):
            message = job.outcome[1] if job.outcome else job.failure
            return {**task, "task_status": "failed", "task_status_msg": message}
        if not job.ready():
            return {**task, "task_status": "processing" if job.rendered.is_set()
                    else "submitted", "task_status_msg": ""}
        seconds = job.spec.duration
        return {**task, "task_status": "succeed", "task_status_msg": "",
                "final_unit_deduction": str(seconds // 5 * (2 if job.spec.audio else 1)),
                "task_result": {"videos": [{"id": job.file_id, "url": self.sandbox._file_url(job),
                                            "duration": str(seconds)}]}}


def _page_number(query: dict[str, list[str]], name: str, default: int, top: int) -> int:
    value = (query.get(name) or [""])[0]
    if not value:
        return default
    if not value.isdigit() or not 1 <= int(value) <= top:
        raise _invalid(f"{name} must be a whole number from 1 to {top}.")
    return int(value)


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _invalid("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise _invalid("The request body must be a JSON object.")
    return body


def parse_create(body: dict[str, Any]) -> tuple[GenerationSpec, str | None]:
    """Check a create body as Kling documents it; the spec to render and the callback URL."""
    name = body.get("model_name", MODEL_NAME)
    if name not in MODEL_NAMES:
        raise _invalid(f"model_name must be one of {', '.join(MODEL_NAMES)} on the sandbox.")
    model, route = MODEL_NAMES[name]
    mode = body.get("mode", "std")
    if mode not in ("std", "pro"):
        raise _invalid("mode must be std or pro.")
    duration = body.get("duration", "5")
    if duration not in [str(d) for d in route.durations]:
        raise _invalid(f"duration must be one of {', '.join(map(str, route.durations))} "
                       f"(a string) on {name}.")
    sound = body.get("sound", "off")
    if sound not in ("on", "off"):
        raise _invalid('sound must be "on" or "off".')
    if sound == "on" and not route.sound:
        raise _invalid(f"{name} does not support sound.")
    problem = voices_problem(body.get("voice_list"), route.voices, sound=sound == "on",
                             param="voice_list")
    if problem:
        raise _invalid(problem)
    problem = kling_problem(body, route, duration=int(duration), last_frame="image_tail" in body)
    if problem:
        raise _invalid(problem)
    if sound == "on" and mode != "pro":
        raise _invalid("sound needs mode pro.")
    if "image_tail" in body and mode != "pro":
        raise _invalid("image_tail needs mode pro.")
    if "image_tail" in body and any(k in body for k in ("camera_control", "static_mask",
                                                         "dynamic_masks")):
        raise _invalid("image_tail, masks and camera_control are mutually exclusive.")
    texts = {}
    for name in ("prompt", "negative_prompt"):
        value = body.get(name, "")
        if not isinstance(value, str) or len(value) > MAX_TEXT:
            raise _invalid(f"{name} must be a string of at most {MAX_TEXT} characters.")
        texts[name] = value
    callback = body.get("callback_url")
    if callback is not None and not (isinstance(callback, str)
                                     and callback.startswith(("http://", "https://"))):
        raise _invalid("callback_url must be an http(s) URL.")
    first = _image(body.get("image"), "image")
    last = _image(body["image_tail"], "image_tail") if "image_tail" in body else None
    spec = GenerationSpec(first=first, last=last, duration=int(duration), audio=sound == "on",
                          mode=mode, model=model, prompt=texts["prompt"],
                          negative_prompt=texts["negative_prompt"])
    return spec, callback


def _image(value: Any, param: str):
    if not isinstance(value, str) or not value:
        raise _invalid(f"{param} must be an image URL or base64 text.")
    try:
        if value.startswith(("http://", "https://")):
            data = _fetch(value, param)
        elif value.startswith("data:"):
            raise _invalid(f"{param} must be raw base64, without a data: prefix.")
        else:
            data = base64.b64decode(value, validate=True)
        return _check_image(data, param)
    except GatewayError as error:
        raise _invalid(error.message) from None
    except (binascii.Error, ValueError):
        raise _invalid(f"{param} is not valid base64.") from None


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def check_jwt(token: str, access_key: str, secret_key: str) -> None:
    """Refuse (code 1004, 401) a JWT that is malformed, badly signed, expired or not yet valid."""
    try:
        header_b64, payload_b64, signature_b64 = token.split(".")
        header = json.loads(_b64url_decode(header_b64))
        claims = json.loads(_b64url_decode(payload_b64))
        signature = _b64url_decode(signature_b64)
    except (ValueError, binascii.Error):
        raise KlingError(401, 1000, "The token is neither the API key nor a JWT.") from None
    expected = hmac.new(secret_key.encode(), f"{header_b64}.{payload_b64}".encode(),
                        hashlib.sha256).digest()
    if header.get("alg") != "HS256" or not hmac.compare_digest(signature, expected):
        raise KlingError(401, 1002, "The token's signature is invalid.")
    if claims.get("iss") != access_key:
        raise KlingError(401, 1002, "The token's issuer is not a known access key.")
    now = time.time()
    if not isinstance(claims.get("exp"), int) or claims["exp"] <= now:
        raise KlingError(401, 1004, "The token has expired.")
    if isinstance(claims.get("nbf"), int) and claims["nbf"] > now:
        raise KlingError(401, 1003, "The token is not valid yet.")
