"""The sandbox's gateway routes: the v3/v4 streaming call, v4 start/status, and the files.

Headers and bodies are checked by ``validation.py`` like the real service would; the front-door
faults (``faults.py``) are applied here. A second provider's fake would be a module like this
one, with its own routes on the same ``Handler`` plumbing and ``JobBook``.
"""

from __future__ import annotations

import json
import re
import struct
import time
from typing import Any
from urllib.parse import urlsplit

from .http import Handler
from .jobs import Job, new_generation_id
from .render import without_audio
from .validation import MODELS, GatewayError, check_headers, invalid, parse_generation, parse_json

POST_ROUTES: dict[str, tuple[str, str]] = {
    "/v3/ai/video-model": ("stream", "3"),
    "/v4/ai/video-model": ("stream", "4"),
    "/v4/ai/video-model/start": ("start", "4"),
    "/v4/ai/video-model/status": ("status", "4"),
}
FILE_PATH = re.compile(r"^/files/([0-9a-f]{32})\.mp4$")
CHUNK = 64 * 1024
ZEROS = bytes(CHUNK)
NOT_A_VIDEO = (b"<!doctype html><html><body><h1>Welcome!</h1>"
               b"<p>Sign in to continue.</p></body></html>")
BAD_GATEWAY = (b"<html><head><title>502 Bad Gateway</title></head>"
               b"<body><h1>502 Bad Gateway</h1></body></html>")


class GatewayHandler(Handler):
    """Answers the gateway's routes for the ``Sandbox`` it belongs to."""

    def _reply(self, route: str, payload: Any, status: int = 200) -> None:
        self._send_answer(route, status, payload)

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

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        raw = self._read_body()
        generation_id = new_generation_id()
        if raw is None:
            self.close_connection = True
            error = invalid("The request body is too large.")
            self._send_json(error.status, error.body(generation_id))
            return
        self.sandbox._record("POST", path, self.headers, raw)
        route = POST_ROUTES.get(path)
        if route is None:
            error = GatewayError("not_found", f"No route for POST {path}.")
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
                          stream=name == "stream", start=name == "start",
                          oidc_token=self.sandbox.oidc_token)
            model = str(self.headers.get("ai-model-id"))
            if name == "start":
                self._start(raw, key, model)
            elif name == "status":
                self._status(raw)
            else:
                self._stream(raw, generation_id, model)
        except GatewayError as error:
            self._send_json(error.status, error.body(generation_id))

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        self.sandbox._record(self.command, path, self.headers, b"")
        match = FILE_PATH.match(path)
        if match:
            self._serve_file(match.group(1))
        elif path == "/":
            self._send_json(200, {"service": "django-kling sandbox", "models": list(MODELS),
                                  "v3": self.sandbox.v3_url, "v4": self.sandbox.v4_url})
        else:
            error = GatewayError("not_found", f"No route for {self.command} {path}.")
            self._send_json(404, error.body(new_generation_id()))

    do_HEAD = do_GET

    # -- routes -----------------------------------------------------------------------------------

    def _start(self, raw: bytes, key: str, model: str) -> None:
        spec = parse_generation(raw, allow_callback=True, model=model)
        job = self.sandbox._job(spec, key)
        metadata = self.sandbox._metadata(job, final=False, async_status="queued")
        if job.secret:
            # Where the AI SDK's start-video.ts documents it.
            metadata["gateway"]["asyncJob"]["webhookSigningSecret"] = job.secret
        self._reply("start", {"operation": {"gatewayJobId": job.id},
                              "warnings": job.spec.warnings, "providerMetadata": metadata},
                    status=202)

    def _status(self, raw: bytes) -> None:
        body = parse_json(raw)
        if not isinstance(body, dict) or "operation" not in body:
            raise invalid("The status body must be {\"operation\": ...}.", "operation")
        job = self.sandbox._job_for(body["operation"])
        huge = self.sandbox.faults.take("status", ("huge_answer",))
        if huge is not None:
            self._send_huge(b'{"status": "completed", "videos": [{"type": "base64", '
                            b'"mediaType": "video/mp4", "data": "',
                            float(huge.params["megabytes"]), b'"}]}')
            return
        self._reply("status", self.sandbox._status_answer(job))

    def _stream(self, raw: bytes, generation_id: str, model: str) -> None:
        spec = parse_generation(raw, model=model)
        sandbox = self.sandbox
        job = sandbox._job(spec, None)
        huge = sandbox.faults.take("stream", ("huge_answer",))
        if huge is not None:  # at once: the clip is billed, its size is the point
            self._send_huge(b':\n\ndata: {"type": "result", "videos": [{"type": "base64", '
                            b'"mediaType": "video/mp4", "data": "',
                            float(huge.params["megabytes"]), b'"}]}\n\n', "text/event-stream")
            return
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
        fault = self.sandbox.faults.take("stream", ("generation_error",))
        if fault is not None:
            return {"type": "error", "message": str(fault.params["message"]),
                    "errorType": fault.params["error_type"],
                    "statusCode": int(fault.params["status_code"]), "param": None}
        if job.failure:
            return {"type": "error", "message": job.failure,
                    "errorType": "internal_server_error", "statusCode": 500, "param": None}
        return {
            "type": "result",
            "videos": [self.sandbox._video_json(job)],
            "warnings": job.spec.warnings,
            "providerMetadata": self.sandbox._metadata(job, final=True),
        }

    def _serve_file(self, file_id: str) -> None:
        sandbox = self.sandbox
        if self._early_faults("file", new_generation_id()):
            return
        fault = sandbox.faults.take("file", ("expired_url", "truncated_mp4", "not_a_video",
                                             "silent_clip"))
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
        elif fault is not None and fault.name == "silent_clip":
            content = without_audio(content)
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
