"""A loopback HTTP server that impersonates the Vercel AI Gateway for ``klingai/kling-v2.6-i2v``.

It speaks protocol.md §1: the SSE streaming call (``POST /v3/ai/video-model`` and
``POST /v4/ai/video-model``) and the v4 jobs (``POST /v4/ai/video-model/start`` and
``/status``), checks headers and body like the real service, bills each idempotency key once,
renders a real MP4 (``render.py``) and serves it from ``GET /files/<id>.mp4``. Faults
(``faults.py``) make it misbehave on demand. It does not import Django, so host projects and
benchmarks can run it on its own::

    with Sandbox(api_key="k", delay=1.0, render_scale=0.25) as sandbox:
        ...  # point the client at sandbox.v4_url (jobs) or sandbox.v3_url (stream)

Webhooks (this sandbox's own format; the real gateway's payload is UNVERIFIED): when a start call
carries ``callbackUrl``, its answer has ``providerMetadata.gateway.webhookSigningSecret`` (random
per job). Once the job is finished the sandbox POSTs once (no retry) to that URL a JSON body
``{"operation": <the operation>, "status": ..., ...}`` (the status answer plus the operation),
with headers ``x-timestamp`` (Unix seconds) and ``x-signature``: the hex HMAC-SHA256 of
``<timestamp>.<exact body bytes>``, keyed with the secret's UTF-8 bytes (the timestamp is signed
so that a replayed call cannot be freshened). Deliveries are listed in
``sandbox.webhooks``.

Output files can be padded (``pad_to_bytes``) with a top-level MP4 ``free`` box streamed after
the real clip, so memory benchmarks get large downloads without large renders. Base64 results
are never padded.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import ipaddress
import json
import logging
import re
import secrets
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import httpx
from PIL import Image

from .faults import FaultBoard
from .render import RENDER_CACHE, nearest_aspect, output_size, render_clip, render_key
from .validation import (
    MODEL_ID,
    GatewayError,
    GenerationSpec,
    check_headers,
    invalid,
    parse_generation,
    parse_json,
    ratio_of,
)

logger = logging.getLogger("django_kling.sandbox")

POST_ROUTES: dict[str, tuple[str, str]] = {
    "/v3/ai/video-model": ("stream", "3"),
    "/v4/ai/video-model": ("stream", "4"),
    "/v4/ai/video-model/start": ("start", "4"),
    "/v4/ai/video-model/status": ("status", "4"),
}
FILE_PATH = re.compile(r"^/files/([0-9a-f]{32})\.mp4$")
RESULT_KINDS = ("url", "base64")
PRICE_PER_SECOND = {False: 0.07, True: 0.14}  # USD, published v2.6 image-to-video prices
MAX_BODY = 64 * 1024 * 1024  # two 10 MB images in base64 fit with room to spare
CHUNK = 64 * 1024
ZEROS = bytes(CHUNK)
NOT_A_VIDEO = (b"<!doctype html><html><body><h1>Welcome!</h1>"
               b"<p>Sign in to continue.</p></body></html>")
BAD_GATEWAY = (b"<html><head><title>502 Bad Gateway</title></head>"
               b"<body><h1>502 Bad Gateway</h1></body></html>")


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


class Sandbox:
    """The fake gateway; ``start()`` it (or use ``with``) and point a client at ``v4_url``.

    Options that may change while it runs: ``delay`` (seconds a generation takes; read when a
    job starts), ``result`` ("url" or "base64"; read when an answer is built), ``render_scale``
    (read when a job starts), ``pad_to_bytes`` and ``heartbeat_interval``.

    What tests read: ``calls`` (``Call`` records, API key redacted, image data left out),
    ``billed`` (idempotency key -> times billed, never above 1), ``bill_count`` (all billed
    generations, streams included), ``start_calls`` (idempotency key -> start requests,
    faulted ones included) and ``webhooks`` (``WebhookDelivery`` records).
    """

    heartbeat_interval = 0.5

    def __init__(
        self,
        api_key: str = "sandbox-key",
        *,
        delay: float = 0.0,
        result: str = "url",
        render_scale: float = 1.0,
        host: str = "127.0.0.1",
        port: int = 0,
        pad_to_bytes: int | None = None,
    ) -> None:
        self.api_key = api_key
        self.delay = delay
        self.result = result
        self.render_scale = render_scale
        self.host = host
        self.port = port
        self.pad_to_bytes = pad_to_bytes
        self.faults = FaultBoard()
        self.billed: dict[str, int] = {}
        self.bill_count = 0
        self.start_calls: dict[str, int] = {}
        self.webhooks: list[WebhookDelivery] = []
        self._calls: list[Call] = []
        self._jobs: dict[str, Job] = {}
        self._jobs_by_key: dict[str, Job] = {}
        self._files: dict[str, bytes] = {}
        self._lock = threading.RLock()
        # Two renders at once keep a 1080p burst from starving the request threads.
        self._render_slots = threading.BoundedSemaphore(2)
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> Sandbox:
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = _Server((self.host, self.port), _Handler, self)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.1},
                                        name="kling-sandbox", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- addresses and options --------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._server is None and not self.port:
            raise RuntimeError("start the sandbox first: its port is chosen at start")
        host = self.host
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            pass
        else:
            # A wildcard bind is reachable on loopback; "0.0.0.0" is no address to fetch from.
            if address.is_unspecified:
                host = "127.0.0.1" if address.version == 4 else "::1"
            if address.version == 6:
                host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def v3_url(self) -> str:
        return self.url + "/v3/ai"

    @property
    def v4_url(self) -> str:
        return self.url + "/v4/ai"

    @property
    def result(self) -> str:
        return self._result

    @result.setter
    def result(self, value: str) -> None:
        if value not in RESULT_KINDS:
            raise ValueError(f"result must be one of {', '.join(RESULT_KINDS)}")
        self._result = value

    @property
    def calls(self) -> list[Call]:
        """A snapshot of the requests received so far, oldest first."""
        with self._lock:
            return list(self._calls)

    # -- faults and counters ----------------------------------------------------------------------

    def set_fault(self, name: str, times: int | None = None, *, route: Any = None,
                  **params: Any) -> None:
        """Switch a fault on (see ``faults.FAULTS``); ``times=None`` means until cleared."""
        self.faults.set(name, times, route=route, **params)

    def clear_faults(self, name: str | None = None) -> None:
        self.faults.clear(name)

    def reset(self) -> None:
        """Forget calls, bills, jobs, files, webhooks and faults (options stay as they are)."""
        with self._lock:
            self._calls.clear()
            self.billed.clear()
            self.bill_count = 0
            self.start_calls.clear()
            self.webhooks.clear()
            self._jobs.clear()
            self._jobs_by_key.clear()
            self._files.clear()
        self.faults.clear()

    # -- jobs -------------------------------------------------------------------------------------

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
                generation_id=_generation_id(),
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

    # -- answers ----------------------------------------------------------------------------------

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


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # benchmarks open many connections at once
    block_on_close = False

    def __init__(self, address: tuple[str, int], handler: type, sandbox: Sandbox) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.sandbox = sandbox
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, handler)

    def close_connections(self) -> None:
        # Idle keep-alive connections would otherwise keep being served after stop().
        with self.connections_lock:
            connections = list(self.connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                logger.debug("sandbox connection already closed")


class _Handler(BaseHTTPRequestHandler):
    # Answers go out in two writes (headers, body); without this a kept-alive client waits
    # ~40 ms for each (Nagle's algorithm against delayed ACKs).
    disable_nagle_algorithm = True
    protocol_version = "HTTP/1.1"
    server_version = "kling-sandbox/1"
    timeout = 60  # idle keep-alive connections end on their own
    server: _Server

    # -- plumbing ---------------------------------------------------------------------------------

    @property
    def sandbox(self) -> Sandbox:
        return self.server.sandbox

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        try:
            super().finish()
        except OSError:
            logger.debug("sandbox client went away")

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("sandbox: " + format, *args)

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except (BrokenPipeError, ConnectionResetError):
            # The client hung up mid-answer (a timeout on its side); nothing left to tell it.
            self.close_connection = True

    def _read_body(self) -> bytes | None:
        if "chunked" in (self.headers.get("transfer-encoding") or "").lower():
            data = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        continue
                    return bytes(data)
                if len(data) + size > MAX_BODY:
                    return None
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("content-length") or 0)
        if length > MAX_BODY:
            return None
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: bytes, content_type: str,
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json", headers)

    def _reply(self, route: str, payload: Any) -> None:
        """A 200 JSON answer, unless ``malformed_json`` is on: then half of it."""
        body = json.dumps(payload).encode()
        if self.sandbox.faults.take(route, ("malformed_json",)) is not None:
            body = body[: max(1, len(body) // 2)]
        self._send(200, body, "application/json")

    def _early_faults(self, route: str, generation_id: str) -> bool:
        """Apply ``slow`` and the front-door faults; True when an answer was sent."""
        faults = self.sandbox.faults
        slow = faults.take(route, ("slow",))
        if slow is not None:
            self.sandbox._stopping.wait(float(slow.params["seconds"]))
        fault = faults.take(route, ("rate_limit", "server_error", "bad_gateway"))
        if fault is None:
            return False
        if fault.name == "bad_gateway":
            self._send(502, BAD_GATEWAY, "text/html")
            return True
        if fault.name == "rate_limit":
            seconds = fault.params["retry_after"]
            error = GatewayError("rate_limit_exceeded", "Rate limit exceeded; slow down.",
                                 code="rate_limit_exceeded")
            retry = str(int(seconds)) if float(seconds).is_integer() else str(seconds)
            self._send_json(error.status, error.body(generation_id), {"retry-after": retry})
            return True
        error = GatewayError("internal_server_error", str(fault.params["message"]))
        self._send_json(error.status, error.body(generation_id))
        return True

    # -- HTTP methods -----------------------------------------------------------------------------

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        raw = self._read_body()
        generation_id = _generation_id()
        if raw is None:
            self.close_connection = True
            error = invalid("The request body is too large.")
            self._send_json(error.status, error.body(generation_id))
            return
        self.sandbox._record("POST", path, self.headers, raw)
        route = POST_ROUTES.get(path)
        if route is None:
            error = GatewayError("not_found_error", f"No route for POST {path}.")
            self._send_json(404, error.body(generation_id))
            return
        name, spec_version = route
        key = (self.headers.get("idempotency-key") or "").strip()
        if name == "start" and key:
            self.sandbox._count_start(key)
        try:
            if self._early_faults(name, generation_id):
                return
            check_headers(self.headers, api_key=self.sandbox.api_key, spec_version=spec_version,
                          stream=name == "stream", start=name == "start")
            if name == "start":
                self._start(raw, key)
            elif name == "status":
                self._status(raw)
            else:
                self._stream(raw, generation_id)
        except GatewayError as error:
            self._send_json(error.status, error.body(generation_id))

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        self.sandbox._record(self.command, path, self.headers, b"")
        match = FILE_PATH.match(path)
        if match:
            self._serve_file(match.group(1))
        elif path == "/":
            self._send_json(200, {"service": "django-kling sandbox", "model": MODEL_ID,
                                  "v3": self.sandbox.v3_url, "v4": self.sandbox.v4_url})
        else:
            error = GatewayError("not_found_error", f"No route for {self.command} {path}.")
            self._send_json(404, error.body(_generation_id()))

    do_HEAD = do_GET

    # -- routes -----------------------------------------------------------------------------------

    def _start(self, raw: bytes, key: str) -> None:
        spec = parse_generation(raw, allow_callback=True)
        job = self.sandbox._job(spec, key)
        metadata = self.sandbox._metadata(job, final=False)
        if job.secret:
            metadata["gateway"]["webhookSigningSecret"] = job.secret
        self._reply("start", {"operation": {"gatewayJobId": job.id},
                              "warnings": job.spec.warnings, "providerMetadata": metadata})

    def _status(self, raw: bytes) -> None:
        body = parse_json(raw)
        if not isinstance(body, dict) or "operation" not in body:
            raise invalid("The status body must be {\"operation\": ...}.", "operation")
        job = self.sandbox._job_for(body["operation"])
        self._reply("status", self.sandbox._status_answer(job))

    def _stream(self, raw: bytes, generation_id: str) -> None:
        spec = parse_generation(raw)
        sandbox = self.sandbox
        job = sandbox._job(spec, None)
        cut = sandbox.faults.take("stream", ("cut_stream",))
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        # One heartbeat at once: the client knows the call was accepted before the long wait.
        self._chunk(b":\n\n")
        if cut is not None:
            for _ in range(max(0, int(cut.params["heartbeats"]) - 1)):
                sandbox._stopping.wait(sandbox.heartbeat_interval)
                self._chunk(b":\n\n")
            self.close_connection = True
            if cut.params["clean"]:
                self._chunk(b"")
            return
        last_beat = time.monotonic()
        while not job.ready():
            if sandbox._stopping.is_set():
                self.close_connection = True
                return
            next_beat = last_beat + sandbox.heartbeat_interval
            now = time.monotonic()
            if job.rendered.is_set():
                sandbox._stopping.wait(max(0.0, min(next_beat, job.ready_at) - now))
            else:
                job.rendered.wait(max(0.0, next_beat - now))
            if time.monotonic() >= next_beat and not job.ready():
                self._chunk(b":\n\n")
                last_beat = time.monotonic()
        event = self._stream_event(job)
        data = json.dumps(event)
        if sandbox.faults.take("stream", ("malformed_json",)) is not None:
            data = data[: max(1, len(data) // 2)]
        self._chunk(f"data: {data}\n\n".encode())
        self._chunk(b"")

    def _stream_event(self, job: Job) -> dict[str, Any]:
        fault = self.sandbox.faults.take("stream", ("generation_error", "uploaded"))
        if fault is not None and fault.name == "generation_error":
            return {"type": "error", "message": str(fault.params["message"]),
                    "errorType": fault.params["error_type"],
                    "statusCode": int(fault.params["status_code"]), "param": None}
        if job.failure:
            return {"type": "error", "message": job.failure,
                    "errorType": "internal_server_error", "statusCode": 500, "param": None}
        return {
            "type": "result",
            "videos": [self.sandbox._video_json(job, uploaded=fault is not None)],
            "warnings": job.spec.warnings,
            "providerMetadata": self.sandbox._metadata(job, final=True),
        }

    def _chunk(self, data: bytes) -> None:
        # HTTP/1.1 chunked framing; an empty chunk ends the body.
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _serve_file(self, file_id: str) -> None:
        sandbox = self.sandbox
        if self._early_faults("file", _generation_id()):
            return
        fault = sandbox.faults.take("file", ("expired_url", "truncated_mp4", "not_a_video"))
        content = sandbox._file(file_id)
        if content is None or (fault is not None and fault.name == "expired_url"):
            status = 404 if fault is None else int(fault.params["status"])
            code = "NoSuchKey" if status == 404 else "AccessDenied"
            body = (f"<?xml version=\"1.0\"?><Error><Code>{code}</Code>"
                    f"<Message>The link has expired or never existed.</Message></Error>").encode()
            self._send(status, body, "application/xml")
            return
        if fault is not None and fault.name == "not_a_video":
            self._send(200, NOT_A_VIDEO, "video/mp4")
            return
        padding = 0
        if fault is not None and fault.name == "truncated_mp4":
            content = content[: len(content) // 2]
        elif sandbox.pad_to_bytes:
            padding = _padding_size(len(content), sandbox.pad_to_bytes)
        self.send_response(200)
        self.send_header("content-type", "video/mp4")
        self.send_header("content-length", str(len(content) + padding))
        self.end_headers()
        if self.command == "HEAD":
            return
        view = memoryview(content)
        for offset in range(0, len(view), CHUNK):
            self.wfile.write(view[offset: offset + CHUNK])
        if padding:
            self._write_free_box(padding)

    def _write_free_box(self, size: int) -> None:
        # A top-level "free" box is skipped by every MP4 reader; the zeros are streamed so a
        # 1 GB padding never sits in memory.
        if size > 0xFFFFFFFF:
            header = struct.pack(">I4sQ", 1, b"free", size)
        else:
            header = struct.pack(">I4s", size, b"free")
        self.wfile.write(header)
        remaining = size - len(header)
        while remaining > 0:
            step = min(remaining, CHUNK)
            self.wfile.write(ZEROS[:step])
            remaining -= step


def _padding_size(content: int, target: int) -> int:
    """Bytes of ``free`` box to reach ``target``; 0 when no box fits in the gap."""
    gap = target - content
    return gap if gap >= 8 else 0


def _generation_id() -> str:
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
