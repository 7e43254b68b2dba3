"""The sandbox's clip renderer: real H.264/AAC MP4s of the right size, rate and length."""

from __future__ import annotations

import io

import av
import pytest
from PIL import Image, ImageStat

from django_kling.testing.sandbox.render import (
    RenderCache,
    cover_fit,
    nearest_aspect,
    output_size,
    render_clip,
    render_key,
)

RED = (220, 30, 30)
BLUE = (30, 30, 220)


def solid(color, size=(640, 360)) -> Image.Image:
    return Image.new("RGB", size, color)


def frames_of(data: bytes) -> list[Image.Image]:
    with av.open(io.BytesIO(data)) as container:
        return [frame.to_image() for frame in container.decode(video=0)]


def mean(image: Image.Image) -> tuple[float, ...]:
    return tuple(ImageStat.Stat(image).mean)


@pytest.mark.parametrize("audio", [True, False])
def test_clip_is_h264_30fps_exact_length_with_audio_only_when_asked(audio):
    data = render_clip(solid(RED), solid(BLUE), width=192, height=108, duration=5, audio=audio)
    with av.open(io.BytesIO(data)) as container:
        assert "mp4" in container.format.name
        video = container.streams.video[0]
        assert video.codec_context.name == "h264"
        assert video.format.name == "yuv420p"
        assert (video.width, video.height) == (192, 108)
        assert video.average_rate == 30
        assert video.frames == 150
        assert container.duration / 1e6 == pytest.approx(5.0, abs=0.1)
        if audio:
            (sound,) = container.streams.audio
            assert sound.codec_context.name == "aac"
            assert sound.rate == 44100
            assert sound.layout.name == "mono"
            # The tone is real sound, not silence.
            packets = [p for p in container.demux(sound) if p.size]
            assert sum(p.size for p in packets) > 1000
        else:
            assert not container.streams.audio


def test_ten_seconds_is_300_frames():
    data = render_clip(solid(RED), None, width=96, height=96, duration=10, audio=False)
    with av.open(io.BytesIO(data)) as container:
        assert container.streams.video[0].frames == 300
        assert container.duration / 1e6 == pytest.approx(10.0, abs=0.1)


def test_moves_from_first_frame_to_last_frame():
    frames = frames_of(render_clip(solid(RED), solid(BLUE), width=128, height=72, duration=5,
                                   audio=False))
    start, middle, end = mean(frames[0]), mean(frames[75]), mean(frames[-1])
    assert start[0] > 180 and start[2] < 70
    assert end[2] > 180 and end[0] < 70
    assert 70 < middle[0] < 180 and 70 < middle[2] < 180


def test_without_last_frame_zooms_into_the_first():
    # A white border around a black centre: zooming in pushes the border out of frame.
    image = Image.new("RGB", (640, 360), (255, 255, 255))
    image.paste((0, 0, 0), (40, 40, 600, 320))
    frames = frames_of(render_clip(image, None, width=320, height=180, duration=5, audio=False))
    assert mean(frames[-1])[0] < mean(frames[0])[0] - 5


def test_cover_fit_crops_the_centre():
    # Left third red, middle third green, right third blue: a square crop keeps the middle.
    image = Image.new("RGB", (900, 300), RED)
    image.paste((30, 220, 30), (300, 0, 600, 300))
    image.paste(BLUE, (600, 0, 900, 300))
    fitted = cover_fit(image, 100, 100)
    assert fitted.size == (100, 100)
    assert fitted.getpixel((50, 50))[1] > 180
    assert fitted.getpixel((2, 50))[1] > 150 and fitted.getpixel((97, 50))[1] > 150


@pytest.mark.parametrize(("mode", "aspect", "size"), [
    ("pro", "16:9", (1920, 1080)), ("pro", "9:16", (1080, 1920)), ("pro", "1:1", (1080, 1080)),
    ("std", "16:9", (1280, 720)), ("std", "9:16", (720, 1280)), ("std", "1:1", (720, 720)),
])
def test_output_sizes(mode, aspect, size):
    assert output_size(mode, aspect) == size


def test_output_size_scaled_stays_even():
    assert output_size("pro", "16:9", 0.25) == (480, 270)
    assert output_size("std", "1:1", 0.1) == (72, 72)
    width, height = output_size("pro", "16:9", 0.13)
    assert width % 2 == 0 and height % 2 == 0


@pytest.mark.parametrize(("shape", "aspect"), [
    ((640, 360), "16:9"), ((1000, 400), "16:9"), ((360, 640), "9:16"), ((500, 500), "1:1"),
    ((600, 500), "1:1"), ((500, 800), "9:16"),
])
def test_nearest_aspect(shape, aspect):
    assert nearest_aspect(*shape) == aspect


def test_odd_sizes_are_refused():
    with pytest.raises(ValueError):
        render_clip(solid(RED), None, width=101, height=100, duration=5, audio=False)


def test_cache_renders_once_per_key():
    cache = RenderCache(max_items=2)
    made = []

    def make():
        made.append(1)
        return b"clip"

    key = render_key(b"image", None, 192, 108, 5, True)
    assert cache.get_or_render(key, make) == b"clip"
    assert cache.get_or_render(key, make) == b"clip"
    assert len(made) == 1
    assert render_key(b"image", None, 192, 108, 5, False) != key
    # Least recently used entries go first.
    cache.get_or_render("b", make)
    cache.get_or_render("c", make)
    cache.get_or_render(key, make)
    assert len(made) == 4
