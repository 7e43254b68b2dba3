"""JSON answers that may carry a clip inline, read with bounded memory.

A gateway answer may hold the finished clip as base64 (``{"type": "base64", "data": ...}``),
up to 4/3 of :setting:`MAX_DOWNLOAD_BYTES`. Reading it whole, then parsing it, holds three
copies of it at once (the bytes read, their copy, the parsed string): a 200 MiB answer peaked
near 600 MiB. Here the answer is scanned as it streams in: any JSON string longer than
``SPOOL_AFTER`` goes to a temporary file instead of memory (a ``Spooled`` stands in for it in
the parsed answer), a string over ``string_cap`` is refused as soon as it passes it, and the
rest of the answer (small JSON) is parsed as usual. The peak is a read chunk or two, whatever
the clip's size.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import tempfile
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from .bodies import UnacceptableBody

#: Strings longer than this (bytes of JSON text) are spooled to a file.
SPOOL_AFTER = 64 * 1024
#: Stands for the n-th spooled string in the JSON that is parsed (a NUL no real text starts with).
MARKER = "\x00kling-spooled:"
_SPECIAL = re.compile(rb'["\\]')


class Spooled:
    """A long JSON string of an answer, kept in a temporary file (``path``, ``size`` bytes of
    the string's text). The file is removed when this object is: whoever drops the answer
    (a failed step, a finished download) leaves nothing behind."""

    def __init__(self) -> None:
        fd, self.path = tempfile.mkstemp(prefix="kling-inline-", suffix=".txt")
        self._file = os.fdopen(fd, "wb")
        self.size = 0
        self._finalizer = weakref.finalize(self, _remove, self.path)

    def write(self, data: bytes | memoryview) -> None:
        self._file.write(data)
        self.size += len(data)

    def close(self) -> None:
        self._file.close()

    def discard(self) -> None:
        self._file.close()
        self._finalizer()

    def __repr__(self) -> str:
        return f"<Spooled {self.size} bytes>"


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


class _Scanner:
    """Splits JSON text into what is kept in memory and the long strings spooled to files."""

    def __init__(self, string_cap: int, rest_cap: int) -> None:
        self.string_cap, self.rest_cap = string_cap, rest_cap
        self.kept = bytearray()
        self.spooled: list[Spooled] = []
        self.in_string = self.escape = False
        self.text = bytearray()  # the current string while it is short
        self.spool: Spooled | None = None

    @contextlib.contextmanager
    def discarded_on_error(self) -> Iterator[None]:
        try:
            yield
        except BaseException:
            for spooled in self.spooled:
                spooled.discard()
            raise

    def value(self) -> Any:
        """The JSON value read, its long strings as ``Spooled``."""
        with self.discarded_on_error():
            return _resolve(json.loads(self.kept), self.spooled)

    def feed(self, chunk: bytes, start: int = 0, end: int | None = None) -> None:
        """Scan ``chunk[start:end]`` (bounds, not a slice: no copy of a long chunk)."""
        view = memoryview(chunk)  # slices of it are not copies either
        i, end = start, len(chunk) if end is None else end
        while i < end:
            if not self.in_string:
                quote = chunk.find(b'"', i, end)
                self._keep(view[i:end] if quote < 0 else view[i:quote])
                if quote < 0:
                    return
                self.in_string, self.text, self.spool, i = True, bytearray(), None, quote + 1
            elif self.escape:
                self.escape = False
                # In a spooled string (base64) only an escaped slash is expected; anything else
                # is kept as written and fails the base64 check later.
                self._add(b"/" if self.spool is not None and chunk[i:i + 1] == b"/"
                          else b"\\" + chunk[i:i + 1])
                i += 1
            else:
                special = _SPECIAL.search(chunk, i, end)
                stop = special.start() if special else end
                self._add(view[i:stop])
                if special is None:
                    return
                if chunk[stop] == ord("\\"):
                    self.escape = True
                else:
                    self._end_string()
                i = stop + 1

    def _keep(self, data: bytes | memoryview) -> None:
        self.kept += data
        if len(self.kept) > self.rest_cap:
            raise UnacceptableBody(limit=self.rest_cap)

    def _add(self, data: bytes | memoryview) -> None:
        if self.spool is None:
            self.text += data
            if len(self.text) <= SPOOL_AFTER:
                return
            # What was kept raw so far, with its escaped slashes undone as below (base64 has
            # no backslash: any other escape stays and fails the base64 check).
            self.spool, data = Spooled(), bytes(self.text).replace(b"\\/", b"/")
            self.text = bytearray()
            self.spooled.append(self.spool)
        self.spool.write(data)
        if self.spool.size > self.string_cap:
            raise UnacceptableBody(limit=self.string_cap)

    def _end_string(self) -> None:
        self.in_string = False
        if self.spool is None:
            self._keep(b'"' + self.text + b'"')
            return
        self.spool.close()
        self._keep(json.dumps(f"{MARKER}{len(self.spooled) - 1}").encode())


def read_json(chunks: Iterable[bytes], *, string_cap: int, rest_cap: int) -> Any:
    """The JSON value of ``chunks``, its long strings as ``Spooled`` files.

    Raises ``UnacceptableBody`` once one string passes ``string_cap`` bytes or the rest passes
    ``rest_cap``, and ``ValueError`` if it is not JSON. Spooled files are removed on error.
    """
    chunks = iter(chunks)
    first = next(chunks, b"")
    if len(first) <= min(SPOOL_AFTER, rest_cap, string_cap):
        second = next(chunks, None)
        if second is None:  # a small answer in one read (a start's): nothing to spool
            return json.loads(first)
        chunks = itertools.chain((second,), chunks)
    scanner = _Scanner(string_cap, rest_cap)
    with scanner.discarded_on_error():
        for chunk in itertools.chain((first,), chunks):
            scanner.feed(chunk)
        return scanner.value()


def iter_sse_json(chunks: Iterable[bytes], *, string_cap: int, rest_cap: int,
                  tick: Callable[[], None] = lambda: None) -> Iterator[Any]:
    """The JSON value of each ``data:`` event of a server-sent-events stream, read as
    ``read_json`` reads an answer (a clip inside goes to a file as it arrives). Comment lines
    (heartbeats) and other fields are skipped without being kept; ``tick`` is called for
    every chunk (the caller's deadline)."""
    events = _Events(string_cap, rest_cap)
    for chunk in chunks:
        tick()
        yield from events.feed(chunk)
    yield from events.end()


class _Events:
    """Splits a server-sent-events stream into lines and feeds ``data:`` lines to a scanner."""

    def __init__(self, string_cap: int, rest_cap: int) -> None:
        self.caps = (string_cap, rest_cap)
        self.scanner: _Scanner | None = None
        self.head = bytearray()  # a line's first bytes, until its kind is known
        self.mode = ""  # "": not known yet; "data"; "skip"
        self.strip_space = False  # "data:" was seen; one space after it is not data

    def feed(self, chunk: bytes) -> Iterator[Any]:
        i, end = 0, len(chunk)
        while i < end:
            newline = chunk.find(b"\n", i)
            stop = end if newline < 0 else newline
            self._segment(chunk, i, stop, complete=newline >= 0)
            if newline < 0:
                return
            i = newline + 1
            if self.mode == "blank" and self.scanner is not None:
                scanner, self.scanner = self.scanner, None
                yield scanner.value()
            self.head, self.mode = bytearray(), ""

    def end(self) -> Iterator[Any]:
        if self.mode == "":
            self._segment(b"", 0, 0, complete=True)
        if self.scanner is not None:
            scanner, self.scanner = self.scanner, None
            yield scanner.value()

    def _segment(self, chunk: bytes, start: int, stop: int, *, complete: bool) -> None:
        if self.mode == "data":
            self._data(chunk, start, stop)
        elif self.mode == "":
            self.head += memoryview(chunk)[start:stop]
            if len(self.head) < 6 and not complete:
                return
            if self.head.startswith(b"data:"):
                self.mode, self.strip_space = "data", True
                if self.scanner is None:
                    self.scanner = _Scanner(*self.caps)
                else:  # a second data line of one event: joined with a newline
                    self.scanner.feed(b"\n")
                rest = bytes(self.head[5:])
                self._data(rest, 0, len(rest))
            else:
                self.mode = "blank" if complete and self.head in (b"", b"\r") else "skip"

    def _data(self, chunk: bytes, start: int, stop: int) -> None:
        if self.strip_space and stop > start:
            self.strip_space = False
            if chunk[start:start + 1] == b" ":
                start += 1
        if self.scanner is not None:
            self.scanner.feed(chunk, start, stop)


def _resolve(value: Any, spooled: list[Spooled]) -> Any:
    if isinstance(value, dict):
        return {key: _resolve(item, spooled) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolve(item, spooled) for item in value]
    if isinstance(value, str) and value.startswith(MARKER):
        index = value[len(MARKER):]
        if index.isdigit() and int(index) < len(spooled):
            return spooled[int(index)]
    return value


def only_clips(data: Any) -> Any:
    """``data`` with spooled strings kept only where a clip is expected (``data`` of an item
    of ``videos``); anywhere else (metadata, warnings, messages, all stored or shown) a
    spooled string is replaced by ``text_of``."""
    if not isinstance(data, dict):
        return text_of(data)
    videos = data.get("videos")
    return {key: ([{name: item if name == "data" else text_of(item)
                    for name, item in video.items()} if isinstance(video, dict)
                   else text_of(video) for video in videos]
                  if key == "videos" and isinstance(videos, list) else text_of(value))
            for key, value in data.items()}


def text_of(value: Any) -> Any:
    """``value`` for places that want plain JSON (metadata, messages): a spooled string is
    replaced by a note of its size, never read back into memory."""
    if isinstance(value, Spooled):
        return f"[{value.size} characters left out]"
    if isinstance(value, dict):
        return {key: text_of(item) for key, item in value.items()}
    if isinstance(value, list):
        return [text_of(item) for item in value]
    return value
