"""Kling's own API on the wire: the JWT, the error codes, the create body and the task object.

Module level, without a client, so tests can throw any JSON at the parsers. The format is
Kling's published API (``POST /v1/videos/image2video`` and ``GET .../{id}``), as summed
up in ``docs/providers/kling.rst``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

from ...exceptions import ProviderError
from ...options.shots import SHOT_TYPE
from ..base import GenerationInput, ImageInput, JobStatus, VideoOutput
from ..json_body import Spliced
from ..transport import MAX_MESSAGE, as_dict

#: Kling's error code -> (HTTP status it comes with, our error code).
ERROR_TYPES: dict[int, tuple[int, str]] = {
    1000: (401, "provider_auth"),
    1001: (401, "provider_auth"),
    1002: (401, "provider_auth"),
    1003: (401, "provider_auth"),
    1004: (401, "provider_auth"),
    1100: (429, "provider_quota"),
    1101: (429, "provider_quota"),
    1102: (429, "provider_quota"),
    1103: (403, "provider_forbidden"),
    1200: (400, "provider_invalid_request"),
    1201: (400, "provider_invalid_request"),
    1202: (404, "provider_not_found"),
    1203: (404, "provider_not_found"),
    1300: (400, "provider_content_refused"),
    1301: (400, "provider_content_refused"),
    1302: (429, "provider_rate_limited"),
    1303: (429, "provider_concurrency_limited"),
    1304: (429, "provider_forbidden"),
    5000: (500, "provider_server_error"),
    5001: (503, "provider_server_error"),
    5002: (504, "provider_server_error"),
}
#: Worth the same call again later: rate, concurrency, Kling's own trouble.
RETRYABLE = frozenset({1302, 1303, 5000, 5001, 5002})
#: Refusals of a create that another provider may not share: the job may move on.
FALLBACK = frozenset({1100, 1101, 1102, 1302, 1303, 5000, 5001, 5002})
#: Codes without a table entry, by HTTP status.
STATUS_CODES = {400: "provider_invalid_request", 401: "provider_auth",
                403: "provider_forbidden", 404: "provider_not_found",
                429: "provider_rate_limited"}

PENDING = frozenset({"submitted", "processing"})


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def jwt_token(access_key: str, secret_key: str, *, now: float | None = None,
              ttl: int = 1800) -> tuple[str, float]:
    """An HS256 JWT for Kling (``iss`` = access key) and the time it expires.

    ``nbf`` is five seconds back, as Kling's sample code does, so a clock slightly ahead of
    theirs does not make the token "not yet valid".
    """
    now = time.time() if now is None else now
    expires = int(now) + int(ttl)
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    claims = {"iss": access_key, "exp": expires, "nbf": int(now) - 5}
    payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{header}.{payload}".encode("ascii")
    signature = hmac.new(secret_key.encode(), signing_input, hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64url(signature)}", float(expires)


def image_field(image: ImageInput) -> str | Spliced:
    """Kling takes a URL or raw base64 (no ``data:`` prefix) in the same field."""
    if image.url:
        return image.url
    return image.base64_json()


def create_body(job: GenerationInput, *, model: str, external_task_id: str,
                callback_url: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model_name": model,
        "image": image_field(job.first_frame),
        "mode": job.mode,
        "duration": str(job.duration),
        "sound": "on" if job.generate_audio else "off",
        "external_task_id": external_task_id,
    }
    if job.last_frame is not None:
        body["image_tail"] = image_field(job.last_frame)
    if job.prompt and not job.shots:  # with multi_shot the prompt is ignored (kling-api)
        body["prompt"] = job.prompt
    if job.negative_prompt:
        body["negative_prompt"] = job.negative_prompt
    if job.voice_ids:
        # ``voice_list`` (Kling's image2video reference; klingai-video-model.ts sends it so).
        body["voice_list"] = [{"voice_id": voice} for voice in job.voice_ids]
    if job.shots:
        # Kling's image2video reference: multi_shot, shot_type "customize", multi_prompt of
        # {index (from 1), prompt (<= 512), duration (string seconds)}; klingai-video-model.ts
        # sends its multiPrompt as this multi_prompt unchanged.
        body.update(multi_shot=True, shot_type=SHOT_TYPE, multi_prompt=[
            {"index": place, "prompt": prompt, "duration": str(seconds)}
            for place, (prompt, seconds) in enumerate(job.shots, start=1)])
    if callback_url:
        body["callback_url"] = callback_url
    return body


def error_for(status: int, payload: Any, *, provider: str, retry_after: float | None = None,
              message_filter: Any = None) -> ProviderError:
    """The ``ProviderError`` for an error answer ``{code, message, request_id}``."""
    data = as_dict(payload)
    kling_code = data.get("code")
    known = ERROR_TYPES.get(kling_code) if isinstance(kling_code, int) else None
    message = str(data.get("message") or "")
    if message_filter is not None:
        message = message_filter(message)
    if known is None:
        code = STATUS_CODES.get(status, "provider_server_error" if status >= 500
                                else "provider_error")
        retryable = status in (408, 409, 429) or status >= 500
        fallback = status == 429 or status >= 500
    else:
        code = known[1]
        retryable = kling_code in RETRYABLE
        fallback = kling_code in FALLBACK
    text = f"Kling refused the call (code {kling_code}): {message}" if kling_code is not None \
        else f"Kling answered HTTP {status}." + (f" {message}" if message else "")
    return ProviderError(text[:MAX_MESSAGE], code=code, status=status, retryable=retryable,
                         retry_after=retry_after, provider=provider, fallback=fallback)


def task_of(payload: Any) -> dict[str, Any] | None:
    """The task object of a create or query-by-id answer (``data`` as an object)."""
    data = as_dict(payload).get("data")
    return data if isinstance(data, dict) and data.get("task_id") else None


def own_task(payload: Any, external_task_id: str) -> dict[str, Any] | None:
    """The task of a lookup by our key, only if it names that key, else None ("not found").

    ``task_info.external_task_id`` is where Kling puts the key; a task without it, with
    another key, or a list (the account's tasks, whatever was asked) is never taken for ours:
    adopting it would show another job's clip and generate nothing for this one.
    """
    task = task_of(payload)
    if task is None:
        return None
    ours = as_dict(task.get("task_info")).get("external_task_id")
    return task if isinstance(ours, str) and ours == external_task_id else None


def parse_task(task: dict[str, Any], *, provider: str) -> JobStatus:
    state = task.get("task_status")
    metadata = {provider: {key: task[key] for key in
                           ("task_id", "task_status", "final_unit_deduction", "created_at",
                            "updated_at") if key in task}}
    if state in PENDING:
        return JobStatus(state="pending", metadata=metadata)
    if state == "failed":
        reason = str(task.get("task_status_msg") or "Kling could not generate this video.")
        return JobStatus(state="error", error=reason[:MAX_MESSAGE], metadata=metadata)
    if state == "succeed":
        videos = as_dict(task.get("task_result")).get("videos")
        outputs = [VideoOutput(kind="url", url=video["url"]) for video in
                   (videos if isinstance(videos, list) else [])
                   if isinstance(video, dict) and isinstance(video.get("url"), str)
                   and video["url"]]
        if not outputs:
            raise ProviderError("Kling reported success but sent no video.",
                                code="provider_no_video", status=502, provider=provider)
        return JobStatus(state="completed", videos=outputs, metadata=metadata)
    raise ProviderError(f"Kling reported an unknown task status {str(state)[:40]!r}.",
                        code="provider_bad_response", status=502, retryable=True,
                        provider=provider)
