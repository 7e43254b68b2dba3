"""A small HTTP proxy in front of the S3 test server that can fail on demand.

``mode`` is "up" (forward), "500" (answer S3's InternalError) or "down" (close connections
at once). ``fail_next(n, mode)`` fails only the next ``n`` write requests (PUT/POST).
"""

from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

ERROR = (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code>'
         b"<Message>We encountered an internal error. Please try again.</Message></Error>")


class FaultyProxy:
    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        self.target = (parts.hostname, parts.port)
        self.mode = "up"
        self.failures_left = 0
        self.failed = 0
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def handle_one_request(self):
                try:
                    super().handle_one_request()
                except (ConnectionError, TimeoutError):
                    self.close_connection = True

            def _forward(self):
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                mode = proxy.take(self.command)
                if mode == "down":
                    self.close_connection = True
                    self.connection.close()
                    return
                if mode == "500":
                    self.send_response(500)
                    self.send_header("content-type", "application/xml")
                    self.send_header("content-length", str(len(ERROR)))
                    self.end_headers()
                    self.wfile.write(ERROR)
                    return
                upstream = http.client.HTTPConnection(*proxy.target, timeout=30)
                try:
                    upstream.request(self.command, self.path, body=body,
                                     headers=dict(self.headers.items()))
                    response = upstream.getresponse()
                    data = response.read()
                finally:
                    upstream.close()
                self.send_response(response.status)
                for name, value in response.getheaders():
                    if name.lower() not in {"transfer-encoding", "connection",
                                            "content-length"}:
                        self.send_header(name, value)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def take(self, method: str) -> str:
        with self.lock:
            if self.mode != "up":
                self.failed += 1
                return self.mode
            if self.failures_left and method in {"PUT", "POST"}:
                self.failures_left -= 1
                self.failed += 1
                return self.fail_mode
            return "up"

    def fail_next(self, count: int, mode: str = "500") -> None:
        with self.lock:
            self.failures_left, self.fail_mode = count, mode

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
