"""Probing real MP4s and cutting posters."""

import io

import pytest
from PIL import Image

from django_kling.exceptions import MediaError
from django_kling.files import media
from django_kling.testing.sandbox.render import render_clip


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clips")
    first = Image.new("RGB", (320, 180), (200, 30, 30))
    last = Image.new("RGB", (320, 180), (30, 30, 200))
    paths = {}
    for name, audio in (("sound", True), ("silent", False)):
        path = folder / f"{name}.mp4"
        path.write_bytes(render_clip(first, last, width=320, height=180, duration=5, audio=audio))
        paths[name] = path
    data = paths["sound"].read_bytes()
    paths["truncated"] = folder / "truncated.mp4"
    paths["truncated"].write_bytes(data[: len(data) // 2])
    paths["html"] = folder / "page.mp4"
    paths["html"].write_bytes(b"<!doctype html><title>Not found</title>" * 50)
    paths["png"] = folder / "image.mp4"
    buf = io.BytesIO()
    first.save(buf, "PNG")
    paths["png"].write_bytes(buf.getvalue())
    return paths


def test_probe_reads_the_streams(clips):
    info = media.probe(clips["sound"], require_audio=True)
    assert (info.width, info.height, info.fps) == (320, 180, 30.0)
    assert info.duration == pytest.approx(5.0, abs=0.1)
    assert (info.video_codec, info.has_audio, info.audio_codec) == ("h264", True, "aac")
    assert info.size == clips["sound"].stat().st_size


def test_silent_clip(clips):
    info = media.probe(clips["silent"])
    assert info.has_audio is False and info.audio_codec == ""


def test_missing_audio_is_refused_when_sound_was_asked(clips):
    with pytest.raises(MediaError) as caught:
        media.probe(clips["silent"], require_audio=True)
    assert caught.value.code == "media_no_audio"


@pytest.mark.parametrize("name, codes", [
    ("truncated", {"media_unreadable", "media_truncated"}),
    ("html", {"media_unreadable"}),
    ("png", {"media_not_mp4", "media_unreadable"}),
])
def test_broken_files_are_refused(clips, name, codes):
    with pytest.raises(MediaError) as caught:
        media.probe(clips[name])
    assert caught.value.code in codes


def test_poster_is_the_first_frame_as_jpeg(clips):
    data, width, height = media.poster_jpeg(clips["sound"])
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG" and image.size == (width, height) == (320, 180)
    red, green, blue = image.convert("RGB").getpixel((160, 90))
    assert red > 150 and blue < 90  # the first frame is the red one
