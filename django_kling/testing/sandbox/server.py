"""A loopback HTTP server that impersonates the Vercel AI Gateway for the Kling i2v models.

It speaks the gateway protocol of the AI SDK's gateway provider (see ``docs/providers.rst``):
the SSE streaming call (``POST /v3/ai/video-model`` and
``POST /v4/ai/video-model``) and the v4 jobs (``POST /v4/ai/video-model/start`` and
``/status``), checks headers and body like the real service, bills each idempotency key once,
renders a real MP4 (``render.py``) and serves it from ``GET /files/<id>.mp4``. Faults
(``faults.py``) make it misbehave on demand. It does not import Django, so host projects and
benchmarks can run it on its own::

    with Sandbox(api_key="k", delay=1.0, render_scale=0.25) as sandbox:
        ...  # point the client at sandbox.v4_url (jobs) or sandbox.v3_url (stream)

Answers carry the gateway's metadata as the AI SDK's tests show it: start answers HTTP 202 with
``providerMetadata.gateway.asyncJob`` (``jobId``, ``status: "queued"``), status answers carry
``asyncJob`` too (``running``, ``completed``...), and every answer ``routing``,
``generationId`` and, once done, ``cost`` and ``marketCost`` (strings). The models are those of
the capability registry's gateway routes (``klingai/kling-v2.6-i2v``; the silent
``klingai/kling-v2.5-turbo-i2v``; ``klingai/kling-v3.0-i2v``, 3 to 15 s), each held to its
durations, sound and voices (``django_kling.capabilities``), with an API key
(``ai-gateway-auth-method: api-key``) or the ``oidc_token`` given to the sandbox (``oidc``).

Webhooks: when a start call carries ``callbackUrl``, its ``asyncJob`` has a random
``webhookSigningSecret``. Once the job is finished the sandbox POSTs once (no retry) a thin JSON
event, ``{"type": "video.generation.completed", "jobId": ...}`` (``...failed`` when it failed),
signed in the header ``x-ai-gateway-signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
"<t>.<exact body bytes>" keyed with the secret>``. The header and its shape are the AI SDK's;
the signed string (Stripe's scheme) and the payload's fields beyond ``type`` are ASSUMED: the
gateway does not publish them. Deliveries are listed in ``sandbox.webhooks``.

Output files can be padded (``pad_to_bytes``) with a top-level MP4 ``free`` box streamed after
the real clip, so memory benchmarks get large downloads without large renders. Base64 results
are never padded.
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import threading
import time
from collections.abc import Iterator
from typing import Any

from .faults import FaultBoard
from .http import Server
from .jobs import RESULT_KINDS, Call, Job, JobBook, WebhookDelivery
from .routes import SandboxHandler

__all__ = ["Call", "Sandbox", "WebhookDelivery"]


class Sandbox(JobBook):
    """The fake gateway; ``start()`` it (or use ``with``) and point a client at ``v4_url``.

    ``oidc_token``: the Vercel OIDC token accepted besides the API key (None: API key only).
    Options that may change while it runs: ``delay`` (seconds a generation takes; read when a
    job starts), ``delay_range`` (``(low, high)``: each generation takes a random time in it
    instead; for benchmarks) or ``delay_lognormal`` (``(median, sigma, low, high)``), ``result``
    ("url" or "base64"; read when an answer is built),
    ``render_scale`` (read when a job starts), ``pad_to_bytes``, ``heartbeat_interval`` and
    ``tells_end`` (True: the gateway answers of a running job say when it ends, in
    ``providerMetadata.sandbox.expectedSeconds``, so a client asks then; False: silent, like
    the real gateway, for tests of the polling plan).

    What tests read: ``calls`` (``Call`` records, API key redacted, image data left out),
    ``billed`` (idempotency key -> times billed, never above 1), ``bill_count`` (all billed
    generations, streams included), ``start_calls`` (idempotency key -> start requests,
    faulted ones included), ``webhooks`` (``WebhookDelivery`` records) and ``max_running``
    (the most generations running at once, from a start to its ``delay``'s end).

    ``reset()`` waits for the requests being answered (a ``slow`` create bills when it wakes),
    and a job created before a reset calls nobody back after it: each reset starts a clean book.
    """

    heartbeat_interval = 0.5
    tells_end = True
    #: How long ``reset()`` waits for requests in flight before it gives up (RuntimeError).
    reset_timeout = 15.0

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
        oidc_token: str | None = None,
    ) -> None:
        self.api_key = api_key
        self.oidc_token = oidc_token
        self.delay = delay
        self.delay_range: tuple[float, float] | None = None
        #: ``(median, sigma, low, high)``: log-normal generation times, clipped (benchmarks).
        self.delay_lognormal: tuple[float, float, float, float] | None = None
        self.result = result
        self.render_scale = render_scale
        self.host = host
        self.port = port
        self.pad_to_bytes = pad_to_bytes
        self.faults = FaultBoard()
        self.billed: dict[str, int] = {}
        #: Bills per provider protocol: provider -> idempotency key -> times billed.
        self.billed_by: dict[str, dict[str, int]] = {}
        #: Kling's JWT credentials (the API key is accepted too) and the JWTs seen.
        self.kling_access_key = "sandbox-access-key"
        self.kling_secret_key = "sandbox-secret-key"  # noqa: S105 (a fake)
        self.kling_tokens: list[str] = []
        #: The secret Replicate-style webhooks are signed with (Standard Webhooks).
        self.replicate_webhook_secret = "whsec_" + base64.b64encode(  # noqa: S105 (a fake)
            b"sandbox-replicate-key").decode()
        self.bill_count = 0
        #: ``huge_answer`` answers written to the end (a client that caps them hangs up first).
        self.huge_answers_sent = 0
        self.max_running = 0
        self._running_until: list[float] = []  # a heap of the running jobs' ends
        self._takes: dict[str, int] = {}  # how many jobs each input made: the next one's take
        self.start_calls: dict[str, int] = {}
        self.webhooks: list[WebhookDelivery] = []
        self._calls: list[Call] = []
        self._jobs: dict[str, Job] = {}
        self._jobs_by_key: dict[tuple[str, str], Job] = {}
        self._files: dict[str, bytes] = {}
        #: Files uploaded through Replicate's files API: id -> (content type, bytes).
        self.uploads: dict[str, tuple[str, bytes]] = {}
        self._lock = threading.RLock()
        #: Requests being answered now, and the book they write in (``reset()`` starts another).
        self._in_flight = 0
        self._idle = threading.Condition(threading.Lock())
        self._generation = 0
        # Two renders at once keep a 1080p burst from starving the request threads.
        self._render_slots = threading.BoundedSemaphore(2)
        self._stopping = threading.Event()
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Sandbox:
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = Server((self.host, self.port), SandboxHandler, self)
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
        callbacks = self.__dict__.pop("_callbacks", None)
        if callbacks is not None:
            callbacks.close()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

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
    def fal_url(self) -> str:
        """``QUEUE_URL`` of the ``fal`` provider."""
        return self.url + "/fal"

    @property
    def fal_jwks_url(self) -> str:
        """``JWKS_URL`` of the ``fal`` provider: the key that signs the sandbox's webhooks."""
        return self.url + "/fal/.well-known/jwks.json"

    @property
    def replicate_url(self) -> str:
        """``BASE_URL`` of the ``replicate`` provider."""
        return self.url + "/replicate/v1"

    @property
    def kling_url(self) -> str:
        """``BASE_URL`` of the ``kling`` provider (Kling's own API)."""
        return self.url + "/kling"

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

    def set_fault(self, name: str, times: int | None = None, *, route: Any = None,
                  **params: Any) -> None:
        """Switch a fault on (see ``faults.FAULTS``); ``times=None`` means until cleared."""
        self.faults.set(name, times, route=route, **params)

    def clear_faults(self, name: str | None = None) -> None:
        self.faults.clear(name)

    @contextlib.contextmanager
    def _answering(self) -> Iterator[None]:
        """Count a request as in flight while its handler runs (see ``wait_until_idle``)."""
        with self._idle:
            self._in_flight += 1
        try:
            yield
        finally:
            with self._idle:
                self._in_flight -= 1
                self._idle.notify_all()

    def wait_until_idle(self, timeout: float = 10.0) -> bool:
        """Wait until no request is being answered; False if some still are after ``timeout``.

        A test that let its client time out waits here for the sandbox to finish the request it
        was sent (and bill it) instead of sleeping for a guessed time.
        """
        limit = time.monotonic() + timeout
        with self._idle:
            while self._in_flight:
                remaining = limit - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    def reset(self) -> None:
        """Forget calls, bills, jobs, files, webhooks and faults (options stay as they are).

        Requests in flight are answered first, so what they bill is forgotten with the rest
        instead of showing up in the next test's counters; jobs created before the reset never
        call back (webhooks, provider callbacks) after it.
        """
        if not self.wait_until_idle(self.reset_timeout):
            raise RuntimeError(
                f"sandbox reset: {self._in_flight} request(s) still being answered after "
                f"{self.reset_timeout:g} s; their bills would land in the next test")
        with self._lock:
            self._generation += 1
            self._calls.clear()
            self.billed.clear()
            self.billed_by.clear()
            self.kling_tokens.clear()
            self.bill_count = 0
            self.huge_answers_sent = 0
            self.max_running = 0
            self._running_until.clear()
            self._takes.clear()
            self.start_calls.clear()
            self.webhooks.clear()
            self._jobs.clear()
            self._jobs_by_key.clear()
            self._files.clear()
            self.uploads.clear()
        self.faults.clear()
