"""Colour normalisation: every picture becomes 8-bit RGB, or RGBA when really transparent."""

from __future__ import annotations

import io

from django.utils.translation import gettext as _
from PIL import Image

ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})

SIXTEEN_BIT_MODES = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N", "F"})


def icc_is_rgb(icc: bytes | None) -> bool:
    return bool(icc) and len(icc) >= 20 and icc[16:20] == b"RGB "  # type: ignore[index]


def icc_is_cmyk(icc: bytes | None) -> bool:
    return bool(icc) and len(icc) >= 20 and icc[16:20] == b"CMYK"  # type: ignore[index]


def has_transparency(im: Image.Image) -> bool:
    return im.mode in ALPHA_MODES or "transparency" in im.info


def to_eight_bit_gray(im: Image.Image) -> Image.Image:
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


def normalise_mode(im: Image.Image, icc: bytes | None,
                    fixes: list[str]) -> tuple[Image.Image, bytes | None]:
    """Return an RGB or RGBA version of ``im`` and the colour profile that still applies."""
    mode = im.mode
    if mode in ("RGB", "RGBA") and "transparency" not in im.info:
        return im, icc if icc_is_rgb(icc) else None
    if mode == "CMYK":
        converted = None
        if icc_is_cmyk(icc):
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
    if mode in SIXTEEN_BIT_MODES:
        fixes.append(_("converted the 16-bit image to 8-bit RGB"))
        return to_eight_bit_gray(im).convert("RGB"), None
    alpha = has_transparency(im)
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
    return converted, icc if icc_is_rgb(icc) and mode not in ("L", "LA", "La", "1") else None


def drop_opaque_alpha(im: Image.Image) -> Image.Image:
    if im.mode == "RGBA" and im.getchannel("A").getextrema() == (255, 255):
        return im.convert("RGB")
    return im
