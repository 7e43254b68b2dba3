"""The limits an input image must meet, and the refusals that name them with their numbers.

The other modules read the limits as ``limits.MAX_BYTES`` (not copies), so a test or a host
project that changes one here changes it everywhere.

Every refusal is an ``InvalidInput`` with a stable ``code``, the ``field`` it belongs to, a
translated message and the numbers it was built from in ``params``.
"""

from __future__ import annotations

from typing import Any, NoReturn

from django.utils.translation import gettext as _

from ...exceptions import InvalidInput

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


def refuse(code: str, message: str, field: str, params: dict[str, Any]) -> NoReturn:
    raise InvalidInput(message % params, code=code, field=field, params=params)


def mb(size: int) -> str:
    shown = f"{size / 1_000_000:.1f}"
    return shown[:-2] if shown.endswith(".0") else shown


def megapixels(pixels: int) -> str:
    return mb(pixels)


def refuse_empty(field: str) -> NoReturn:
    refuse("image_empty", _("The image file is empty (0 bytes)."), field, {})


def refuse_pixels(field: str, width: int | None, height: int | None,
                   pixels: int | None = None) -> NoReturn:
    limit = megapixels(MAX_PIXELS)
    if width is not None and height is not None:
        params: dict[str, Any] = {
            "width": width,
            "height": height,
            "megapixels": megapixels(width * height),
            "limit": limit,
        }
        message = _(
            "The image is %(width)s×%(height)s pixels (%(megapixels)s megapixels); images over "
            "%(limit)s megapixels are refused."
        )
    elif pixels is not None:
        params = {"megapixels": megapixels(pixels), "limit": limit}
        message = _(
            "The image has %(megapixels)s megapixels; images over %(limit)s megapixels are "
            "refused."
        )
    else:
        params = {"limit": limit}
        message = _("The image has more than %(limit)s megapixels; it is refused.")
    refuse("image_too_large_pixels", message, field, params)


def ratio_text(width: int, height: int) -> str:
    big, small = max(width, height), min(width, height)
    for digits in (2, 3, 4):
        shown = f"{big / small:.{digits}f}"
        if float(shown) != MAX_ASPECT[0] / MAX_ASPECT[1]:
            break
    return f"{shown}:1" if width >= height else f"1:{shown}"


def check_sides(width: int, height: int, field: str) -> None:
    if width < MIN_SIDE or height < MIN_SIDE:
        refuse(
            "image_too_small",
            _(
                "The image is %(width)s×%(height)s pixels; each side must be at least "
                "%(min)s pixels."
            ),
            field,
            {"width": width, "height": height, "min": MIN_SIDE},
        )


def check_aspect(width: int, height: int, field: str) -> None:
    num, den = MAX_ASPECT
    if width * den > height * num or height * den > width * num:
        refuse(
            "image_aspect",
            _(
                "The image is %(width)s×%(height)s pixels, an aspect ratio of %(ratio)s; it "
                "must be between 1:2.5 and 2.5:1."
            ),
            field,
            {"width": width, "height": height, "ratio": ratio_text(width, height)},
        )
