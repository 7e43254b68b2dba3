"""Check and prepare the inputs of a generation before anything is sent to the (paid) provider.

The model's rules (protocol §4) are enforced here, once, for the admin, the forms, the
management commands and the Python API alike:

* input images are JPEG or PNG, at most 10 MB, each side at least 300 px, aspect ratio between
  1:2.5 and 2.5:1;
* prompt and negative prompt are at most 2500 characters;
* duration is 5 or 10 seconds, aspect ratio "16:9", "9:16" or "1:1", mode "std" or "pro".

What can be fixed without the editor is fixed, and every fix is recorded as a short,
translated note in :attr:`PreparedImage.fixes` (the job stores them as warnings); what cannot
be fixed raises :class:`~django_kling.exceptions.InvalidInput` with a stable ``code``, the
``field`` it belongs to, a translated message naming the problem with its numbers, and those
numbers in ``params``.

Image rules, in the order they are applied by :func:`prepare_image`:

1. The content decides the format, never the file name. Only raster formats are decoded, with
   a fixed list of Pillow decoders (:data:`ACCEPTED_FORMATS`: JPEG, PNG, WebP, GIF, BMP, TIFF,
   AVIF); SVG, PDF, PostScript, HEIC, Photoshop and videos are refused as ``image_format``,
   anything else Pillow cannot identify or fully decode as ``image_unreadable``. Decoding is
   strict: ``ImageFile.LOAD_TRUNCATED_IMAGES`` is forced off while we decode and Pillow's
   ``DecompressionBombWarning`` is an error.
2. The size in the header is checked before any pixel is decoded: more than
   :data:`MAX_PIXELS` (50 megapixels) is refused as ``image_too_large_pixels``.
3. Animated GIF, WebP, APNG and AVIF images (more than one frame) are refused as
   ``image_animated``: the frame the editor sees as a thumbnail is not necessarily the one
   they meant, and guessing would spend money on the wrong picture. Multi-page TIFFs use their
   first page (recorded as a fix); a camera's multi-picture JPEG (MPO) is its main picture.
4. The pixels are fully decoded (``load()``), the EXIF orientation is applied and the EXIF
   block is dropped (every re-encoded file carries no metadata except an RGB colour profile).
5. Each side must be at least :data:`MIN_SIDE` pixels (``image_too_small``) and the picture
   must lie between 1:2.5 and 2.5:1 (``image_aspect``). With a chosen aspect ratio the picture
   is then center-cropped to exactly that ratio (the provider's output follows the shape of
   the input image, so this is how the chosen ratio is honoured) and the crop must still have
   both sides of at least :data:`MIN_SIDE` pixels. The 1:2.5..2.5:1 rule is the model's and
   holds for the uploaded picture whatever ratio is chosen: a 3:1 panorama is refused rather
   than silently losing half of its width.
6. Colours become 8-bit RGB, or RGBA when the image really is transparent: CMYK (through its
   colour profile when it has one), 16-bit, palette, grayscale, LA... are converted.
7. A longest side over :data:`MAX_SIDE` (3840 px) is shrunk, keeping the aspect ratio.
8. The output format is **PNG when the image has transparency or comes from a lossless format**
   (PNG, GIF, BMP, uncompressed/LZW/ZIP TIFF, lossless WebP), **JPEG otherwise** (JPEG, lossy
   WebP, AVIF, JPEG-compressed TIFF), at quality :data:`JPEG_QUALITY`. If the result is over
   :data:`MAX_BYTES` it is re-encoded as JPEG (transparency flattened onto white) at decreasing
   qualities until it fits; only if even the lowest quality does not fit is the image refused
   (``image_too_big_bytes``).

A JPEG or PNG that needs none of these fixes (8-bit RGB/RGBA, upright, small enough, already
at the chosen ratio) is not re-encoded, so its quality is never degraded: its compressed data
is copied as is, keeping only what is needed to show it (JFIF, colour profile, Adobe colour
marker / PNG colour chunks) and dropping metadata (EXIF, XMP, IPTC, comments, text chunks),
the extra pictures of an MPO and anything after the end of the image.

Prompts (:func:`validate_prompt`): line breaks are normalised to ``\\n``, control characters
other than newline and tab (NUL, escape, DEL, C1 controls...) are removed, the text is
normalised to Unicode NFC and stripped of surrounding whitespace, then its length is counted
in characters (code points). HTML and any other markup is kept verbatim as text: escaping it is
the template's job, and the model reads the text as written.
"""

from __future__ import annotations

import functools
import io
import os
import re
import threading
import unicodedata
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any, BinaryIO, NoReturn, Union

from django.utils.translation import gettext as _
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from .exceptions import InvalidInput

__all__ = [
    "ACCEPTED_FORMATS",
    "ASPECT_RATIOS",
    "DURATIONS",
    "MAX_BYTES",
    "MAX_PIXELS",
    "MAX_PROMPT_LENGTH",
    "MAX_SIDE",
    "MAX_SOURCE_BYTES",
    "MIN_SIDE",
    "MODES",
    "ImageSource",
    "PreparedImage",
    "prepare_image",
    "validate_aspect_ratio",
    "validate_duration",
    "validate_mode",
    "validate_prompt",
]

#: Largest file sent to the model, in bytes (10 MB, decimal: the safe reading of "10 MB").
MAX_BYTES = 10 * 1000 * 1000
#: Smallest allowed side of the image sent to the model, in pixels.
MIN_SIDE = 300
#: Longest side of the image we send; larger images are shrunk to it.
MAX_SIDE = 3840
#: Largest image we agree to decode, in pixels (checked from the header, before decoding).
MAX_PIXELS = 50 * 1000 * 1000
#: Largest input file we agree to read at all, in bytes (valid images above MAX_BYTES and below
#: this are re-encoded smaller).
MAX_SOURCE_BYTES = 200 * 1000 * 1000
#: Widest aspect ratio allowed, as a fraction (2.5:1 and 1:2.5).
MAX_ASPECT = (5, 2)
#: Longest prompt or negative prompt, in characters.
MAX_PROMPT_LENGTH = 2500
DURATIONS = (5, 10)
ASPECT_RATIOS = ("16:9", "9:16", "1:1")
MODES = ("std", "pro")

#: JPEG quality of a converted image, then the qualities tried when it is over MAX_BYTES.
JPEG_QUALITY = 90
JPEG_FALLBACK_QUALITIES = (80, 70, 60, 50, 40, 30)
PNG_COMPRESS_LEVEL = 6

#: Pillow decoders we use, in the order they are tried. Only common raster formats: decoders
#: for exotic formats (or EPS, which runs Ghostscript) are never given untrusted bytes.
ACCEPTED_FORMATS = ("JPEG", "MPO", "PNG", "WEBP", "GIF", "BMP", "TIFF", "AVIF")
_FORMAT_NAMES = {
    "JPEG": "JPEG",
    "MPO": "JPEG",
    "PNG": "PNG",
    "WEBP": "WebP",
    "GIF": "GIF",
    "BMP": "BMP",
    "TIFF": "TIFF",
    "AVIF": "AVIF",
}
#: Formats whose extra frames are an animation (refused), not extra pages (first one used).
_ANIMATED_FORMATS = frozenset({"GIF", "PNG", "WEBP", "AVIF"})
#: Formats that are lossy by nature: re-encoded as JPEG unless transparent.
_LOSSY_FORMATS = frozenset({"JPEG", "MPO", "AVIF"})
_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
_SIXTEEN_BIT_MODES = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N", "F"})
_HEAD_BYTES = 4096
#: JPEG APPn segments kept when a file is passed through, by marker and signature.
_JPEG_KEPT_APP = {
    0xE0: (b"JFIF\0", b"JFXX\0"),
    0xE2: (b"ICC_PROFILE\0",),
    0xEE: (b"Adobe",),
}
#: PNG chunks kept when a file is passed through (the picture and its colour information).
_PNG_KEPT_CHUNKS = frozenset(
    {b"IHDR", b"PLTE", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"sBIT", b"pHYs", b"IDAT",
     b"IEND"}
)
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_ORIENTATION_TAG = 0x0112
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

ImageSource = Union[bytes, bytearray, memoryview, BinaryIO, IO[bytes], str, "os.PathLike[str]"]


@dataclass(frozen=True)
class PreparedImage:
    """An image ready for the model: a JPEG or PNG within every limit of protocol §4."""

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


# --------------------------------------------------------------------------------------------
# Generation options
# --------------------------------------------------------------------------------------------


_PROMPT_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _field_label(field: str) -> str:
    labels = {
        "prompt": _("prompt"),
        "negative_prompt": _("negative prompt"),
    }
    return labels.get(field, field.replace("_", " "))


def validate_prompt(text: str | None, *, field: str = "prompt") -> str:
    """Return the cleaned prompt (``""`` for ``None`` or blank), or raise ``InvalidInput``.

    Cleaning: ``\\r\\n`` and ``\\r`` become ``\\n``; control characters other than newline and
    tab are removed; the text is normalised to NFC and stripped. HTML is kept verbatim (it is
    text for the model; templates escape it). Codes: ``prompt_invalid`` (not text, or broken
    Unicode such as lone surrogates), ``prompt_too_long`` (over :data:`MAX_PROMPT_LENGTH`
    characters after cleaning).
    """
    if text is None:
        return ""
    if not isinstance(text, str):
        raise InvalidInput(
            _("The %(label)s must be text.") % {"label": _field_label(field)},
            code="prompt_invalid",
            field=field,
            params={"label": _field_label(field)},
        )
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _PROMPT_CONTROL_RE.sub("", text)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        params = {"label": _field_label(field), "position": exc.start + 1}
        raise InvalidInput(
            _(
                "The %(label)s contains an invalid character at position %(position)s "
                "(broken Unicode); please retype it."
            )
            % params,
            code="prompt_invalid",
            field=field,
            params=params,
        ) from None
    text = unicodedata.normalize("NFC", text).strip()
    if len(text) > MAX_PROMPT_LENGTH:
        params = {"label": _field_label(field), "length": len(text), "limit": MAX_PROMPT_LENGTH}
        raise InvalidInput(
            _(
                "The %(label)s is %(length)s characters long; it may be at most %(limit)s "
                "characters."
            )
            % params,
            code="prompt_too_long",
            field=field,
            params=params,
        )
    return text


def _shown(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 20 else text[:19] + "…"


def validate_duration(value: int | str) -> int:
    """Return the duration in seconds (5 or 10); ``"5"`` and ``" 10 "`` are accepted.

    Raises ``InvalidInput`` with code ``duration_invalid`` otherwise.
    """
    seconds: int | None = None
    if isinstance(value, bool):
        seconds = None
    elif isinstance(value, int):
        seconds = value
    elif (isinstance(value, float) and value.is_integer()) or (
        isinstance(value, str) and re.fullmatch(r"\s*[0-9]{1,4}\s*", value)
    ):
        seconds = int(value)
    if seconds in DURATIONS:
        return seconds  # type: ignore[return-value]
    choices = ", ".join(str(d) for d in DURATIONS)
    params = {"value": _shown(value), "choices": choices}
    raise InvalidInput(
        _("The duration must be one of %(choices)s seconds, not “%(value)s”.") % params,
        code="duration_invalid",
        field="duration",
        params=params,
    )


def validate_aspect_ratio(value: str) -> str:
    """Return the aspect ratio (``"16:9"``, ``"9:16"`` or ``"1:1"``; surrounding spaces removed).

    Raises ``InvalidInput`` with code ``aspect_ratio_invalid`` otherwise.
    """
    if isinstance(value, str) and value.strip() in ASPECT_RATIOS:
        return value.strip()
    params = {"value": _shown(value), "choices": ", ".join(ASPECT_RATIOS)}
    raise InvalidInput(
        _("The aspect ratio must be one of %(choices)s, not “%(value)s”.") % params,
        code="aspect_ratio_invalid",
        field="aspect_ratio",
        params=params,
    )


def validate_mode(value: str) -> str:
    """Return the mode (``"std"`` or ``"pro"``; case and surrounding spaces ignored).

    Raises ``InvalidInput`` with code ``mode_invalid`` otherwise.
    """
    if isinstance(value, str) and value.strip().lower() in MODES:
        return value.strip().lower()
    params = {"value": _shown(value), "choices": ", ".join(MODES)}
    raise InvalidInput(
        _("The mode must be one of %(choices)s, not “%(value)s”.") % params,
        code="mode_invalid",
        field="mode",
        params=params,
    )


# --------------------------------------------------------------------------------------------
# Images: refusals
# --------------------------------------------------------------------------------------------


def _refuse(code: str, message: str, field: str, params: dict[str, Any]) -> NoReturn:
    raise InvalidInput(message % params, code=code, field=field, params=params)


def _mb(size: int) -> str:
    shown = f"{size / 1_000_000:.1f}"
    return shown[:-2] if shown.endswith(".0") else shown


def _megapixels(pixels: int) -> str:
    return _mb(pixels)


def _accepted_names() -> str:
    names: list[str] = []
    for fmt in _decoders():
        name = _FORMAT_NAMES.get(fmt, fmt)
        if name not in names:
            names.append(name)
    return ", ".join(names)


def _refuse_empty(field: str) -> NoReturn:
    _refuse("image_empty", _("The image file is empty (0 bytes)."), field, {})


def _unreadable(field: str) -> InvalidInput:
    params = {"formats": _accepted_names()}
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


def _refuse_pixels(field: str, width: int | None, height: int | None,
                   pixels: int | None = None) -> NoReturn:
    limit = _megapixels(MAX_PIXELS)
    if width is not None and height is not None:
        params: dict[str, Any] = {
            "width": width,
            "height": height,
            "megapixels": _megapixels(width * height),
            "limit": limit,
        }
        message = _(
            "The image is %(width)s×%(height)s pixels (%(megapixels)s megapixels); images over "
            "%(limit)s megapixels are refused."
        )
    elif pixels is not None:
        params = {"megapixels": _megapixels(pixels), "limit": limit}
        message = _(
            "The image has %(megapixels)s megapixels; images over %(limit)s megapixels are "
            "refused."
        )
    else:
        params = {"limit": limit}
        message = _("The image has more than %(limit)s megapixels; it is refused.")
    _refuse("image_too_large_pixels", message, field, params)


def _sniff_other_format(head: bytes) -> str | None:
    """Name a well-known non-raster (or unsupported) format from the first bytes, if any."""
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith(b"%PDF-"):
        return _("a PDF document")
    if stripped.startswith(b"%!PS") or head.startswith(b"\xc5\xd0\xd3\xc6"):
        return _("a PostScript/EPS file")
    text = stripped[:_HEAD_BYTES].decode("utf-8", "ignore").lower()
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


# --------------------------------------------------------------------------------------------
# Images: reading
# --------------------------------------------------------------------------------------------


@functools.cache
def _decoders() -> tuple[str, ...]:
    Image.init()
    return tuple(fmt for fmt in ACCEPTED_FORMATS if fmt in Image.OPEN)


_truncated_lock = threading.Lock()
_strict_users = 0
_saved_load_truncated = False


@contextmanager
def _strict_decoding() -> Iterator[None]:
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
def _decode_errors(field: str) -> Iterator[None]:
    """Turn whatever Pillow raises on a hostile or broken file into an ``InvalidInput``."""
    try:
        yield
    except InvalidInput:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        found = re.search(r"\((\d+) pixels\)", str(exc))
        _refuse_pixels(field, None, None, int(found.group(1)) if found else None)
    except Exception as exc:  # corrupt input makes decoders raise nearly anything
        raise _unreadable(field) from exc


@contextmanager
def _open_source(source: ImageSource, field: str) -> Iterator[tuple[IO[bytes], int]]:
    """Yield a seekable binary stream positioned at 0 and its size in bytes.

    Paths are opened (and closed afterwards); file objects (including Django ``File`` and
    ``UploadedFile``) are rewound to the start and left open; bytes are wrapped. Only a
    non-seekable stream is read into memory.
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
            _refuse("image_unreadable", _("The image file could not be opened (%(reason)s)."),
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
        data = source.read(MAX_SOURCE_BYTES + 1)
        if isinstance(data, str):
            raise TypeError("prepare_image() needs a binary file, not a text one") from None
        buffer = io.BytesIO(data)
        yield buffer, len(data)
        return
    yield source, size


# --------------------------------------------------------------------------------------------
# Images: preparation
# --------------------------------------------------------------------------------------------


def _ratio_text(width: int, height: int) -> str:
    big, small = max(width, height), min(width, height)
    for digits in (2, 3, 4):
        shown = f"{big / small:.{digits}f}"
        if float(shown) != MAX_ASPECT[0] / MAX_ASPECT[1]:
            break
    return f"{shown}:1" if width >= height else f"1:{shown}"


def _check_sides(width: int, height: int, field: str) -> None:
    if width < MIN_SIDE or height < MIN_SIDE:
        _refuse(
            "image_too_small",
            _(
                "The image is %(width)s×%(height)s pixels; each side must be at least "
                "%(min)s pixels."
            ),
            field,
            {"width": width, "height": height, "min": MIN_SIDE},
        )


def _check_aspect(width: int, height: int, field: str) -> None:
    num, den = MAX_ASPECT
    if width * den > height * num or height * den > width * num:
        _refuse(
            "image_aspect",
            _(
                "The image is %(width)s×%(height)s pixels, an aspect ratio of %(ratio)s; it "
                "must be between 1:2.5 and 2.5:1."
            ),
            field,
            {"width": width, "height": height, "ratio": _ratio_text(width, height)},
        )


def _crop_box(width: int, height: int, aspect_ratio: str) -> tuple[int, int, int, int]:
    rw, rh = (int(part) for part in aspect_ratio.split(":"))
    if width * rh > height * rw:  # too wide: keep the height
        new_w, new_h = max(1, round(height * rw / rh)), height
    else:  # too tall (or exact): keep the width
        new_w, new_h = width, max(1, round(width * rh / rw))
    left, top = (width - new_w) // 2, (height - new_h) // 2
    return left, top, left + new_w, top + new_h


def _icc_is_rgb(icc: bytes | None) -> bool:
    return bool(icc) and len(icc) >= 20 and icc[16:20] == b"RGB "  # type: ignore[index]


def _icc_is_cmyk(icc: bytes | None) -> bool:
    return bool(icc) and len(icc) >= 20 and icc[16:20] == b"CMYK"  # type: ignore[index]


def _has_transparency(im: Image.Image) -> bool:
    return im.mode in _ALPHA_MODES or "transparency" in im.info


def _to_eight_bit_gray(im: Image.Image) -> Image.Image:
    """Scale a 16/32-bit integer or float grayscale image to 8 bits.

    Integer values in 0..65535 are read as 16-bit samples; floats in 0..1 as fractions; any
    other range is stretched to 0..255.
    """
    if im.mode != "F":
        im = im.convert("I")
    low, high = im.getextrema()
    if im.mode == "F" and low >= 0 and high <= 1:
        scale, offset = 255.0, 0.0
    elif im.mode != "F" and low >= 0 and high <= 65535:
        scale, offset = 255 / 65535, 0.0
    elif high > low:
        scale, offset = 255 / (high - low), -low * 255 / (high - low)
    else:
        scale, offset = 0.0, 0.0
    if im.mode != "F":
        offset += 0.5  # integer images truncate: round to the nearest level instead
    return im.point(lambda value: value * scale + offset).convert("L")


def _normalise_mode(im: Image.Image, icc: bytes | None,
                    fixes: list[str]) -> tuple[Image.Image, bytes | None]:
    """Return an RGB or RGBA version of ``im`` and the colour profile that still applies."""
    mode = im.mode
    if mode in ("RGB", "RGBA") and "transparency" not in im.info:
        return im, icc if _icc_is_rgb(icc) else None
    if mode == "CMYK":
        converted = None
        if _icc_is_cmyk(icc):
            try:
                from PIL import ImageCms

                converted = ImageCms.profileToProfile(
                    im,
                    ImageCms.ImageCmsProfile(io.BytesIO(icc)),  # type: ignore[arg-type]
                    ImageCms.createProfile("sRGB"),
                    outputMode="RGB",
                )
            except Exception:  # a broken or unusual profile: fall back to the plain formula
                converted = None
        fixes.append(_("converted CMYK colours to RGB"))
        return (im.convert("RGB") if converted is None else converted), None
    if mode in _SIXTEEN_BIT_MODES:
        fixes.append(_("converted the 16-bit image to 8-bit RGB"))
        return _to_eight_bit_gray(im).convert("RGB"), None
    alpha = _has_transparency(im)
    target = "RGBA" if alpha else "RGB"
    if mode in ("P", "PA"):
        fixes.append(_("converted the palette image to %(mode)s") % {"mode": target})
    elif mode in ("L", "LA", "La", "1"):
        fixes.append(_("converted the grayscale image to %(mode)s") % {"mode": target})
    elif mode not in ("RGB", "RGBA"):
        fixes.append(_("converted %(old)s colours to %(mode)s") % {"old": mode, "mode": target})
    if mode == "La":
        im = im.convert("LA")
    elif mode == "RGBa":
        im = im.convert("RGBA")
    converted = im.convert(target)
    return converted, icc if _icc_is_rgb(icc) and mode not in ("L", "LA", "La", "1") else None


def _drop_opaque_alpha(im: Image.Image) -> Image.Image:
    if im.mode == "RGBA" and im.getchannel("A").getextrema() == (255, 255):
        return im.convert("RGB")
    return im


class _TooBig(Exception):
    """Raised by :class:`_CappedBuffer` as soon as an encoding goes over the limit."""


class _CappedBuffer(io.BytesIO):
    """A ``BytesIO`` that gives up as soon as more than ``limit`` bytes are written."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def write(self, data: Any) -> int:
        if self.tell() + memoryview(data).nbytes > self.limit:
            raise _TooBig
        return super().write(data)


def _encode(im: Image.Image, fmt: str, icc: bytes | None, quality: int = JPEG_QUALITY,
            limit: int | None = None) -> bytes | None:
    """Encode ``im``; return ``None`` if the file would be over ``limit`` (default MAX_BYTES)."""
    buffer = _CappedBuffer(MAX_BYTES if limit is None else limit)
    options: dict[str, Any] = {}
    if icc:
        options["icc_profile"] = icc
    try:
        if fmt == "PNG":
            im.save(buffer, "PNG", compress_level=PNG_COMPRESS_LEVEL, **options)
        else:
            im.save(buffer, "JPEG", quality=quality, **options)
    except _TooBig:
        return None
    return buffer.getvalue()


def _is_lossy_source(fmt: str, im: Image.Image, head: bytes) -> bool:
    if fmt in _LOSSY_FORMATS:
        return True
    if fmt == "WEBP":
        return b"VP8L" not in head[12:]
    if fmt == "TIFF":
        return str(im.info.get("compression", "")).lower() in ("jpeg", "tiff_jpeg")
    return False


def _png_is_plain(head: bytes) -> bool:
    """True for an 8-bit truecolour (RGB or RGBA) PNG, judging by its IHDR chunk."""
    return len(head) >= 26 and head[12:16] == b"IHDR" and head[24] == 8 and head[25] in (2, 6)


def prepare_image(
    source: ImageSource,
    *,
    field: str = "image",
    aspect_ratio: str | None = None,
) -> PreparedImage:
    """Check an image and return it ready for the model, or raise ``InvalidInput``.

    ``source`` is bytes, a path, or a binary file object (a Django ``File``/``UploadedFile``
    works: it is rewound to the start and left open). The file name never matters: the format
    is read from the content. ``field`` is put on every ``InvalidInput`` raised. With
    ``aspect_ratio`` (one of :data:`ASPECT_RATIOS`) the image is center-cropped to it.

    Refusal codes: ``image_empty``, ``image_unreadable``, ``image_format``, ``image_animated``,
    ``image_too_large_pixels``, ``image_too_small``, ``image_aspect``,
    ``image_too_big_bytes`` (and ``aspect_ratio_invalid`` for a bad ``aspect_ratio``). See the
    module documentation for the fixes.
    """
    if aspect_ratio is not None:
        aspect_ratio = validate_aspect_ratio(aspect_ratio)
    with _open_source(source, field) as (fp, size):
        if size == 0:
            _refuse_empty(field)
        if size > MAX_SOURCE_BYTES:
            _refuse(
                "image_too_big_bytes",
                _("The file is %(size)s MB; files over %(limit)s MB cannot be processed."),
                field,
                {"size": _mb(size), "limit": _mb(MAX_SOURCE_BYTES)},
            )
        head = fp.read(_HEAD_BYTES)
        fp.seek(0)
        with _strict_decoding(), _decode_errors(field):
            try:
                opened = Image.open(fp, formats=_decoders())
            except UnidentifiedImageError as exc:
                kind = _sniff_other_format(head)
                if kind is None:
                    raise _unreadable(field) from exc
                _refuse(
                    "image_format",
                    _(
                        "This file is %(kind)s, which is not supported. Upload an image in "
                        "one of these formats: %(formats)s."
                    ),
                    field,
                    {"kind": kind, "formats": _accepted_names()},
                )
        with opened:
            return _prepare_opened(opened, fp, size, head, field, aspect_ratio)


def _strip_jpeg(data: bytes) -> bytes | None:
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
            keep = body.startswith(_JPEG_KEPT_APP.get(marker, ()))
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


def _strip_png(data: bytes) -> bytes | None:
    """The PNG with only its picture and colour chunks, or ``None`` if it has no end."""
    if not data.startswith(_PNG_SIGNATURE):
        return None
    out = [_PNG_SIGNATURE]
    pos = len(_PNG_SIGNATURE)
    while pos + 12 <= len(data):
        length = int.from_bytes(data[pos:pos + 4], "big")
        kind = data[pos + 4:pos + 8]
        chunk_end = pos + 12 + length
        if chunk_end > len(data):
            return None
        if kind in _PNG_KEPT_CHUNKS:
            out.append(data[pos:chunk_end])
        pos = chunk_end
        if kind == b"IEND":
            return b"".join(out)
    return None


def _strip_metadata(data: bytes, fmt: str, opened: Image.Image) -> bytes | None:
    """``data`` without metadata, checked to still open as the same picture; else ``None``."""
    stripped = _strip_png(data) if fmt == "PNG" else _strip_jpeg(data)
    if stripped is None:
        return None
    try:
        with Image.open(io.BytesIO(stripped), formats=("PNG", "JPEG")) as check:
            same = check.size == opened.size and check.mode == opened.mode
    except Exception:  # any doubt means re-encoding instead
        return None
    return stripped if same else None


def _orientation(im: Image.Image) -> int:
    """The EXIF orientation (1 to 8) of a loaded image; 1 when absent or unreadable."""
    try:
        orientation = int(im.getexif().get(_ORIENTATION_TAG, 1))
    except Exception:  # a broken EXIF block does not make the pixels unusable
        return 1
    return orientation if orientation in range(1, 9) else 1


def _header_orientation(im: Image.Image) -> int:
    """The EXIF orientation when it is known without decoding the pixels (JPEG, WebP)."""
    if im.format in ("JPEG", "MPO", "WEBP") and "exif" in im.info:
        return _orientation(im)
    return 1


def _prepare_opened(opened: ImageFile.ImageFile, fp: IO[bytes], size: int, head: bytes,
                    field: str, aspect_ratio: str | None) -> PreparedImage:
    fixes: list[str] = []
    fmt = str(opened.format)
    width, height = opened.size
    if width * height > MAX_PIXELS:
        _refuse_pixels(field, width, height)
    # Refuse a wrong size or shape from the header, before decoding any pixel. The checks do
    # not depend on the orientation; it is only used to name the sides as the editor sees them.
    if _header_orientation(opened) in (5, 6, 7, 8):
        width, height = height, width
    _check_sides(width, height, field)
    _check_aspect(width, height, field)
    with _strict_decoding(), _decode_errors(field):
        frames = int(getattr(opened, "n_frames", 1)) if getattr(opened, "is_animated",
                                                                False) else 1
        if frames > 1 and fmt in _ANIMATED_FORMATS:
            _refuse(
                "image_animated",
                _(
                    "The image is animated (%(frames)s frames). Upload a still image: export "
                    "the frame you want as a PNG or JPEG."
                ),
                field,
                {"frames": frames},
            )
        if frames > 1 and fmt != "MPO":
            fixes.append(_("used the first of %(frames)s pages") % {"frames": frames})
        opened.load()
    if opened.size[0] * opened.size[1] > MAX_PIXELS:
        _refuse_pixels(field, *opened.size)
    icc = opened.info.get("icc_profile")
    lossy_source = _is_lossy_source(fmt, opened, head)
    im: Image.Image = opened

    # Orientation. A broken EXIF block is ignored, not fatal: the pixels are fine.
    orientation = _orientation(opened)
    if orientation in _TRANSPOSE:
        try:
            im = ImageOps.exif_transpose(opened)
        except Exception:
            im = opened.transpose(_TRANSPOSE[orientation])
        fixes.append(_("rotated per EXIF orientation"))

    # Sides and shape.
    width, height = im.size
    _check_sides(width, height, field)
    _check_aspect(width, height, field)
    if aspect_ratio is not None:
        box = _crop_box(width, height, aspect_ratio)
        new_w, new_h = box[2] - box[0], box[3] - box[1]
        if (new_w, new_h) != (width, height):
            if new_w < MIN_SIDE or new_h < MIN_SIDE:
                _refuse(
                    "image_too_small",
                    _(
                        "Cropped to %(aspect_ratio)s, the %(width)s×%(height)s image would be "
                        "%(new_width)s×%(new_height)s pixels; each side must be at least "
                        "%(min)s pixels."
                    ),
                    field,
                    {"aspect_ratio": aspect_ratio, "width": width, "height": height,
                     "new_width": new_w, "new_height": new_h, "min": MIN_SIDE},
                )
            im = im.crop(box)
            fixes.append(
                _("cropped from %(width)s×%(height)s to %(new_width)s×%(new_height)s for the "
                  "%(aspect_ratio)s aspect ratio")
                % {"width": width, "height": height, "new_width": new_w, "new_height": new_h,
                   "aspect_ratio": aspect_ratio}
            )

    # Pass a compliant JPEG/PNG through without re-encoding (only its metadata is dropped).
    plain = not fixes and (
        (fmt in ("JPEG", "MPO") and opened.mode == "RGB")
        or (fmt == "PNG" and opened.mode in ("RGB", "RGBA") and _png_is_plain(head))
    )
    if plain and max(im.size) <= MAX_SIDE and size <= MAX_BYTES:
        fp.seek(0)
        data = fp.read(MAX_BYTES + 1)
        stripped = _strip_metadata(data, fmt, opened) if len(data) == size else None
        if stripped is not None:
            return PreparedImage(
                data=stripped,
                media_type="image/png" if fmt == "PNG" else "image/jpeg",
                width=im.size[0],
                height=im.size[1],
                fixes=(),
            )
        fixes.append(_("re-encoded the file because its structure was incomplete"))

    # Colours.
    im, icc = _normalise_mode(im, icc, fixes)
    im = _drop_opaque_alpha(im)
    im.info = {}

    # Size.
    width, height = im.size
    if max(width, height) > MAX_SIDE:
        scale = MAX_SIDE / max(width, height)
        new_size = (max(1, round(width * scale)), max(1, round(height * scale)))
        im = im.resize(new_size, Image.Resampling.LANCZOS, reducing_gap=3.0)
        fixes.append(
            _("shrunk from %(width)s×%(height)s to %(new_width)s×%(new_height)s")
            % {"width": width, "height": height, "new_width": new_size[0],
               "new_height": new_size[1]}
        )

    return _encode_final(im, icc, fmt, lossy_source, size, fixes, field)


def _encode_final(im: Image.Image, icc: bytes | None, fmt: str, lossy_source: bool,
                  size: int, fixes: list[str], field: str) -> PreparedImage:
    """Encode as PNG or JPEG (see the module rules), falling back to smaller JPEGs."""
    target = "JPEG" if im.mode == "RGB" and lossy_source else "PNG"
    data = _encode(im, target, icc)
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
            data = _encode(im, "JPEG", icc, quality)
            if data is not None:
                break
        else:
            _refuse(
                "image_too_big_bytes",
                _(
                    "The image cannot be brought under %(limit)s MB, even as a JPEG at quality "
                    "%(quality)s (the file is %(size)s MB)."
                ),
                field,
                {"limit": _mb(MAX_BYTES), "quality": quality, "size": _mb(size)},
            )
    assert data is not None
    source_name = _FORMAT_NAMES.get(fmt, fmt)
    if source_name != target:
        fixes.append(
            _("converted %(source)s to %(target)s") % {"source": source_name, "target": target}
        )
    if flattened:
        fixes.append(_("flattened the transparency onto a white background"))
    if fell_back or size > MAX_BYTES:
        params: dict[str, Any] = {"limit": _mb(MAX_BYTES), "size": _mb(size),
                                  "new_size": _mb(len(data)), "quality": quality}
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
