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
import json
import os
import re
import tempfile
import weakref
from collections.abc import Iterable
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

    def feed(self, chunk: bytes) -> None:
        view = memoryview(chunk)  # slices of it are not copies of a megabyte-long chunk
        i, end = 0, len(chunk)
        while i < end:
            if not self.in_string:
                quote = chunk.find(b'"', i)
                self._keep(view[i:] if quote < 0 else view[i:quote])
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
                special = _SPECIAL.search(chunk, i)
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
    scanner = _Scanner(string_cap, rest_cap)
    try:
        for chunk in chunks:
            scanner.feed(chunk)
        return _resolve(json.loads(scanner.kept), scanner.spooled)
    except BaseException:
        for spooled in scanner.spooled:
            spooled.discard()
        raise


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
