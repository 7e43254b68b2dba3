"""The sandbox's book of jobs: what it received, billed, rendered, and how it answers on them.

``JobBook`` is mixed into ``Sandbox``: it creates a job per idempotency key (billed once),
renders its clip in a thread (``render.py``), builds the gateway-shaped answers on it and
delivers its webhook.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import logging
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from PIL import Image

from .render import RENDER_CACHE, nearest_aspect, output_size, render_clip, render_key
from .validation import MODEL_ID, GenerationSpec, invalid, ratio_of

logger = logging.getLogger("django_kling.sandbox")

RESULT_KINDS = ("url", "base64")
PRICE_PER_SECOND = {False: 0.07, True: 0.14}  # USD, published v2.6 image-to-video prices


@dataclass
class Call:
    """One request the sandbox received (the API key and image bytes left out)."""

    method: str
    path: str
    headers: dict[str, str]
    json: Any
    time: float


@dataclass
class WebhookDelivery:
    url: str
    body: bytes
    headers: dict[str, str]
    status_code: int | None = None
    error: str | None = None


@dataclass
class Job:
    id: str
    key: str | None
    spec: GenerationSpec
    width: int
    height: int
    ready_at: float
    generation_id: str
    file_id: str
    secret: str | None = None
    rendered: threading.Event = field(default_factory=threading.Event)
    video: bytes | None = None
    failure: str | None = None
    # Set by a status fault: ("error", message) or ("cancelled", ""); final once set.
    outcome: tuple[str, str] | None = None

    def ready(self) -> bool:
        return self.rendered.is_set() and time.monotonic() >= self.ready_at


class JobBook:
    """Jobs, files, bills and webhooks of a ``Sandbox`` (state set up by its ``__init__``)."""

    # Set by Sandbox.__init__; declared here for the methods below.
    _lock: threading.RLock
    _stopping: threading.Event

    def _record(self, method: str, path: str, headers: Any, raw: bytes) -> None:
        clean = {name.lower(): value for name, value in headers.items()}
        if "authorization" in clean:
            clean["authorization"] = "[REDACTED]"
        try:
            body = _without_image_data(json.loads(raw)) if raw else None
        except ValueError:
            body = None
        with self._lock:
            self._calls.append(Call(method, path, clean, body, time.time()))

    def _count_start(self, key: str) -> None:
        with self._lock:
            self.start_calls[key] = self.start_calls.get(key, 0) + 1

    def _job(self, spec: GenerationSpec, key: str | None) -> Job:
        """The job for ``key`` (created and billed once), or a new one for a stream call."""
        with self._lock:
            if key is not None and key in self._jobs_by_key:
                return self._jobs_by_key[key]
            if spec.aspect:
                aspect = nearest_aspect(ratio_of(spec.aspect), 1.0)
            else:
                aspect = nearest_aspect(spec.first.width, spec.first.height)
            width, height = output_size(spec.mode, aspect, self.render_scale)
            job = Job(
                id="job_" + secrets.token_hex(12),
                key=key,
                spec=spec,
                width=width,
                height=height,
                ready_at=time.monotonic() + max(0.0, float(self.delay)),
                generation_id=new_generation_id(),
                file_id=secrets.token_hex(16),
                secret=("whsec_" + secrets.token_urlsafe(32)) if spec.callback_url else None,
            )
            self._jobs[job.id] = job
            self.bill_count += 1
            if key is not None:
                self._jobs_by_key[key] = job
                self.billed[key] = self.billed.get(key, 0) + 1
        threading.Thread(target=self._render, args=(job,), name=f"kling-render-{job.id}",
                         daemon=True).start()
        return job

    def _job_for(self, operation: Any) -> Job:
        job_id = operation.get("gatewayJobId") if isinstance(operation, dict) else None
        with self._lock:
            job = self._jobs.get(job_id) if isinstance(job_id, str) else None
        if job is None or job.key is None:
            raise invalid("unknown operation", "operation")
        return job

    def _render(self, job: Job) -> None:
        spec = job.spec
        try:
            with self._render_slots:
                last = spec.last.data if spec.last else None
                key = render_key(spec.first.data, last, job.width, job.height, spec.duration,
                                 spec.audio)
                job.video = RENDER_CACHE.get_or_render(key, lambda: render_clip(
                    Image.open(io.BytesIO(spec.first.data)),
                    Image.open(io.BytesIO(last)) if last else None,
                    width=job.width, height=job.height, duration=spec.duration,
                    audio=spec.audio,
                ))
            with self._lock:
                self._files[job.file_id] = job.video
        except Exception as exc:
            # A render failure is the job's failure, as a failed task is for the real service.
            logger.exception("sandbox render failed for %s", job.id)
            job.failure = f"The sandbox could not render the clip ({type(exc).__name__})."
        finally:
            job.rendered.set()
        if spec.callback_url and job.secret:
            self._deliver_webhook(job)

    def _wait_ready(self, job: Job) -> bool:
        job.rendered.wait()
        while not self._stopping.is_set():
            remaining = job.ready_at - time.monotonic()
            if remaining <= 0:
                return True
            self._stopping.wait(remaining)
        return False

    def _metadata(self, job: Job, *, final: bool) -> dict[str, Any]:
        gateway: dict[str, Any] = {
            "routing": {"originalModelId": MODEL_ID, "resolvedProvider": "klingai"},
            "generationId": job.generation_id,
        }
        if final:
            cost = PRICE_PER_SECOND[job.spec.audio] * job.spec.duration
            gateway["cost"] = f"{cost:.2f}"
        return {"gateway": gateway}

    def _video_json(self, job: Job, *, uploaded: bool = False) -> dict[str, Any]:
        if uploaded:
            return {"type": "uploaded", "mediaType": "video/mp4"}
        if self.result == "base64":
            data = base64.b64encode(job.video or b"").decode("ascii")
            return {"type": "base64", "data": data, "mediaType": "video/mp4"}
        return {"type": "url", "url": f"{self.url}/files/{job.file_id}.mp4",
                "mediaType": "video/mp4"}

    def _status_answer(self, job: Job, *, with_faults: bool = True) -> dict[str, Any]:
        if job.outcome is None and with_faults:
            fault = self.faults.take("status", ("generation_error", "cancelled"))
            if fault is not None:
                job.outcome = ("error", str(fault.params["message"])) \
                    if fault.name == "generation_error" else ("cancelled", "")
        if job.outcome is not None:
            kind, message = job.outcome
            answer: dict[str, Any] = {"status": kind}
            if kind == "error":
                answer["error"] = message
            answer["providerMetadata"] = self._metadata(job, final=False)
            return answer
        if not job.ready():
            return {"status": "pending"}
        if job.failure:
            return {"status": "error", "error": job.failure,
                    "providerMetadata": self._metadata(job, final=False)}
        uploaded = with_faults and self.faults.take("status", ("uploaded",)) is not None
        return {
            "status": "completed",
            "videos": [self._video_json(job, uploaded=uploaded)],
            "warnings": job.spec.warnings,
            "providerMetadata": self._metadata(job, final=True),
        }

    def _deliver_webhook(self, job: Job) -> None:
        if not self._wait_ready(job) or not job.spec.callback_url or not job.secret:
            return
        payload = {"operation": {"gatewayJobId": job.id},
                   **self._status_answer(job, with_faults=False)}
        body = json.dumps(payload, separators=(",", ":")).encode()
        timestamp = str(int(time.time()))
        headers = {
            "content-type": "application/json",
            "x-timestamp": timestamp,
            "x-signature": webhook_signature(job.secret, timestamp, body),
        }
        delivery = WebhookDelivery(job.spec.callback_url, body, headers)
        try:
            response = httpx.post(job.spec.callback_url, content=body, headers=headers,
                                  timeout=10.0)
            delivery.status_code = response.status_code
        except httpx.HTTPError as exc:
            delivery.error = type(exc).__name__
        with self._lock:
            self.webhooks.append(delivery)

    def _file(self, file_id: str) -> bytes | None:
        with self._lock:
            return self._files.get(file_id)


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """The ``x-signature`` of a webhook call (see the module docstring)."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def new_generation_id() -> str:
    return "gen_" + secrets.token_hex(12)


def _without_image_data(value: Any) -> Any:
    """The body as recorded: base64 image data replaced by its length."""
    if isinstance(value, dict):
        if value.get("type") == "file" and isinstance(value.get("data"), str):
            return {**value, "data": f"<{len(value['data'])} base64 chars>"}
        return {key: _without_image_data(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_without_image_data(item) for item in value]
    return value
