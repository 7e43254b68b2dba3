"""The sandbox's book of jobs: what it received, billed, rendered, and how it answers on them.

``JobBook`` is mixed into ``Sandbox``: it creates a job per idempotency key (billed once),
renders its clip in a thread (``render.py``), builds the gateway-shaped answers on it and
delivers its webhook.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import heapq
import hmac
import io
import json
import logging
import math
import random
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from PIL import Image

from . import voice
from .render import RENDER_CACHE, TAKES, nearest_aspect, output_size, render_clip, render_key
from .served import MODEL_ID, TURBO_MODEL_ID, V3_MODEL_ID
from .validation import GatewayError, GenerationSpec, ratio_of

logger = logging.getLogger("django_kling.sandbox")

RESULT_KINDS = ("url", "base64")
# USD per second of output by (model, mode, sound): published v2.6 image-to-video prices; the
# turbo model's are public hosts' prices (estimates, like the app's PRICES defaults).
PRICE_PER_SECOND = {
    (MODEL_ID, "std", False): 0.07, (MODEL_ID, "pro", False): 0.07,
    (MODEL_ID, "pro", True): 0.14,
    (TURBO_MODEL_ID, "std", False): 0.042, (TURBO_MODEL_ID, "pro", False): 0.07,
    # v3.0: fal's published v3 pro prices (the gateway's are not published).
    (V3_MODEL_ID, "std", False): 0.224, (V3_MODEL_ID, "pro", False): 0.224,
    (V3_MODEL_ID, "pro", True): 0.336,
}
#: What the gateway's list price is taken to be above the account's (``marketCost``).
MARKET_MARKUP = 1.0
#: Seconds a job still rendering says it needs at least (``expectedSeconds``).
RENDER_MARGIN = 0.5


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
    # Set by a status fault: ("error", message), ("cancelled", "") or ("expired", ""); final
    # once set.
    outcome: tuple[str, str] | None = None
    #: The protocol it came in by ("gateway", "kling", "fal", "replicate").
    provider: str = "gateway"
    #: Delivers the provider's own completion callback (other protocols than the gateway's).
    notify: Callable[[Job], None] | None = None
    #: The sandbox's book it was created in; a ``reset()`` starts a new one.
    generation: int = 0
    #: Which take of its inputs this job is: each request for the same inputs moves the camera
    #: another way, as the real model's randomness makes every variant a different clip.
    take: int = 0

    def ready(self) -> bool:
        return self.rendered.is_set() and time.monotonic() >= self.ready_at


class JobBook:
    """Jobs, files, bills and webhooks of a ``Sandbox`` (state set up by its ``__init__``)."""

    # Set by Sandbox.__init__; declared here for the methods below.
    _lock: threading.RLock
    _stopping: threading.Event
    _generation: int
    tells_end: bool
    _takes: dict[str, int]

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

    @functools.cached_property
    def _callbacks(self) -> httpx.Client:
        # One client for every callback: a new one per call costs an SSL context (~20 ms of
        # CPU), which at a hundred callbacks a second would be the sandbox's whole budget.
        return httpx.Client(timeout=10.0)

    def _generation_time(self) -> float:
        if self.delay_lognormal:
            median, sigma, low, high = self.delay_lognormal
            drawn = random.lognormvariate(math.log(median), sigma)  # noqa: S311  (a simulation)
            return min(high, max(low, drawn))
        if self.delay_range:
            return random.uniform(*self.delay_range)  # noqa: S311  (a simulation, not a secret)
        return max(0.0, float(self.delay))

    def _count_running(self, ready_at: float) -> None:
        # Jobs whose end has passed leave the heap; what is left runs now (the new one too).
        now = time.monotonic()
        while self._running_until and self._running_until[0] <= now:
            heapq.heappop(self._running_until)
        heapq.heappush(self._running_until, ready_at)
        self.max_running = max(self.max_running, len(self._running_until))

    def _count_start(self, key: str) -> None:
        with self._lock:
            self.start_calls[key] = self.start_calls.get(key, 0) + 1

    def _job(self, spec: GenerationSpec, key: str | None, *, provider: str = "gateway",
             notify: Callable[[Job], None] | None = None) -> Job:
        """The job for ``key`` (created and billed once), or a new one for a stream call.

        Keys are per provider; ``billed`` counts a key over all of them, so a job that moved
        from one provider to another and paid twice shows up there.
        """
        with self._lock:
            if key is not None and (provider, key) in self._jobs_by_key:
                return self._jobs_by_key[(provider, key)]
            if spec.aspect:
                aspect = nearest_aspect(ratio_of(spec.aspect), 1.0)
            else:
                aspect = nearest_aspect(spec.first.width, spec.first.height)
            width, height = output_size(spec.mode, aspect, self.render_scale)
            inputs = render_key(spec.first.data, spec.last.data if spec.last else None, width,
                                height, spec.duration, spec.audio)
            take = self._takes.get(inputs, 0)
            self._takes[inputs] = take + 1
            job = Job(
                id="job_" + secrets.token_hex(12),
                key=key,
                spec=spec,
                width=width,
                height=height,
                ready_at=time.monotonic() + self._generation_time(),
                generation_id=new_generation_id(),
                file_id=secrets.token_hex(16),
                secret=("whsec_" + secrets.token_urlsafe(32)) if spec.callback_url else None,
                provider=provider,
                notify=notify,
                generation=self._generation,
                take=take % TAKES,
            )
            self._jobs[job.id] = job
            self._count_running(job.ready_at)
            self.bill_count += 1
            if key is not None:
                self._jobs_by_key[(provider, key)] = job
                self.billed[key] = self.billed.get(key, 0) + 1
                per_provider = self.billed_by.setdefault(provider, {})
                per_provider[key] = per_provider.get(key, 0) + 1
        threading.Thread(target=self._render, args=(job,), name=f"kling-render-{job.id}",
                         daemon=True).start()
        return job

    def _job_for(self, operation: Any) -> Job:
        job_id = operation.get("gatewayJobId") if isinstance(operation, dict) else None
        with self._lock:
            job = self._jobs.get(job_id) if isinstance(job_id, str) else None
        if job is None or job.key is None or job.provider != "gateway":
            # The real client's GatewayNotFoundError: "an unknown async batch/video job id".
            raise GatewayError("not_found", "No video job with this id.", param="operation")
        return job

    def _render(self, job: Job) -> None:
        spec = job.spec
        try:
            with self._render_slots:
                last = spec.last.data if spec.last else None
                # The model speaks the line the prompt quotes (``voice``), if sound is on.
                said = voice.spoken_line(spec.prompt) if spec.audio else None
                speech = said.line if said is not None else ""
                key = render_key(spec.first.data, last, job.width, job.height, spec.duration,
                                 spec.audio, job.take, speech)
                job.video = RENDER_CACHE.get_or_render(key, lambda: render_clip(
                    Image.open(io.BytesIO(spec.first.data)),
                    Image.open(io.BytesIO(last)) if last else None,
                    width=job.width, height=job.height, duration=spec.duration,
                    audio=spec.audio, take=job.take, speech=speech,
                ))
            with self._lock:
                if job.generation == self._generation:  # not into the book after a reset
                    self._files[job.file_id] = job.video
        except Exception as exc:
            # A render failure is the job's failure, as a failed task is for the real service.
            logger.exception("sandbox render failed for %s", job.id)
            job.failure = f"The sandbox could not render the clip ({type(exc).__name__})."
        finally:
            job.rendered.set()
        if job.notify is not None:
            if self._wait_ready(job):
                job.notify(job)
        elif spec.callback_url and job.secret:
            self._deliver_webhook(job)

    def finish_running(self) -> int:
        """End every running job now; how many. A test that must see a job running holds it
        with a long ``delay`` and lets it go (a short delay races a loaded machine)."""
        now = time.monotonic()
        with self._lock:
            running = [job for job in self._jobs.values() if job.ready_at > now]
            for job in running:
                job.ready_at = now
        return len(running)

    def _wait_ready(self, job: Job) -> bool:
        """Wait for the job's end; False if the sandbox stopped or was reset meanwhile (a job
        of a test that is over calls nobody back)."""
        job.rendered.wait()
        while not self._stopping.is_set():
            remaining = job.ready_at - time.monotonic()
            if remaining <= 0:
                return job.generation == self._generation
            self._stopping.wait(min(remaining, 0.5))  # finish_running may bring it forward
        return False

    def _metadata(self, job: Job, *, final: bool,
                  async_status: str | None = None) -> dict[str, Any]:
        """``providerMetadata`` with the keys of the AI SDK's fixtures
        (``gateway-video-model.test.ts``): ``routing``, ``cost`` and ``marketCost`` (strings, once
        the job is done), ``generationId``, and for jobs ``asyncJob`` (``jobId``, ``status``)."""
        gateway: dict[str, Any] = {
            "routing": {"provider": "klingai",
                        "attempts": [{"provider": "klingai", "success": True}]},
            "generationId": job.generation_id,
        }
        if final:
            spec = job.spec
            cost = PRICE_PER_SECOND.get((spec.model, spec.mode, spec.audio), 0.0) * spec.duration
            gateway["cost"] = f"{cost:.2f}"
            gateway["marketCost"] = f"{cost * MARKET_MARKUP:.2f}"
        if async_status is not None:
            gateway["asyncJob"] = {"jobId": job.id, "status": async_status}
        if final or not self.tells_end:
            return {"gateway": gateway}
        # Not the real gateway's: when this job ends, so a client asks about it then.
        return {"gateway": gateway, "sandbox": {"expectedSeconds": self._left(job)}}

    @staticmethod
    def _left(job: Job) -> float:
        """Seconds until ``job`` ends: its planned time, and a moment more while it renders."""
        left = max(0.0, job.ready_at - time.monotonic())
        return round(left if job.rendered.is_set() else max(left, RENDER_MARGIN), 2)

    def _video_json(self, job: Job) -> dict[str, Any]:
        if self.result == "base64":
            data = base64.b64encode(job.video or b"").decode("ascii")
            return {"type": "base64", "data": data, "mediaType": "video/mp4"}
        return {"type": "url", "url": f"{self.url}/files/{job.file_id}.mp4",
                "mediaType": "video/mp4"}

    def _status_answer(self, job: Job, *, with_faults: bool = True) -> dict[str, Any]:
        if job.outcome is None and with_faults:
            fault = self.faults.take("status", ("generation_error", "cancelled",
                                                "result_expired"))
            if fault is not None:
                job.outcome = {"generation_error": ("error", str(fault.params.get("message"))),
                               "cancelled": ("cancelled", ""),
                               "result_expired": ("expired", "")}[fault.name]
        if job.outcome is not None:
            kind, message = job.outcome
            if kind == "expired":
                return self._expired_answer(job)
            answer: dict[str, Any] = {"status": kind}
            if kind == "error":
                answer["error"] = message
            answer["providerMetadata"] = self._metadata(
                job, final=False, async_status="failed" if kind == "error" else kind)
            return answer
        if not job.ready():
            return {"status": "pending",
                    "providerMetadata": self._metadata(job, final=False, async_status="running")}
        if job.failure:
            return {"status": "error", "error": job.failure,
                    "providerMetadata": self._metadata(job, final=False, async_status="failed")}
        return {
            "status": "completed",
            "videos": [self._video_json(job)],
            "warnings": job.spec.warnings,
            "providerMetadata": self._metadata(job, final=True, async_status="completed"),
        }

    def _expired_answer(self, job: Job) -> dict[str, Any]:
        """A finished job whose result is gone: ``completed`` with no videos.

        ``asyncJob.result.expiresAt`` is the key of the AI SDK's fixture (unit not stated there;
        Unix seconds here).
        """
        metadata = self._metadata(job, final=True, async_status="completed")
        metadata["gateway"]["asyncJob"]["result"] = {"expiresAt": int(time.time()) - 60}
        return {"status": "completed", "videos": [], "providerMetadata": metadata}

    def _deliver_webhook(self, job: Job) -> None:
        """POST the thin completion event to the job's ``callbackUrl``, signed, once."""
        if not self._wait_ready(job) or not job.spec.callback_url or not job.secret:
            return
        state = self._status_answer(job, with_faults=False)["status"]
        payload = {"type": f"video.generation.{'completed' if state == 'completed' else 'failed'}",
                   "jobId": job.id}
        body = json.dumps(payload, separators=(",", ":")).encode()
        headers = {
            "content-type": "application/json",
            "x-ai-gateway-signature": signature_header(job.secret, int(time.time()), body),
        }
        delivery = WebhookDelivery(job.spec.callback_url, body, headers)
        try:
            response = self._callbacks.post(job.spec.callback_url, content=body,
                                            headers=headers)
            delivery.status_code = response.status_code
        except httpx.HTTPError as exc:
            delivery.error = type(exc).__name__
        with self._lock:
            self.webhooks.append(delivery)

    def _post_callback(self, url: str, body: bytes, headers: dict[str, str]) -> None:
        """POST a provider's callback once (no retry) and list it in ``webhooks``."""
        delivery = WebhookDelivery(url, body, headers)
        try:
            response = self._callbacks.post(url, content=body, headers=headers)
            delivery.status_code = response.status_code
        except httpx.HTTPError as exc:
            delivery.error = type(exc).__name__
        with self._lock:
            self.webhooks.append(delivery)

    def _file_url(self, job: Job) -> str:
        return f"{self.url}/files/{job.file_id}.mp4"

    def _file(self, file_id: str) -> bytes | None:
        with self._lock:
            return self._files.get(file_id)


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    """``x-ai-gateway-signature``: ``t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">``.

    The header and its ``t=``/``v1=`` shape are the AI SDK's (``gateway-video-model.test.ts``);
    the signed string is Stripe's scheme, the working assumption (see ``server.py``).
    """
    signed = str(timestamp).encode() + b"." + body
    return f"t={timestamp},v1={hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()}"


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
