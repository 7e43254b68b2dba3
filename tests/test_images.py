"""Input checks and image preparation (``django_kling.files.images``).

Every input is generated here with Pillow (no binary fixtures). No database is used.
"""

from __future__ import annotations

import io
import os
import random
import struct
import time
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from PIL import Image, ImageFile

from django_kling.exceptions import InvalidInput
from django_kling.files import images
from django_kling.files.images import PreparedImage, prepare_image
from django_kling.options import (
    validate_aspect_ratio,
    validate_duration,
    validate_mode,
    validate_prompt,
)

from .hostile_files import CountingReader, many_frame_gif, many_page_tiff

REFUSAL_CODES = {
    "image_multipage",
    "image_empty",
    "image_unreadable",
    "image_format",
    "image_animated",
    "image_too_large_pixels",
    "image_too_small",
    "image_aspect",
    "image_too_big_bytes",
}


@pytest.fixture(scope="module", autouse=True)
def _django_settings():
    """Messages go through gettext: make sure Django is configured even without pytest-django."""
    import django
    from django.conf import settings

    if not settings.configured and not os.environ.get("DJANGO_SETTINGS_MODULE"):
        settings.configure(USE_I18N=False)
        django.setup()


# ------------------------------------------------------------------------------------------
# Helpers
# ------------------------------------------------------------------------------------------


def encode(im: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    im.save(buffer, fmt, **options)
    return buffer.getvalue()


def picture(width: int, height: int, mode: str = "RGB") -> Image.Image:
    """A cheap picture with some structure (gradients), so that JPEG/PNG sizes are realistic."""
    if width * height > 4_000_000:  # big ones are plain, to keep the suite fast
        return Image.new("RGB", (width, height), (40, 120, 200)).convert(mode)
    nearest = Image.Resampling.NEAREST
    red = Image.linear_gradient("L").resize((width, height), nearest)
    green = Image.linear_gradient("L").transpose(Image.Transpose.ROTATE_90).resize(
        (width, height), nearest
    )
    blue = Image.new("L", (width, height), 90)
    return Image.merge("RGB", (red, green, blue)).convert(mode)


def noise(width: int, height: int, mode: str = "RGB") -> Image.Image:
    channels = len(mode)
    return Image.frombytes(mode, (width, height), os.urandom(width * height * channels))


def reopen(prepared: PreparedImage) -> Image.Image:
    im = Image.open(io.BytesIO(prepared.data))
    im.load()
    return im


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_with_header_size(width: int, height: int) -> bytes:
    """A tiny 1-bit PNG whose IHDR claims ``width``×``height`` (a decompression bomb header)."""
    data = bytearray(encode(Image.new("1", (8, 8)), "PNG"))
    assert data[12:16] == b"IHDR"
    ihdr = struct.pack(">II", width, height) + bytes(data[24:29])
    data[8:33] = png_chunk(b"IHDR", ihdr)
    return bytes(data)


def png_rgb16(width: int, height: int) -> bytes:
    """A 16-bit-per-channel RGB PNG, written by hand (Pillow cannot write one)."""
    row = b"\x00" + bytes([0x9C, 0x40, 0x40, 0x00, 0x10, 0x00]) * width
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0))
        + png_chunk(b"IDAT", zlib.compress(row * height))
        + png_chunk(b"IEND", b"")
    )


def refused(source, **kwargs) -> InvalidInput:
    with pytest.raises(InvalidInput) as info:
        prepare_image(source, **kwargs)
    error = info.value
    assert error.code in REFUSAL_CODES
    assert error.field == kwargs.get("field", "image")
    assert error.message and str(error) == error.message
    return error


# ------------------------------------------------------------------------------------------
# Refusals
# ------------------------------------------------------------------------------------------


def test_empty_bytes_file_and_path(tmp_path: Path):
    assert refused(b"").code == "image_empty"
    assert refused(io.BytesIO()).code == "image_empty"
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    error = refused(empty, field="last_frame")
    assert error.code == "image_empty"
    assert "0 bytes" in error.message


def test_random_bytes_are_unreadable():
    error = refused(random.Random(1).randbytes(5000))
    assert error.code == "image_unreadable"
    assert "JPEG, PNG" in error.message


def test_missing_path_is_unreadable(tmp_path: Path):
    error = refused(tmp_path / "nope.png")
    assert error.code == "image_unreadable"
    assert str(tmp_path) not in error.message


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "WEBP"])
def test_truncated_images_are_unreadable(fmt: str):
    whole = encode(picture(400, 400), fmt)
    error = refused(whole[: len(whole) // 2])
    assert error.code == "image_unreadable"
    assert "damaged or incomplete" in error.message


def test_truncated_jpeg_refused_even_if_the_project_allows_truncated_images(monkeypatch):
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    whole = encode(picture(400, 400), "JPEG")
    assert refused(whole[:-300]).code == "image_unreadable"
    assert refused(encode(picture(400, 400), "PNG")[:-200]).code == "image_unreadable"
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # the project's choice is restored


@pytest.mark.parametrize(
    "text",
    [
        '<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="900" '
        'height="900"><rect width="900" height="900"/></svg>',
        '\ufeff  <svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"></svg>',
        '<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "x.dtd"><svg></svg>',
    ],
)
def test_svg_is_refused_as_a_non_raster_format(text: str):
    error = refused(text.encode())
    assert error.code == "image_format"
    assert "SVG" in error.message
    assert "JPEG" in error.message and "PNG" in error.message


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\n", "PDF"),
        (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 900 900\n", "PostScript"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(100), "HEIC"),
        (b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + bytes(100), "video"),
        (b"8BPS\x00\x01" + bytes(100), "Photoshop"),
    ],
)
def test_other_non_raster_formats_are_named(data: bytes, name: str):
    error = refused(data)
    assert error.code == "image_format"
    assert name in error.message


@pytest.mark.parametrize("fmt", ["GIF", "PNG", "WEBP"])
def test_animated_images_are_refused(fmt: str):
    frames = [Image.new("RGB", (400, 400), colour) for colour in ("red", "green", "blue")]
    data = encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100)
    error = refused(data)
    assert error.code == "image_animated"
    assert "animated" in error.message


def test_decompression_bomb_beyond_pillow_limit():
    data = png_with_header_size(30000, 30000)
    assert len(data) < 200
    error = refused(data)
    assert error.code == "image_too_large_pixels"
    assert "900 megapixels" in error.message and "50 megapixels" in error.message


def test_over_fifty_megapixels_refused_from_the_header():
    # 56 megapixels: below Pillow's own limit, above ours; the pixel data is not even there,
    # so reaching the decoder would have given "image_unreadable".
    error = refused(png_with_header_size(8000, 7000))
    assert error.code == "image_too_large_pixels"
    assert "8000×7000" in error.message and "56 megapixels" in error.message


def test_decompression_bomb_warning_is_an_error(monkeypatch):
    # Pillow warns between MAX_IMAGE_PIXELS and twice that; the warning counts as a refusal.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000_000)
    error = refused(encode(picture(1200, 1000), "PNG"))
    assert error.code == "image_too_large_pixels"
    assert "1.2 megapixels" in error.message


@pytest.mark.parametrize(("width", "height"), [(1, 1), (299, 600), (300, 299), (120, 60)])
def test_too_small(width: int, height: int):
    error = refused(encode(picture(width, height), "PNG"))
    assert error.code == "image_too_small"
    assert f"{width}×{height}" in error.message
    assert "300" in error.message
    assert error.params["width"] == width and error.params["height"] == height


def test_too_small_names_the_sides_as_displayed():
    exif = Image.Exif()
    exif[0x0112] = 6  # displayed rotated: 600 wide, 200 high
    error = refused(encode(picture(200, 600), "JPEG", exif=exif))
    assert error.code == "image_too_small"
    assert "600×200" in error.message


@pytest.mark.parametrize(
    ("width", "height", "ratio"), [(900, 300, "3.00:1"), (300, 900, "1:3.00"),
                                   (751, 300, "2.503:1")]
)
def test_aspect_ratio_out_of_range(width: int, height: int, ratio: str):
    error = refused(encode(picture(width, height), "JPEG"))
    assert error.code == "image_aspect"
    assert ratio in error.message
    assert f"{width}×{height}" in error.message
    assert "1:2.5" in error.message and "2.5:1" in error.message


@pytest.mark.parametrize(("width", "height"), [(750, 300), (300, 750), (300, 300)])
def test_aspect_ratio_limits_are_accepted(width: int, height: int):
    prepared = prepare_image(encode(picture(width, height), "JPEG"))
    assert (prepared.width, prepared.height) == (width, height)


def test_image_that_cannot_fit_the_byte_limit(monkeypatch):
    monkeypatch.setattr(images.limits, "MAX_BYTES", 200_000)
    error = refused(encode(noise(1000, 1000), "PNG", compress_level=1))
    assert error.code == "image_too_big_bytes"
    assert "0.2 MB" in error.message and "quality 30" in error.message


def test_file_beyond_the_reading_limit(monkeypatch):
    monkeypatch.setattr(images.limits, "MAX_SOURCE_BYTES", 1_000_000)
    error = refused(encode(noise(700, 700), "BMP"))
    assert error.code == "image_too_big_bytes"
    assert "1.5 MB" in error.message and "1 MB" in error.message


def test_invalid_aspect_ratio_argument():
    with pytest.raises(InvalidInput) as info:
        prepare_image(encode(picture(400, 400), "PNG"), aspect_ratio="4:3")
    assert info.value.code == "aspect_ratio_invalid"
    assert info.value.field == "aspect_ratio"


# ------------------------------------------------------------------------------------------
# Fixes
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_compliant_file_passes_through_untouched(fmt: str):
    data = encode(picture(640, 480), fmt)
    prepared = prepare_image(data)
    assert prepared.data == data
    assert prepared.fixes == ()
    assert (prepared.width, prepared.height) == (640, 480)
    assert prepared.media_type == ("image/png" if fmt == "PNG" else "image/jpeg")


def test_passed_through_jpeg_loses_its_metadata_but_not_its_pixels():
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x0112] = 1
    exif[0x010F] = "CameraMaker"
    exif[0x8825] = {2: (48.0, 51.0, 30.0)}  # GPS latitude
    data = encode(picture(640, 480), "JPEG", exif=exif, comment=b"secret", icc_profile=icc)
    prepared = prepare_image(data + b"trailing payload")
    assert prepared.fixes == () and prepared.media_type == "image/jpeg"
    assert len(prepared.data) < len(data)
    assert b"CameraMaker" not in prepared.data and b"secret" not in prepared.data
    assert prepared.data.endswith(b"\xff\xd9")
    out, original = reopen(prepared), Image.open(io.BytesIO(data))
    assert "exif" not in out.info and "comment" not in out.info
    assert out.info.get("icc_profile") == icc
    assert out.tobytes() == original.tobytes()  # same compressed data: identical pixels


def test_passed_through_png_loses_its_metadata_but_not_its_pixels():
    from PIL import PngImagePlugin

    text = PngImagePlugin.PngInfo()
    text.add_text("Author", "someone@example.com")
    exif = Image.Exif()
    exif[0x010F] = "CameraMaker"
    im = picture(500, 400, "RGBA")
    data = encode(im, "PNG", pnginfo=text, exif=exif)
    prepared = prepare_image(data)
    assert prepared.fixes == () and prepared.media_type == "image/png"
    assert b"someone@example.com" not in prepared.data and b"CameraMaker" not in prepared.data
    out = reopen(prepared)
    assert out.mode == "RGBA" and out.tobytes() == im.tobytes()


def test_mpo_keeps_only_its_main_picture():
    frames = [picture(640, 480), Image.new("RGB", (640, 480), "black")]
    data = encode(frames[0], "MPO", save_all=True, append_images=frames[1:])
    assert Image.open(io.BytesIO(data)).n_frames == 2
    prepared = prepare_image(data)
    out = reopen(prepared)
    assert out.format == "JPEG" and getattr(out, "n_frames", 1) == 1
    assert len(prepared.data) < len(data) and prepared.fixes == ()
    assert out.tobytes() == Image.open(io.BytesIO(data)).convert("RGB").tobytes()


def test_exif_orientation_is_applied_and_exif_removed():
    im = Image.new("RGB", (600, 400), "red")
    im.paste((0, 0, 255), (300, 0, 600, 400))  # right half blue
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    exif[0x010F] = "CameraMaker"
    prepared = prepare_image(encode(im, "JPEG", exif=exif, quality=95))
    assert (prepared.width, prepared.height) == (400, 600)
    assert prepared.media_type == "image/jpeg"
    assert any("EXIF" in fix for fix in prepared.fixes)
    out = reopen(prepared)
    assert out.size == (400, 600)
    assert "exif" not in out.info and len(out.getexif()) == 0
    top, bottom = out.getpixel((200, 100)), out.getpixel((200, 500))
    assert top[0] > 200 and top[2] < 60  # the left (red) half is now on top
    assert bottom[2] > 200 and bottom[0] < 60


@pytest.mark.parametrize(
    ("options", "media_type", "mode"),
    [
        ({"quality": 80}, "image/jpeg", "RGB"),
        ({"lossless": True}, "image/png", "RGB"),
    ],
)
def test_webp_is_converted(options: dict, media_type: str, mode: str):
    prepared = prepare_image(encode(picture(500, 400), "WEBP", **options))
    assert prepared.media_type == media_type
    assert reopen(prepared).mode == mode
    assert any("WebP" in fix for fix in prepared.fixes)


def test_transparent_webp_becomes_png_with_alpha():
    im = picture(500, 400, "RGBA")
    im.putalpha(Image.linear_gradient("L").resize((500, 400)))
    prepared = prepare_image(encode(im, "WEBP", quality=80))
    assert prepared.media_type == "image/png" and prepared.extension == ".png"
    assert reopen(prepared).mode == "RGBA"


@pytest.mark.parametrize(("fmt", "name"), [("GIF", "GIF"), ("BMP", "BMP"), ("TIFF", "TIFF")])
def test_lossless_formats_become_png(fmt: str, name: str):
    source = picture(400, 320)
    prepared = prepare_image(encode(source.convert("P") if fmt == "GIF" else source, fmt))
    assert prepared.media_type == "image/png"
    assert reopen(prepared).mode == "RGB"
    assert f"converted {name} to PNG" in prepared.fixes


def test_jpeg_compressed_tiff_becomes_jpeg():
    prepared = prepare_image(encode(picture(400, 320), "TIFF", compression="jpeg"))
    assert prepared.media_type == "image/jpeg"
    assert "converted TIFF to JPEG" in prepared.fixes


def test_multipage_tiff_is_refused():
    pages = [picture(400, 400), Image.new("RGB", (400, 400), "black")]
    error = refused(encode(pages[0], "TIFF", save_all=True, append_images=pages[1:]))
    assert error.code == "image_multipage"
    assert "more than one page" in error.message


@pytest.mark.parametrize("make", [many_page_tiff, many_frame_gif])
def test_pages_and_frames_are_never_counted(make):
    # Issue 13, item 5: 100,000 TIFF pages in 11 MB took 73 s to count. Deciding "more than
    # one" reads the header and at most the first frame, whatever follows.
    source = CountingReader(make(5000))
    error = refused(source)
    assert error.code in {"image_multipage", "image_animated"}
    assert source.bytes_read < 64 * 1024 < len(source.getvalue())


def test_cmyk_jpeg_becomes_rgb():
    prepared = prepare_image(encode(picture(400, 400).convert("CMYK"), "JPEG"))
    assert prepared.media_type == "image/jpeg"
    assert reopen(prepared).mode == "RGB"
    assert any("CMYK" in fix for fix in prepared.fixes)


def test_grayscale_jpeg_becomes_rgb():
    prepared = prepare_image(encode(picture(400, 400, "L"), "JPEG"))
    assert reopen(prepared).mode == "RGB"
    assert prepared.media_type == "image/jpeg"


def test_sixteen_bit_gray_png_becomes_eight_bit():
    data = encode(Image.new("I;16", (400, 300), 40000), "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    prepared = prepare_image(data)
    out = reopen(prepared)
    assert out.mode == "RGB" and prepared.media_type == "image/png"
    assert out.getpixel((10, 10)) == (156, 156, 156)  # 40000 / 65535 * 255
    assert any("16-bit" in fix for fix in prepared.fixes)


def test_sixteen_bit_rgb_png_becomes_eight_bit():
    data = png_rgb16(400, 300)
    assert data[24] == 16
    prepared = prepare_image(data)
    assert prepared.data != data
    assert prepared.data[24] == 8  # IHDR bit depth
    assert reopen(prepared).getpixel((0, 0)) == (0x9C, 0x40, 0x10)


def test_palette_png_with_and_without_transparency():
    opaque = picture(400, 300).convert("P")
    prepared = prepare_image(encode(opaque, "PNG"))
    assert reopen(prepared).mode == "RGB"
    assert any("palette" in fix for fix in prepared.fixes)

    transparent = picture(400, 300).convert("P")
    transparent.info["transparency"] = transparent.getpixel((0, 0))
    prepared = prepare_image(encode(transparent, "PNG", transparency=transparent.getpixel((0, 0))))
    assert reopen(prepared).mode == "RGBA"
    assert prepared.media_type == "image/png"


def test_la_png_becomes_rgba():
    im = Image.new("LA", (400, 300), (100, 128))
    prepared = prepare_image(encode(im, "PNG"))
    out = reopen(prepared)
    assert out.mode == "RGBA" and out.getpixel((0, 0)) == (100, 100, 100, 128)
    assert any("grayscale" in fix for fix in prepared.fixes)


def test_fully_opaque_alpha_is_dropped():
    prepared = prepare_image(encode(picture(400, 300, "RGBA"), "WEBP", quality=80))
    assert prepared.media_type == "image/jpeg"


def test_large_image_is_shrunk():
    prepared = prepare_image(encode(Image.new("RGB", (8000, 4500), "teal"), "JPEG"))
    assert (prepared.width, prepared.height) == (3840, 2160)
    assert reopen(prepared).size == (3840, 2160)
    assert any("8000×4500" in fix and "3840×2160" in fix for fix in prepared.fixes)


def test_thirty_megabyte_png_is_reencoded_under_ten():
    data = encode(noise(3200, 3200), "PNG", compress_level=0)
    assert len(data) > 30_000_000
    prepared = prepare_image(data)
    assert len(prepared.data) <= images.MAX_BYTES
    assert prepared.media_type == "image/jpeg"
    assert (prepared.width, prepared.height) == (3200, 3200)
    assert any("quality" in fix and "10 MB" in fix for fix in prepared.fixes)


def test_oversized_jpeg_is_reencoded_smaller(monkeypatch):
    data = encode(noise(600, 600), "JPEG", quality=100)
    monkeypatch.setattr(images.limits, "MAX_BYTES", len(data) - 1)
    prepared = prepare_image(data)
    assert len(prepared.data) < len(data)
    assert prepared.media_type == "image/jpeg"
    assert any("quality 90" in fix for fix in prepared.fixes)


def test_transparent_image_over_the_limit_is_flattened(monkeypatch):
    monkeypatch.setattr(images.limits, "MAX_BYTES", 300_000)
    prepared = prepare_image(encode(noise(500, 500, "RGBA"), "PNG", compress_level=1))
    assert prepared.media_type == "image/jpeg"
    assert len(prepared.data) <= 300_000
    assert reopen(prepared).mode == "RGB"
    assert any("white" in fix for fix in prepared.fixes)


def test_png_without_end_is_reencoded():
    data = encode(picture(400, 400), "PNG")[:-12]  # IEND chunk missing, pixels complete
    prepared = prepare_image(data)
    assert prepared.data.endswith(b"IEND\xaeB`\x82")
    assert prepared.fixes


def test_file_name_is_not_trusted(tmp_path: Path):
    png_as_jpg = tmp_path / "photo.jpg"
    png_as_jpg.write_bytes(encode(picture(400, 400), "PNG"))
    prepared = prepare_image(png_as_jpg)
    assert prepared.media_type == "image/png" and prepared.extension == ".png"
    jpg_as_png = tmp_path / "photo.png"
    jpg_as_png.write_bytes(encode(picture(400, 400), "JPEG"))
    prepared = prepare_image(str(jpg_as_png))
    assert prepared.media_type == "image/jpeg" and prepared.extension == ".jpg"


@pytest.mark.parametrize(
    ("size", "aspect_ratio", "expected"),
    [
        ((1000, 1000), "16:9", (1000, 562)),
        ((1000, 1000), "9:16", (562, 1000)),
        ((1600, 900), "1:1", (900, 900)),
        ((1200, 800), "16:9", (1200, 675)),
        ((900, 1200), "9:16", (675, 1200)),
        ((750, 300), "16:9", (533, 300)),  # 2.5:1, the widest accepted
        ((8000, 6000), "16:9", (3840, 2160)),  # cropped, then shrunk
    ],
)
def test_crop_to_aspect_ratio(size, aspect_ratio: str, expected):
    prepared = prepare_image(encode(picture(*size), "JPEG"), aspect_ratio=aspect_ratio)
    rw, rh = (int(part) for part in aspect_ratio.split(":"))
    assert (prepared.width, prepared.height) == expected
    assert abs(prepared.width - prepared.height * rw / rh) <= 1
    assert reopen(prepared).size == expected
    assert any(aspect_ratio in fix for fix in prepared.fixes)


def test_already_at_the_ratio_is_not_cropped():
    data = encode(picture(1280, 720), "JPEG")
    prepared = prepare_image(data, aspect_ratio="16:9")
    assert prepared.data == data and prepared.fixes == ()


def test_a_chosen_ratio_does_not_rescue_a_too_wide_image():
    error = refused(encode(picture(900, 300), "PNG"), aspect_ratio="16:9")
    assert error.code == "image_aspect" and "3.00:1" in error.message


def test_crop_that_would_be_too_small_is_refused():
    error = refused(encode(picture(400, 400), "PNG"), aspect_ratio="16:9")
    assert error.code == "image_too_small"
    assert "400×225" in error.message and "16:9" in error.message


def test_file_objects_are_rewound_and_left_open():
    from django.core.files.base import ContentFile
    from django.core.files.uploadedfile import SimpleUploadedFile

    data = encode(picture(400, 400), "JPEG")
    stream = io.BytesIO(data)
    stream.read(100)
    assert prepare_image(stream).data == data
    assert not stream.closed

    upload = SimpleUploadedFile("photo.gif", data, content_type="image/gif")
    assert prepare_image(upload).media_type == "image/jpeg"
    assert not upload.closed
    assert prepare_image(ContentFile(data, name="x.bin")).data == data


def test_non_seekable_stream():
    data = encode(picture(400, 400), "PNG")

    class Pipe:
        def __init__(self) -> None:
            self.buffer = io.BytesIO(data)

        def read(self, size: int = -1) -> bytes:
            return self.buffer.read(size)

    assert prepare_image(Pipe()).data == data


def test_prepared_image_is_frozen():
    prepared = PreparedImage(data=b"x", media_type="image/jpeg", width=300, height=300)
    assert prepared.extension == ".jpg" and prepared.fixes == ()
    with pytest.raises(AttributeError):
        prepared.width = 1  # type: ignore[misc]


# ------------------------------------------------------------------------------------------
# Prompts and options
# ------------------------------------------------------------------------------------------


def test_prompt_length_limit():
    assert validate_prompt("a" * 2500) == "a" * 2500
    with pytest.raises(InvalidInput) as info:
        validate_prompt("a" * 2501)
    assert info.value.code == "prompt_too_long"
    assert "2501" in info.value.message and "2500" in info.value.message
    assert info.value.field == "prompt"


def test_negative_prompt_is_named():
    with pytest.raises(InvalidInput) as info:
        validate_prompt("b" * 3000, field="negative_prompt")
    assert info.value.field == "negative_prompt"
    assert "negative prompt" in info.value.message and "3000" in info.value.message


def test_length_is_counted_after_cleaning():
    assert validate_prompt("  " + "a" * 2500 + "\x00\x00  \n") == "a" * 2500


def test_empty_prompts():
    assert validate_prompt(None) == ""
    assert validate_prompt("") == ""
    assert validate_prompt(" \n\t ") == ""


def test_control_characters_are_stripped():
    text = "\x00 a\x00b\x07c\x1bd\x7fe\x85f\ng\th\r\ni\rj \x0b"
    assert validate_prompt(text) == "abcdef\ng\th\ni\nj"


def test_html_is_kept_verbatim():
    text = '<b>Waves</b> & <script>alert("x")</script> "quoted" \'single\''
    assert validate_prompt(text) == text


def test_invalid_prompts():
    for value in (42, b"bytes", "broken \ud800 surrogate"):
        with pytest.raises(InvalidInput) as info:
            validate_prompt(value)  # type: ignore[arg-type]
        assert info.value.code == "prompt_invalid"


@pytest.mark.parametrize(("value", "expected"), [(5, 5), (10, 10), ("5", 5), (" 10 ", 10)])
def test_valid_durations(value, expected: int):
    assert validate_duration(value) == expected


@pytest.mark.parametrize("value", [0, 2, -5, 16, "5s", "", "ten", True, None, 5.5, "٥"])
def test_invalid_durations(value):
    with pytest.raises(InvalidInput) as info:
        validate_duration(value)
    assert info.value.code == "duration_invalid"
    assert info.value.field == "duration"
    assert "3, 4, 5" in info.value.message and "15" in info.value.message  # any model's


@pytest.mark.parametrize("value", ["16:9", "9:16", "1:1", " 1:1 "])
def test_valid_aspect_ratios(value: str):
    assert validate_aspect_ratio(value) == value.strip()


@pytest.mark.parametrize("value", ["4:3", "16x9", "16/9", "", None, 169])
def test_invalid_aspect_ratios(value):
    with pytest.raises(InvalidInput) as info:
        validate_aspect_ratio(value)
    assert info.value.code == "aspect_ratio_invalid"
    assert "16:9, 9:16, 1:1" in info.value.message


@pytest.mark.parametrize(("value", "expected"), [("std", "std"), ("pro", "pro"), (" PRO ", "pro")])
def test_valid_modes(value: str, expected: str):
    assert validate_mode(value) == expected


@pytest.mark.parametrize("value", ["fast", "", None, "standard"])
def test_invalid_modes(value):
    with pytest.raises(InvalidInput) as info:
        validate_mode(value)
    assert info.value.code == "mode_invalid"
    assert "std, pro" in info.value.message


# ------------------------------------------------------------------------------------------
# Property: prepare_image never fails in any other way than InvalidInput
# ------------------------------------------------------------------------------------------


def check_outcome(data: bytes) -> None:
    try:
        prepared = prepare_image(data)
    except InvalidInput as error:
        assert error.code in REFUSAL_CODES
        assert error.message
        return
    out = reopen(prepared)
    assert out.format == ("PNG" if prepared.media_type == "image/png" else "JPEG")
    assert out.size == (prepared.width, prepared.height)
    assert min(out.size) >= images.MIN_SIDE and max(out.size) <= images.MAX_SIDE
    assert max(out.size) * 2 <= min(out.size) * 5
    assert len(prepared.data) <= images.MAX_BYTES


_BASES = {
    "png": encode(picture(320, 300), "PNG"),
    "jpeg": encode(picture(320, 300), "JPEG", quality=70),
    "gif": encode(picture(320, 300).convert("P"), "GIF"),
    "webp": encode(picture(320, 300), "WEBP", quality=50),
}

PROPERTY_SETTINGS = hypothesis_settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@PROPERTY_SETTINGS
@given(st.binary(max_size=4096))
def test_arbitrary_bytes_never_crash(data: bytes):
    check_outcome(data)


@PROPERTY_SETTINGS
@given(
    base=st.sampled_from(sorted(_BASES)),
    edits=st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), max_size=6),
    keep=st.one_of(st.none(), st.integers(0, 1 << 20)),
)
def test_mutated_images_never_crash(base: str, edits: list[tuple[int, int]], keep: int | None):
    data = bytearray(_BASES[base])
    for position, value in edits:
        # Header bytes matter most: aim half of the edits at the first 64 bytes.
        index = position % 64 if position % 2 else position % len(data)
        data[index] = value
    if keep is not None:
        del data[keep % len(data):]
    check_outcome(bytes(data))


def test_every_base_is_accepted():
    for data in _BASES.values():
        check_outcome(data)
        prepare_image(data)


def test_suite_inputs_are_cheap():
    start = time.perf_counter()
    refused(png_with_header_size(60000, 60000))
    assert time.perf_counter() - start < 1
