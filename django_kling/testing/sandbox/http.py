"""HTTP plumbing of the sandbox: a threading server that can drop its connections on stop, and
a request handler base with body reading, answers and chunked framing (no routes)."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

logger = logging.getLogger("django_kling.sandbox")

BAD_GATEWAY = b"<html><body><h1>502 Bad Gateway</h1></body></html>"  # a proxy's page, not JSON
MAX_BODY = 64 * 1024 * 1024  # two 10 MB images in base64 fit with room to spare
HUGE_BLOCK = 64 * 1024  # the piece ``huge_answer`` is written in



class Refusal(Exception):
    """An error answer of a provider's route, in that provider's shape (``body()``)."""

    status: int

    def body(self) -> Any:
        raise NotImplementedError


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # benchmarks open many connections at once
    block_on_close = False

    def __init__(self, address: tuple[str, int], handler: type, sandbox: Any) -> None:
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


class Handler(BaseHTTPRequestHandler):
    # Answers go out in two writes (headers, body); without this a kept-alive client waits
    # ~40 ms for each (Nagle's algorithm against delayed ACKs).
    disable_nagle_algorithm = True
    protocol_version = "HTTP/1.1"
    server_version = "kling-sandbox/1"
    timeout = 60  # idle keep-alive connections end on their own
    server: Server

    # -- plumbing ---------------------------------------------------------------------------------

    @property
    def sandbox(self) -> Any:
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

    def _chunk(self, data: bytes) -> None:
        # HTTP/1.1 chunked framing; an empty chunk ends the body.
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    # -- faults shared by the providers' routes ---------------------------------------------------

    def _provider_faults(self, route: str,
                         errors: Mapping[str, Callable[[Any], tuple[int, Any]]]) -> bool:
        """Play the fault switched on for ``route``: ``slow`` delays and lets the route go on;
        ``bad_gateway`` is a proxy's HTML page; the others are answered in the provider's own
        shape, ``errors[name](fault) -> (status, payload)``. True when an answer was sent."""
        faults = self.sandbox.faults
        slow = faults.take(route, ("slow",))
        if slow is not None:
            self.sandbox._stopping.wait(float(slow.params["seconds"]))
        fault = faults.take(route, ("bad_gateway", *errors))
        if fault is None:
            return False
        if fault.name == "bad_gateway":
            self._send(502, BAD_GATEWAY, "text/html")
            return True
        status, payload = errors[fault.name](fault)
        retry = ({"retry-after": str(fault.params["retry_after"])} if fault.name == "rate_limit"
                 else None)
        self._send_json(status, payload, retry)
        return True

    def _send_huge(self, head: bytes, megabytes: float, tail: bytes,
                   content_type: str = "application/json") -> None:
        """A 200 JSON answer: ``head``, ``megabytes`` MiB of base64 text, ``tail``; chunked, so
        no content-length tells the client its size before it reads. A client that hangs up
        once past its cap ends it (``handle_one_request`` takes the broken pipe)."""
        self.send_response(200)
        self.send_header("content-type", content_type)
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        self._chunk(head)
        block = b"A" * HUGE_BLOCK
        for _ in range(int(megabytes * 2**20) // HUGE_BLOCK):
            self._chunk(block)
        self._chunk(tail)
        self._chunk(b"")
        self.sandbox.huge_answers_sent += 1  # only when the whole answer went out

    def _send_answer(self, route: str, status: int, payload: Any) -> None:
        """A JSON answer, unless ``malformed_json`` is on for ``route``: then half of it."""
        body = json.dumps(payload).encode()
        if self.sandbox.faults.take(route, ("malformed_json",)) is not None:
            body = body[: max(1, len(body) // 2)]
        self._send(status, body, "application/json")

    def _provider_request(self, method: str, *, prefix: str, provider: str,
                          answer: Callable[[str, str, bytes], tuple[int, Any]],
                          errors: Mapping[str, Callable[[Any], tuple[int, Any]]],
                          unfaulted: tuple[str, ...] = ()) -> None:
        """One call to a provider's route: recorded, its switched-on fault played (not on the
        ``unfaulted`` paths), then ``answer(path, query, body) -> (status, payload)``; a
        ``Refusal`` it raises is sent as the provider's error answer."""
        parts = urlsplit(self.path)
        path = parts.path[len(prefix):]
        raw = (self._read_body() if method == "POST" else b"") or b""
        self.sandbox._record(method, parts.path, self.headers, raw)
        route = f"{provider}.start" if method == "POST" else f"{provider}.status"
        faulted = path not in unfaulted
        try:
            if faulted and self._provider_faults(route, errors):
                return
            status, payload = answer(path, parts.query, raw)
        except Refusal as error:
            self._send_json(error.status, error.body())
            return
        if faulted:
            self._send_answer(route, status, payload)
        else:
            self._send_json(status, payload)

    def _provider_job(self, job_id: str, provider: str, refusal: Refusal) -> Any:
        """The sandbox's job ``job_id`` of ``provider``; ``refusal`` raised when there is none."""
        with self.sandbox._lock:
            job = self.sandbox._jobs.get(job_id)
        if job is None or job.provider != provider:
            raise refusal
        return job
