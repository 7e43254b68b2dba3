"""Encoding the prepared picture as PNG or JPEG within the size limit (see the package rules)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _
from PIL import Image

from . import limits
from .decode import FORMAT_NAMES
from .limits import mb, refuse

#: JPEG quality of a converted image, then the qualities tried when it is over limits.MAX_BYTES.
JPEG_QUALITY = 90

JPEG_FALLBACK_QUALITIES = (80, 70, 60, 50, 40, 30)

PNG_COMPRESS_LEVEL = 6

#: Formats that are lossy by nature: re-encoded as JPEG unless transparent.
LOSSY_FORMATS = frozenset({"JPEG", "MPO", "AVIF"})


@dataclass(frozen=True)
class PreparedImage:
    """An image ready for the model: a JPEG or PNG within every limit of the model."""

    #: The bytes to send and store (a JPEG or PNG file).
    data: bytes
    #: ``"image/jpeg"`` or ``"image/png"``.
    media_type: str
    width: int
    height: int
    #: Translated notes of what was fixed, in the order it was done (empty when the file was
    #: passed through unchanged), e.g. "rotated per EXIF orientation".
    fixes: tuple[str, ...] = ()

    @property
    def extension(self) -> str:
        """File name extension matching :attr:`media_type`: ``".jpg"`` or ``".png"``."""
        return ".png" if self.media_type == "image/png" else ".jpg"


class TooBig(Exception):
    """Raised by :class:`CappedBuffer` as soon as an encoding goes over the limit."""


class CappedBuffer(io.BytesIO):
    """A ``BytesIO`` that gives up as soon as more than ``limit`` bytes are written."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def write(self, data: Any) -> int:
        if self.tell() + memoryview(data).nbytes > self.limit:
            raise TooBig
        return super().write(data)


def encode(im: Image.Image, fmt: str, icc: bytes | None, quality: int = JPEG_QUALITY,
            limit: int | None = None) -> bytes | None:
    """Encode ``im``; return ``None`` if the file would be over ``limit`` (default MAX_BYTES)."""
    buffer = CappedBuffer(limits.MAX_BYTES if limit is None else limit)
    options: dict[str, Any] = {}
    if icc:
        options["icc_profile"] = icc
    try:
        if fmt == "PNG":
            im.save(buffer, "PNG", compress_level=PNG_COMPRESS_LEVEL, **options)
        else:
            im.save(buffer, "JPEG", quality=quality, **options)
    except TooBig:
        return None
    return buffer.getvalue()


def is_lossy_source(fmt: str, im: Image.Image, head: bytes) -> bool:
    if fmt in LOSSY_FORMATS:
        return True
    if fmt == "WEBP":
        return b"VP8L" not in head[12:]
    if fmt == "TIFF":
        return str(im.info.get("compression", "")).lower() in ("jpeg", "tiff_jpeg")
    return False


def encode_final(im: Image.Image, icc: bytes | None, fmt: str, lossy_source: bool,
                  size: int, fixes: list[str], field: str) -> PreparedImage:
    """Encode as PNG or JPEG (see the module rules), falling back to smaller JPEGs."""
    target = "JPEG" if im.mode == "RGB" and lossy_source else "PNG"
    data = encode(im, target, icc)
    quality = JPEG_QUALITY
    fell_back = flattened = False
    if data is None:
        fell_back = True
        if im.mode == "RGBA":
            background = Image.new("RGB", im.size, (255, 255, 255))
            background.paste(im, mask=im.getchannel("A"))
            im, flattened = background, True
        tried = JPEG_FALLBACK_QUALITIES if target == "JPEG" else (JPEG_QUALITY,
                                                                   *JPEG_FALLBACK_QUALITIES)
        target = "JPEG"
        for quality in tried:
            data = encode(im, "JPEG", icc, quality)
            if data is not None:
                break
        else:
            refuse(
                "image_too_big_bytes",
                _(
                    "The image cannot be brought under %(limit)s MB, even as a JPEG at quality "
                    "%(quality)s (the file is %(size)s MB)."
                ),
                field,
                {"limit": mb(limits.MAX_BYTES), "quality": quality, "size": mb(size)},
            )
    assert data is not None
    source_name = FORMAT_NAMES.get(fmt, fmt)
    if source_name != target:
        fixes.append(
            _("converted %(source)s to %(target)s") % {"source": source_name, "target": target}
        )
    if flattened:
        fixes.append(_("flattened the transparency onto a white background"))
    if fell_back or size > limits.MAX_BYTES:
        params: dict[str, Any] = {"limit": mb(limits.MAX_BYTES), "size": mb(size),
                                  "new_size": mb(len(data)), "quality": quality}
        if target == "JPEG":
            fixes.append(
                _("re-encoded as JPEG at quality %(quality)s to stay under %(limit)s MB "
                  "(%(size)s MB → %(new_size)s MB)") % params
            )
        else:
            fixes.append(
                _("re-encoded to stay under %(limit)s MB (%(size)s MB → %(new_size)s MB)")
                % params
            )
    return PreparedImage(
        data=data,
        media_type="image/png" if target == "PNG" else "image/jpeg",
        width=im.size[0],
        height=im.size[1],
        fixes=tuple(fixes),
    )
