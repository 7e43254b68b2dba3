"""The bad-input corpus through the public entry point: fixed or refused, never sent."""

import io
import struct
import zlib

import pytest
from PIL import Image

from django_kling.exceptions import InvalidInput
from django_kling.jobs import create_video_request
from django_kling.models import Asset, VideoRequest

from .hostile_files import many_frame_gif, many_page_tiff

pytestmark = pytest.mark.django_db


def encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **kwargs)
    return out.getvalue()


def noisy(width: int, height: int) -> Image.Image:
    import os

    return Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))


def bomb_png() -> bytes:
    """A tiny PNG whose header claims 40000x40000 pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    header = struct.pack(">IIBBBBB", 40000, 40000, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 100)) + chunk(b"IEND", b""))


def animated_gif() -> bytes:
    frames = [Image.new("RGB", (400, 400), color) for color in ("red", "blue")]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)


def sixteen_bit_png() -> bytes:
    return encode(Image.new("I;16", (640, 360), 40000), "PNG")


GOOD = encode(Image.new("RGB", (640, 360), (200, 40, 40)), "PNG")

REFUSED = [
    ("corrupt JPEG", lambda: encode(Image.new("RGB", (640, 360)), "JPEG")[:400], "",
     "image_unreadable"),
    ("corrupt PNG", lambda: GOOD[:60], "", "image_unreadable"),
    ("decompression bomb", bomb_png, "", "image_too_large_pixels"),
    ("1x1 image", lambda: encode(Image.new("RGB", (1, 1)), "PNG"), "", "image_too_small"),
    ("299 px side", lambda: encode(Image.new("RGB", (299, 500)), "PNG"), "", "image_too_small"),
    ("SVG", lambda: b'<svg xmlns="http://www.w3.org/2000/svg" width="900" height="900"/>', "",
     "image_format"),
    ("animated GIF", animated_gif, "", "image_animated"),
    ("3:1 panorama", lambda: encode(Image.new("RGB", (1500, 500)), "PNG"), "", "image_aspect"),
    ("2,501-character prompt", lambda: GOOD, "x" * 2501, "prompt_too_long"),
    ("2,000-page TIFF", lambda: many_page_tiff(2000), "", "image_multipage"),
    ("5,000-frame GIF", lambda: many_frame_gif(5000), "", "image_animated"),
]

FIXED = [
    ("30 MB image", lambda: encode(noisy(3000, 3400), "PNG", compress_level=0), ""),
    ("CMYK JPEG", lambda: encode(Image.new("CMYK", (640, 360), (0, 80, 80, 0)), "JPEG"), ""),
    ("16-bit PNG", sixteen_bit_png, ""),
    ("WebP", lambda: encode(Image.new("RGB", (640, 360), "green"), "WEBP"), ""),
    ("empty prompt", lambda: GOOD, ""),
    ("control characters", lambda: GOOD, "The bottle\x00 turns\x07 slowly\x1b."),
    ("HTML in the prompt", lambda: GOOD, '"><script>alert(1)</script>'),
]


@pytest.fixture
def quiet(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        yield callbacks


@pytest.mark.parametrize("name, make, prompt, code", REFUSED, ids=[r[0] for r in REFUSED])
def test_refused_before_anything_is_stored_or_sent(sandbox, quiet, name, make, prompt, code):
    with pytest.raises(InvalidInput) as caught:
        create_video_request(make(), prompt=prompt)
    assert caught.value.code == code
    assert caught.value.message and caught.value.field in {"image", "prompt"}
    assert VideoRequest.objects.count() == 0 and Asset.objects.count() == 0
    assert quiet == [] and sandbox.calls == []


@pytest.mark.parametrize("name, make, prompt", FIXED, ids=[f[0] for f in FIXED])
def test_fixed_and_accepted(sandbox, quiet, name, make, prompt):
    data = make()
    job = create_video_request(data, prompt=prompt)
    with job.first_frame.file.open("rb") as fh:
        stored = fh.read()
    image = Image.open(io.BytesIO(stored))
    assert image.format in {"JPEG", "PNG"} and image.mode in {"RGB", "RGBA"}
    assert len(stored) <= 10_000_000
    assert min(image.size) >= 300
    assert "\x00" not in job.prompt and "\x07" not in job.prompt and "\x1b" not in job.prompt
    if "script" in prompt:
        assert job.prompt == prompt  # kept as text; escaping is the templates' job
    assert sandbox.calls == []


def test_wrong_extension_is_judged_by_content(sandbox, quiet, tmp_path):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("../../../etc/passwd.jpg", GOOD, content_type="image/jpeg")
    job = create_video_request(upload)
    name = job.first_frame.file.name
    assert name.endswith(".png") and ".." not in name and "passwd" not in name
    assert name.startswith("kling/") and job.first_frame.mime == "image/png"


def test_a_huge_product_image_is_refused_without_reading_it_whole(quiet, settings):
    # Issue 13, item 12: a 250 MB product image used 476 MiB before its size was checked.
    import os
    import tracemalloc

    from tests.shop.models import Product

    product = Product.objects.create(name="Huge", image="products/huge.png")
    path = os.path.join(settings.MEDIA_ROOT, "products", "huge.png")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(GOOD)
        fh.truncate(250 * 1000 * 1000)  # sparse: no disk space used
    try:
        tracemalloc.start()
        with pytest.raises(InvalidInput) as caught:
            create_video_request(source=product, field_name="image")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        os.unlink(path)
    assert caught.value.code == "image_too_big_bytes"
    assert peak < 20 * 2**20
    assert VideoRequest.objects.count() == 0


# -- bad answers from the provider: compressed, or larger than a clip may be ------------------


def _gateway(handler):
    import httpx

    from django_kling.conf import kling_settings
    from django_kling.providers.gateway import GatewayProvider

    options = {**kling_settings.provider_options("gateway"), "BASE_URL": "https://gw.test/v4/ai"}
    return GatewayProvider(options, transport=httpx.MockTransport(handler))


def test_a_compressed_answer_is_refused_and_identity_is_asked():
    import gzip
    import json

    import httpx

    from django_kling.exceptions import ProviderError

    asked = []

    def handler(request):
        asked.append(request.headers.get("accept-encoding"))
        body = gzip.compress(json.dumps({"status": "pending"}).encode() + b" " * 2**20)
        return httpx.Response(200, content=body, headers={"content-encoding": "gzip"})

    with pytest.raises(ProviderError) as caught:
        _gateway(handler).status({"gatewayJobId": "job_1"})
    assert caught.value.code == "provider_bad_response"
    assert "compressed (gzip)" in caught.value.message
    assert asked == ["identity"]


def test_a_base64_answer_over_the_cap_is_refused_while_it_is_read(settings):
    import httpx

    from django_kling.exceptions import ProviderError

    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "MAX_DOWNLOAD_BYTES": 2**20}
    sent = []

    def body():
        yield b'{"status":"completed","videos":[{"type":"base64","mediaType":"video/mp4","data":"'
        for _ in range(200):  # 200 MiB of base64 if it were all read
            sent.append(1)
            yield b"A" * 2**20
        yield b'"}]}'

    def handler(request):
        return httpx.Response(200, content=body())

    with pytest.raises(ProviderError) as caught:
        _gateway(handler).status({"gatewayJobId": "job_1"})
    assert caught.value.code == "download_too_large"
    assert len(sent) <= 4  # stopped at the cap (4/3 MiB of base64 and some room)
