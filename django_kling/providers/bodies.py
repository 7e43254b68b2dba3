"""Reading HTTP bodies sent by third parties (the provider, result URLs) with bounded memory.

Every request asks for ``Accept-Encoding: identity`` and every answer that is encoded anyway is
refused: httpx would inflate a 1 MiB gzip body to 512 MiB before any cap could see it. Bodies
are read raw, chunk by chunk, and refused as soon as they pass their cap.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx

#: Headers that ask for a body without any content coding.
IDENTITY = {"accept-encoding": "identity"}
CHUNK = 1024 * 1024


class UnacceptableBody(ValueError):
    """The body is content-encoded (``encoding`` says how) or longer than ``limit`` bytes."""

    def __init__(self, *, encoding: str = "", limit: int = 0) -> None:
        self.encoding = encoding
        self.limit = limit
        super().__init__(f"encoded as {encoding}" if encoding else f"over {limit} bytes")


def content_encoding(response: httpx.Response) -> str:
    """The answer's content coding, "" when there is none (or only ``identity``)."""
    value = response.headers.get("content-encoding", "").strip().lower()
    return "" if value in ("", "identity") else value


def iter_capped(response: httpx.Response, cap: int, chunk: int = CHUNK) -> Iterator[bytes]:
    """The raw body in chunks; raises ``UnacceptableBody`` if encoded or once over ``cap``."""
    encoding = content_encoding(response)
    if encoding:
        raise UnacceptableBody(encoding=encoding)
    length = response.headers.get("content-length", "")
    if length.isdigit() and int(length) > cap:
        raise UnacceptableBody(limit=cap)
    try:
        # Already in memory (a response built by a test transport): nothing left to stream.
        loaded = response.content
    except httpx.ResponseNotRead:
        parts: Iterator[bytes] = response.iter_raw(chunk)
    else:
        parts = iter([loaded])
    size = 0
    for part in parts:
        size += len(part)
        if size > cap:
            raise UnacceptableBody(limit=cap)
        yield part


def read_capped(response: httpx.Response, cap: int) -> bytes:
    """The whole raw body, at most ``cap`` bytes (else ``UnacceptableBody``)."""
    body = bytearray()
    for part in iter_capped(response, cap):
        body += part
    return bytes(body)
