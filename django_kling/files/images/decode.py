"""Safe decoding of untrusted image files: a fixed list of decoders, strict and bomb-proof.

Only common raster formats are decoded; well-known other formats (PDF, SVG, HEIC, videos...)
are named in the refusal; ``LOAD_TRUNCATED_IMAGES`` is off and decompression-bomb warnings
are errors while we decode; whatever Pillow raises on a hostile file becomes ``InvalidInput``.
"""

from __future__ import annotations

import functools
import io
import os
import re
import tempfile
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, BinaryIO, Union

from django.utils.translation import gettext as _
from PIL import Image, ImageFile

from ...exceptions import InvalidInput
from . import limits
from .limits import refuse, refuse_pixels

#: Pillow decoders we use, in the order they are tried. Only common raster formats: decoders
#: for exotic formats (or EPS, which runs Ghostscript) are never given untrusted bytes.
ACCEPTED_FORMATS = ("JPEG", "MPO", "PNG", "WEBP", "GIF", "BMP", "TIFF", "AVIF")

FORMAT_NAMES = {
    "JPEG": "JPEG",
    "MPO": "JPEG",
    "PNG": "PNG",
    "WEBP": "WebP",
    "GIF": "GIF",
    "BMP": "BMP",
    "TIFF": "TIFF",
    "AVIF": "AVIF",
}

HEAD_BYTES = 4096
#: A non-seekable source is copied in chunks of this size, in memory up to SPOOL_BYTES.
READ_CHUNK = 1024 * 1024
SPOOL_BYTES = 16 * 1024 * 1024

ImageSource = Union[bytes, bytearray, memoryview, BinaryIO, IO[bytes], str, "os.PathLike[str]"]


@functools.cache
def decoders() -> tuple[str, ...]:
    Image.init()
    return tuple(fmt for fmt in ACCEPTED_FORMATS if fmt in Image.OPEN)


def accepted_names() -> str:
    names: list[str] = []
    for fmt in decoders():
        name = FORMAT_NAMES.get(fmt, fmt)
        if name not in names:
            names.append(name)
    return ", ".join(names)


def unreadable(field: str) -> InvalidInput:
    params = {"formats": accepted_names()}
    return InvalidInput(
        _(
            "The file is not an image we can read, or it is damaged or incomplete. "
            "Accepted formats: %(formats)s."
        )
        % params,
        code="image_unreadable",
        field=field,
        params=params,
    )


def sniff_other_format(head: bytes) -> str | None:
    """Name a well-known non-raster (or unsupported) format from the first bytes, if any."""
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith(b"%PDF-"):
        return _("a PDF document")
    if stripped.startswith(b"%!PS") or head.startswith(b"\xc5\xd0\xd3\xc6"):
        return _("a PostScript/EPS file")
    text = stripped[:HEAD_BYTES].decode("utf-8", "ignore").lower()
    if text.startswith(("<?xml", "<svg", "<!doctype svg", "<!--")) and "<svg" in text:
        return _("an SVG drawing")
    if head.startswith(b"8BPS"):
        return _("a Photoshop document")
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"):
            return _("a HEIC/HEIF photo")
        if brand not in (b"avif", b"avis"):
            return _("a video")
    return None


_truncated_lock = threading.Lock()
_strict_users = 0
_saved_load_truncated = False


@contextmanager
def strict_decoding() -> Iterator[None]:
    """Decode with ``LOAD_TRUNCATED_IMAGES`` off and decompression-bomb warnings as errors.

    ``LOAD_TRUNCATED_IMAGES`` is a Pillow global: if the project turned it on, it is turned
    off while at least one of our decodes runs and restored after the last one.
    """
    global _strict_users, _saved_load_truncated
    with _truncated_lock:
        if _strict_users == 0:
            _saved_load_truncated = ImageFile.LOAD_TRUNCATED_IMAGES
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        _strict_users += 1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    finally:
        with _truncated_lock:
            _strict_users -= 1
            if _strict_users == 0:
                ImageFile.LOAD_TRUNCATED_IMAGES = _saved_load_truncated


@contextmanager
def decode_errors(field: str) -> Iterator[None]:
    """Turn whatever Pillow raises on a hostile or broken file into an ``InvalidInput``."""
    try:
        yield
    except InvalidInput:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        found = re.search(r"\((\d+) pixels\)", str(exc))
        refuse_pixels(field, None, None, int(found.group(1)) if found else None)
    except Exception as exc:  # corrupt input makes decoders raise nearly anything
        raise unreadable(field) from exc


@contextmanager
def open_source(source: ImageSource, field: str) -> Iterator[tuple[IO[bytes], int]]:
    """Yield a seekable binary stream positioned at 0 and its size in bytes.

    Paths are opened (and closed afterwards); file objects (including Django ``File`` and
    ``UploadedFile``) are rewound to the start and left open; bytes are wrapped. Only a
    non-seekable stream is copied, to a spooled temporary file.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        buffer = io.BytesIO(source)
        yield buffer, buffer.getbuffer().nbytes
        return
    if isinstance(source, (str, os.PathLike)):
        try:
            fp: IO[bytes] = open(source, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            params = {"reason": exc.strerror or exc.__class__.__name__}
            refuse("image_unreadable", _("The image file could not be opened (%(reason)s)."),
                    field, params)
        with fp:
            size = os.fstat(fp.fileno()).st_size
            yield fp, size
        return
    if not hasattr(source, "read"):
        raise TypeError(f"prepare_image() cannot read a {type(source).__name__}")
    if getattr(source, "closed", False) and hasattr(source, "open"):
        source.open("rb")  # a closed Django File
    try:
        source.seek(0, os.SEEK_END)
        size = source.tell()
        source.seek(0)
    except (AttributeError, OSError, ValueError):
        # Not seekable (a network stream): copied in chunks to a spooled temp file, never more
        # than one byte over the limit, so the size check refuses a huge one.
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
            copied = 0
            while copied <= limits.MAX_SOURCE_BYTES:
                chunk = source.read(min(READ_CHUNK, limits.MAX_SOURCE_BYTES + 1 - copied))
                if isinstance(chunk, str):
                    raise TypeError("prepare_image() needs a binary file, not a text one") \
                        from None
                if not chunk:
                    break
                spool.write(chunk)
                copied += len(chunk)
            spool.seek(0)
            yield spool, copied
        return
    yield source, size
