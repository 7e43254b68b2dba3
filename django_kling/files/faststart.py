"""Faststart MP4s: the ``moov`` box (the index) before ``mdat`` (the media).

A browser can start playing an MP4 only once it has read the ``moov`` box. Muxers that write
the index last (most encoders do, providers' included) make the browser fetch the whole file, or
guess with range requests, before the first frame. ``remux`` copies the packets into a new file
with FFmpeg's ``movflags=+faststart``: no re-encoding, so the picture and sound are the very
same bytes and a 10 s clip takes a few milliseconds.
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
import tempfile
from typing import Any

import av

from .checksums import size_and_sha256

logger = logging.getLogger("django_kling.files.faststart")

#: FFmpeg's mp4 muxer options for a web file: index first.
FASTSTART_OPTIONS = {"movflags": "+faststart"}


def top_level_boxes(path: str | os.PathLike | Any) -> list[str]:
    """The types of the file's top-level ISO BMFF boxes, in order (``ftyp``, ``moov``...).

    ``path`` may also be an open binary file that can seek (a stored file): only the box
    headers are read, a few bytes each."""
    if hasattr(path, "read"):
        return _boxes(path)
    with open(path, "rb") as fh:
        return _boxes(fh)


def _boxes(fh: Any) -> list[str]:
    boxes = []
    fh.seek(0, os.SEEK_END)
    size = fh.tell()
    offset = 0
    while offset + 8 <= size:
        fh.seek(offset)
        length, kind = struct.unpack(">I4s", fh.read(8))
        header = 8
        if length == 1:  # a 64-bit size follows the type
            length = struct.unpack(">Q", fh.read(8))[0]
            header = 16
        elif length == 0:  # the box runs to the end of the file
            length = size - offset
        boxes.append(kind.decode("latin-1"))
        if length < header:
            break  # not a box: stop rather than loop
        offset += length
    return boxes


def is_faststart(path: str | os.PathLike | Any) -> bool:
    """Whether ``moov`` comes before ``mdat`` (a file without either is not an MP4 we know)."""
    boxes = top_level_boxes(path)
    if "moov" not in boxes or "mdat" not in boxes:
        return False
    return boxes.index("moov") < boxes.index("mdat")


def _copy_stream(target: Any, stream: Any) -> Any:
    # PyAV 13+ names it add_stream_from_template; 12.x takes a template= argument instead.
    if hasattr(target, "add_stream_from_template"):
        return target.add_stream_from_template(stream)
    return target.add_stream(template=stream)


def remux(source: str | os.PathLike, target: str | os.PathLike) -> None:
    """Copy ``source``'s video and audio packets into ``target`` with the index first."""
    with av.open(os.fspath(source)) as src, \
            av.open(os.fspath(target), "w", format="mp4", options=FASTSTART_OPTIONS) as out:
        streams = [s for s in src.streams if s.type in ("video", "audio")]
        copies = {s.index: _copy_stream(out, s) for s in streams}
        for packet in src.demux(streams):
            if packet.dts is None:  # the demuxer's end-of-stream marker
                continue
            packet.stream = copies[packet.stream.index]
            out.mux(packet)


def make_faststart(path: str) -> tuple[int, str] | None:
    """Rewrite the file at ``path`` faststart in place when it is not already.

    Returns the new (size, SHA-256), or None when nothing changed (already faststart, or the
    remux failed: the file is then left as it was, a clip is never lost to an optimisation).
    """
    if is_faststart(path):
        return None
    fd, tmp = tempfile.mkstemp(prefix="kling-fast-", suffix=".mp4",
                               dir=os.path.dirname(path) or None)
    os.close(fd)
    try:
        remux(path, tmp)
        if not is_faststart(tmp):
            raise ValueError("the muxer did not move the index first")
    except Exception as exc:  # noqa: BLE001  (PyAV/FFmpeg errors: keep the original file)
        logger.warning("faststart remux of %s failed: %s", path, type(exc).__name__)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        return None
    os.replace(tmp, path)
    return size_and_sha256(path)
