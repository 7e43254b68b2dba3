"""Byte-level JPEG and PNG parsers for untrusted files: metadata out, picture kept as it is.

A compliant JPEG or PNG is passed through without re-encoding (so its quality is never
degraded); these parsers copy its compressed data, keeping only what is needed to show it
(JFIF, colour profile, Adobe colour marker / PNG colour chunks) and dropping metadata (EXIF,
XMP, IPTC, comments, text chunks), the extra pictures of an MPO and anything after the end of
the image. Any doubt answers ``None``, and the caller re-encodes instead.
"""

from __future__ import annotations

import io

from PIL import Image

#: JPEG APPn segments kept when a file is passed through, by marker and signature.
JPEG_KEPT_APP = {
    0xE0: (b"JFIF\0", b"JFXX\0"),
    0xE2: (b"ICC_PROFILE\0",),
    0xEE: (b"Adobe",),
}

#: PNG chunks kept when a file is passed through (the picture and its colour information).
PNG_KEPT_CHUNKS = frozenset(
    {b"IHDR", b"PLTE", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"sBIT", b"pHYs", b"IDAT",
     b"IEND"}
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_is_plain(head: bytes) -> bool:
    """True for an 8-bit truecolour (RGB or RGBA) PNG, judging by its IHDR chunk."""
    return len(head) >= 26 and head[12:16] == b"IHDR" and head[24] == 8 and head[25] in (2, 6)


def strip_jpeg(data: bytes) -> bytes | None:
    """The JPEG's first picture without metadata segments, or ``None`` if it looks wrong."""
    if not data.startswith(b"\xff\xd8"):
        return None
    out = [b"\xff\xd8"]
    pos, end = 2, len(data)
    while pos < end:
        if data[pos] != 0xFF:
            return None
        while pos < end and data[pos] == 0xFF:  # fill bytes before a marker
            pos += 1
        if pos >= end:
            return None
        marker = data[pos]
        pos += 1
        if marker == 0xD9:  # end of the (first) picture: what follows is dropped
            out.append(b"\xff\xd9")
            return b"".join(out)
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # markers without a length
            out.append(bytes((0xFF, marker)))
            continue
        if pos + 2 > end:
            return None
        length = int.from_bytes(data[pos:pos + 2], "big")
        if length < 2 or pos + length > end:
            return None
        body = data[pos + 2:pos + length]
        if 0xE0 <= marker <= 0xEF:
            keep = body.startswith(JPEG_KEPT_APP.get(marker, ()))
        else:
            keep = marker != 0xFE  # comments go
        if keep:
            out.append(bytes((0xFF, marker)) + data[pos:pos + length])
        pos += length
        if marker == 0xDA:  # entropy-coded data runs until the next real marker
            start = pos
            while True:
                pos = data.find(b"\xff", pos)
                if pos < 0 or pos + 1 >= end:
                    return None
                following = data[pos + 1]
                if following == 0xFF:
                    pos += 1
                elif following == 0x00 or 0xD0 <= following <= 0xD7:
                    pos += 2
                else:
                    break
            out.append(data[start:pos])
    return None


def strip_png(data: bytes) -> bytes | None:
    """The PNG with only its picture and colour chunks, or ``None`` if it has no end."""
    if not data.startswith(PNG_SIGNATURE):
        return None
    out = [PNG_SIGNATURE]
    pos = len(PNG_SIGNATURE)
    while pos + 12 <= len(data):
        length = int.from_bytes(data[pos:pos + 4], "big")
        kind = data[pos + 4:pos + 8]
        chunk_end = pos + 12 + length
        if chunk_end > len(data):
            return None
        if kind in PNG_KEPT_CHUNKS:
            out.append(data[pos:chunk_end])
        pos = chunk_end
        if kind == b"IEND":
            return b"".join(out)
    return None


def strip_metadata(data: bytes, fmt: str, opened: Image.Image) -> bytes | None:
    """``data`` without metadata, checked to still open as the same picture; else ``None``."""
    stripped = strip_png(data) if fmt == "PNG" else strip_jpeg(data)
    if stripped is None:
        return None
    try:
        with Image.open(io.BytesIO(stripped), formats=("PNG", "JPEG")) as check:
            same = check.size == opened.size and check.mode == opened.mode
    except Exception:  # any doubt means re-encoding instead
        return None
    return stripped if same else None
