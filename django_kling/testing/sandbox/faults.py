"""Misbehaviour on demand: the table of faults the sandbox can be told to inject.

Each fault has the routes where it makes sense and its default parameters. A test switches one
on with ``sandbox.set_fault(name, times=None, route=None, **params)``: ``times=N`` hits the
next N matching requests and then switches itself off, ``None`` keeps it on until
``clear_faults()``; ``route`` narrows it to some of its routes.

Routes: ``start`` and ``status`` (v4 jobs), ``stream`` (the SSE call, v3 and v4) and ``file``
(``GET /files/<id>.mp4``, the result download); the other providers' protocols have their own
``<provider>.start`` and ``<provider>.status`` (``kling.start``, ``fal.status``...), so a test
can break one provider and not the next (fallback). A fault set without ``route`` hits every
route it applies to, whichever provider's.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

#: The providers other than the gateway that the sandbox speaks for.
DIRECT = ("kling", "fal", "replicate")
DIRECT_STARTS = tuple(f"{provider}.start" for provider in DIRECT)
DIRECT_STATUS = tuple(f"{provider}.status" for provider in DIRECT)
ROUTES = ("start", "status", "stream", "file", *DIRECT_STARTS, *DIRECT_STATUS)
#: fal's webhook key set (``GET /fal/.well-known/jwks.json``), only broken by ``huge_answer``.
JWKS_ROUTE = "fal.jwks"
API_ROUTES = ("start", "status", "stream", *DIRECT_STARTS, *DIRECT_STATUS)


@dataclass(frozen=True)
class FaultKind:
    routes: tuple[str, ...]
    defaults: dict[str, Any]
    effect: str


FAULTS: dict[str, FaultKind] = {
    # Answered before the request is read, like an overloaded front door: nothing is billed.
    "rate_limit": FaultKind(API_ROUTES, {"retry_after": 1},
                            "429 rate_limit_exceeded with a retry-after header (seconds)"),
    "server_error": FaultKind(ROUTES, {"message": "The sandbox failed on purpose."},
                              "500 internal_server_error"),
    "bad_gateway": FaultKind(ROUTES, {}, "502 with an HTML (non-JSON) body"),
    "slow": FaultKind(ROUTES, {"seconds": 2.0}, "sleep this long before answering"),
    # Answered after the work was accepted: start creates (and bills) the job, so a client
    # that retries with the same idempotency key must not be billed again.
    "malformed_json": FaultKind(API_ROUTES, {},
                                "a 2xx whose JSON body (or SSE data event) is cut in half"),
    "cut_stream": FaultKind(("stream",), {"heartbeats": 2, "clean": False},
                            "send heartbeats, then drop the connection without the data event "
                            "(clean=True ends the HTTP body properly instead)"),
    "out_of_credit": FaultKind(DIRECT_STARTS, {},
                               "the start is refused: no credit left on the account (the "
                               "provider's own quota answer; nothing billed)"),
    "generation_error": FaultKind(
        ("status", "stream", *DIRECT_STATUS),
        {"message": "Kling could not generate this video.",
         "error_type": "internal_server_error", "status_code": 500},
        'status answers {"status":"error"} from then on; the stream sends its error event'),
    "cancelled": FaultKind(("status", "replicate.status"), {},
                           'status answers {"status":"cancelled"} from then on'),
    "result_expired": FaultKind(("status",), {},
                                'status answers {"status":"completed","videos":[]} (the result '
                                "expired) from then on"),
    "expired_url": FaultKind(("file",), {"status": 404}, "the result URL answers 404 (or 403)"),
    "truncated_mp4": FaultKind(("file",), {},
                               "serve the first half of the clip (content-length matches)"),
    "not_a_video": FaultKind(("file",), {}, "serve an HTML page labelled video/mp4"),
    "silent_clip": FaultKind(("file",), {},
                             "serve the clip without its audio track (the video copied as it is)"),
    # A hijacked or confused answer: the job's own URLs (fal's status_url / response_url,
    # Replicate's urls.get) name another server, which must never receive the account's key.
    "foreign_urls": FaultKind(("fal.start", "replicate.start"), {"origin": "https://example.com"},
                              "the submit answer's job URLs point at ``origin`` instead of the "
                              "sandbox (the job is queued and billed as usual)"),
    # Answers far larger than any real one, sent chunked (no content-length to refuse them by):
    # the client must cap them while reading, never hold them whole.
    "huge_answer": FaultKind(("status", "stream", JWKS_ROUTE), {"megabytes": 16.0},
                             "a 200 answer holding ``megabytes`` MiB of base64 text: on status "
                             "and stream a finished job with that clip inline (it decodes to "
                             "zeros), on fal.jwks the key set with that much padding"),
}


@dataclass
class ActiveFault:
    name: str
    routes: frozenset[str]
    remaining: int | None
    params: dict[str, Any] = field(default_factory=dict)


class FaultBoard:
    """The faults switched on right now; thread-safe, consumed by the request handlers."""

    def __init__(self) -> None:
        self._active: dict[str, ActiveFault] = {}
        self._lock = threading.Lock()

    def set(self, name: str, times: int | None = None, *,
            route: str | Iterable[str] | None = None, **params: Any) -> None:
        kind = FAULTS.get(name)
        if kind is None:
            raise ValueError(f"unknown fault {name!r}; known: {', '.join(FAULTS)}")
        if times is not None and (isinstance(times, bool) or int(times) < 1):
            raise ValueError("times must be a positive number of requests or None (always)")
        unknown = set(params) - set(kind.defaults)
        if unknown:
            raise ValueError(f"fault {name!r} takes no parameter {', '.join(sorted(unknown))}")
        routes = set(kind.routes) if route is None else (
            {route} if isinstance(route, str) else set(route))
        if not routes or not routes <= set(kind.routes):
            raise ValueError(f"fault {name!r} applies to routes {', '.join(kind.routes)} only")
        fault = ActiveFault(name, frozenset(routes), None if times is None else int(times),
                            {**kind.defaults, **params})
        with self._lock:
            # Setting a fault again replaces it, and moves it to the end of the checking order.
            self._active.pop(name, None)
            self._active[name] = fault

    def clear(self, name: str | None = None) -> None:
        with self._lock:
            if name is None:
                self._active.clear()
            else:
                self._active.pop(name, None)

    def take(self, route: str, names: Iterable[str]) -> ActiveFault | None:
        """The first active fault among ``names`` for ``route``, using up one of its times."""
        wanted = set(names)
        with self._lock:
            for fault in self._active.values():
                if fault.name in wanted and route in fault.routes:
                    if fault.remaining is not None:
                        fault.remaining -= 1
                        if fault.remaining <= 0:
                            del self._active[fault.name]
                    return fault
        return None

    def active(self) -> list[ActiveFault]:
        with self._lock:
            return list(self._active.values())
