"""Preparation as a chain of named steps, as sorl-thumbnail's engine and easy-thumbnails'
processors run theirs: each step takes the ``Work`` so far, refuses, records a fix, or answers
the finished ``PreparedImage`` (which ends the chain).

``STEPS`` in order: ``check_header`` (size and shape before any pixel is decoded), ``load``
(frames, full decode), ``orient`` (EXIF), ``check`` (sides and shape as seen), ``crop`` (to the
chosen aspect ratio), ``keep_original`` (a compliant JPEG/PNG passes through, metadata
stripped), ``colour``, ``shrink``, ``encode``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO

from django.utils.translation import gettext as _
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from ...options import validate_aspect_ratio
from . import limits
from .colour import drop_opaque_alpha, normalise_mode
from .decode import (
    HEAD_BYTES,
    ImageSource,
    accepted_names,
    decode_errors,
    decoders,
    open_source,
    sniff_other_format,
    strict_decoding,
    unreadable,
)
from .encode import PreparedImage, encode_final, is_lossy_source
from .limits import check_aspect, check_sides, mb, refuse, refuse_empty, refuse_pixels
from .parsers import png_is_plain, strip_metadata

ORIENTATION_TAG = 0x0112
TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


@dataclass
class Work:
    """One image on its way through the steps."""

    opened: ImageFile.ImageFile
    fp: IO[bytes]
    size: int
    head: bytes
    field: str
    aspect_ratio: str | None
    #: The picture as the steps have left it so far (``opened`` until a step changes it).
    im: Image.Image | None = None
    icc: bytes | None = None
    lossy_source: bool = False
    fixes: list[str] = field(default_factory=list)

    @property
    def format(self) -> str:
        return str(self.opened.format)


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
    ``image_multipage``,
    ``image_too_large_pixels``, ``image_too_small``, ``image_aspect``,
    ``image_too_big_bytes`` (and ``aspect_ratio_invalid`` for a bad ``aspect_ratio``). See the
    package documentation for the fixes.
    """
    if aspect_ratio is not None:
        aspect_ratio = validate_aspect_ratio(aspect_ratio)
    with open_source(source, field) as (fp, size):
        if size == 0:
            refuse_empty(field)
        if size > limits.MAX_SOURCE_BYTES:
            refuse(
                "image_too_big_bytes",
                _("The file is %(size)s MB; files over %(limit)s MB cannot be processed."),
                field,
                {"size": mb(size), "limit": mb(limits.MAX_SOURCE_BYTES)},
            )
        head = fp.read(HEAD_BYTES)
        fp.seek(0)
        with strict_decoding(), decode_errors(field):
            try:
                opened = Image.open(fp, formats=decoders())
            except UnidentifiedImageError as exc:
                kind = sniff_other_format(head)
                if kind is None:
                    raise unreadable(field) from exc
                refuse(
                    "image_format",
                    _(
                        "This file is %(kind)s, which is not supported. Upload an image in "
                        "one of these formats: %(formats)s."
                    ),
                    field,
                    {"kind": kind, "formats": accepted_names()},
                )
        with opened:
            work = Work(opened=opened, fp=fp, size=size, head=head, field=field,
                        aspect_ratio=aspect_ratio)
            for step in STEPS:
                prepared = step(work)
                if prepared is not None:
                    return prepared
    raise AssertionError("the encode step always answers")  # pragma: no cover


def orientation(im: Image.Image) -> int:
    """The EXIF orientation (1 to 8) of a loaded image; 1 when absent or unreadable."""
    try:
        orientation = int(im.getexif().get(ORIENTATION_TAG, 1))
    except Exception:  # a broken EXIF block does not make the pixels unusable
        return 1
    return orientation if orientation in range(1, 9) else 1


def header_orientation(im: Image.Image) -> int:
    """The EXIF orientation when it is known without decoding the pixels (JPEG, WebP)."""
    if im.format in ("JPEG", "MPO", "WEBP") and "exif" in im.info:
        return orientation(im)
    return 1


def crop_box(width: int, height: int, aspect_ratio: str) -> tuple[int, int, int, int]:
    rw, rh = (int(part) for part in aspect_ratio.split(":"))
    if width * rh > height * rw:  # too wide: keep the height
        new_w, new_h = max(1, round(height * rw / rh)), height
    else:  # too tall (or exact): keep the width
        new_w, new_h = width, max(1, round(width * rh / rw))
    left, top = (width - new_w) // 2, (height - new_h) // 2
    return left, top, left + new_w, top + new_h


# -- the steps ----------------------------------------------------------------------------------


def check_header(work: Work) -> None:
    """Refuse a wrong size or shape from the header, before decoding any pixel.

    The checks do not depend on the orientation; it is only used to name the sides as the
    editor sees them.
    """
    width, height = work.opened.size
    if width * height > limits.MAX_PIXELS:
        refuse_pixels(work.field, width, height)
    if header_orientation(work.opened) in (5, 6, 7, 8):
        width, height = height, width
    check_sides(width, height, work.field)
    check_aspect(width, height, work.field)


def load(work: Work) -> None:
    """Refuse animations and multi-page files, decode every pixel."""
    opened, fmt, field = work.opened, work.format, work.field
    with strict_decoding(), decode_errors(field):
        # ``is_animated`` costs at most one seek: TIFF, PNG, WebP, AVIF and MPO read it from
        # their headers, GIF looks for a second frame. ``n_frames`` would walk every frame or
        # page first (100,000 TIFF pages in 11 MB took 73 s), so it is never read.
        if getattr(opened, "is_animated", False) and fmt != "MPO":
            if fmt == "TIFF":
                refuse(
                    "image_multipage",
                    _(
                        "The TIFF file has more than one page. Upload a single picture: "
                        "export the page you want as a PNG or JPEG."
                    ),
                    field,
                    {},
                )
            refuse(
                "image_animated",
                _(
                    "The image is animated (more than one frame). Upload a still image: "
                    "export the frame you want as a PNG or JPEG."
                ),
                field,
                {},
            )
        opened.load()
    if opened.size[0] * opened.size[1] > limits.MAX_PIXELS:
        refuse_pixels(field, *opened.size)
    work.icc = opened.info.get("icc_profile")
    work.lossy_source = is_lossy_source(fmt, opened, work.head)
    work.im = opened


def orient(work: Work) -> None:
    """Apply the EXIF orientation; a broken EXIF block is ignored (the pixels are fine)."""
    orientation_value = orientation(work.opened)
    if orientation_value in TRANSPOSE:
        try:
            work.im = ImageOps.exif_transpose(work.opened)
        except Exception:
            work.im = work.opened.transpose(TRANSPOSE[orientation_value])
        work.fixes.append(_("rotated per EXIF orientation"))


def check(work: Work) -> None:
    """Sides and shape of the picture as the editor sees it."""
    width, height = work.im.size
    check_sides(width, height, work.field)
    check_aspect(width, height, work.field)


def crop(work: Work) -> None:
    """Center-crop to the chosen aspect ratio; the crop must keep both sides long enough."""
    if work.aspect_ratio is None:
        return
    width, height = work.im.size
    box = crop_box(width, height, work.aspect_ratio)
    new_w, new_h = box[2] - box[0], box[3] - box[1]
    if (new_w, new_h) == (width, height):
        return
    if new_w < limits.MIN_SIDE or new_h < limits.MIN_SIDE:
        refuse(
            "image_too_small",
            _(
                "Cropped to %(aspect_ratio)s, the %(width)s×%(height)s image would be "
                "%(new_width)s×%(new_height)s pixels; each side must be at least "
                "%(min)s pixels."
            ),
            work.field,
            {"aspect_ratio": work.aspect_ratio, "width": width, "height": height,
             "new_width": new_w, "new_height": new_h, "min": limits.MIN_SIDE},
        )
    work.im = work.im.crop(box)
    work.fixes.append(
        _("cropped from %(width)s×%(height)s to %(new_width)s×%(new_height)s for the "
          "%(aspect_ratio)s aspect ratio")
        % {"width": width, "height": height, "new_width": new_w, "new_height": new_h,
           "aspect_ratio": work.aspect_ratio}
    )


def keep_original(work: Work) -> PreparedImage | None:
    """Pass a compliant JPEG/PNG through without re-encoding (only its metadata is dropped)."""
    opened, fmt = work.opened, work.format
    plain = not work.fixes and (
        (fmt in ("JPEG", "MPO") and opened.mode == "RGB")
        or (fmt == "PNG" and opened.mode in ("RGB", "RGBA") and png_is_plain(work.head))
    )
    if not (plain and max(work.im.size) <= limits.MAX_SIDE and work.size <= limits.MAX_BYTES):
        return None
    work.fp.seek(0)
    data = work.fp.read(limits.MAX_BYTES + 1)
    stripped = strip_metadata(data, fmt, opened) if len(data) == work.size else None
    if stripped is not None:
        return PreparedImage(
            data=stripped,
            media_type="image/png" if fmt == "PNG" else "image/jpeg",
            width=work.im.size[0],
            height=work.im.size[1],
            fixes=(),
        )
    work.fixes.append(_("re-encoded the file because its structure was incomplete"))
    return None


def colour(work: Work) -> None:
    """8-bit RGB, or RGBA when the picture really is transparent; no metadata."""
    work.im, work.icc = normalise_mode(work.im, work.icc, work.fixes)
    work.im = drop_opaque_alpha(work.im)
    work.im.info = {}


def shrink(work: Work) -> None:
    """A longest side over ``limits.MAX_SIDE`` is shrunk, keeping the aspect ratio."""
    width, height = work.im.size
    if max(width, height) <= limits.MAX_SIDE:
        return
    scale = limits.MAX_SIDE / max(width, height)
    new_size = (max(1, round(width * scale)), max(1, round(height * scale)))
    work.im = work.im.resize(new_size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    work.fixes.append(
        _("shrunk from %(width)s×%(height)s to %(new_width)s×%(new_height)s")
        % {"width": width, "height": height, "new_width": new_size[0],
           "new_height": new_size[1]}
    )


def encode(work: Work) -> PreparedImage:
    return encode_final(work.im, work.icc, work.format, work.lossy_source, work.size,
                        work.fixes, work.field)


Step = Callable[[Work], "PreparedImage | None"]
STEPS: tuple[Step, ...] = (check_header, load, orient, check, crop, keep_original, colour,
                           shrink, encode)
