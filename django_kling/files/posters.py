"""Poster frames an editor can choose from: a strip of small frames, and a poster cut at a time.

Frames are always cut from the original clip (never from a rendition: the poster must be as
sharp as the largest screen), then scaled down for the renditions' posters. Posters are WebP
(every current browser shows it, about a third smaller than JPEG at the same look); a JPEG can
be kept beside it for places that want one (feeds, e-mail).
"""

from __future__ import annotations

import base64
import io
import os

import av
from django.utils.translation import gettext as _
from PIL import Image

from ..exceptions import MediaError

WEBP_QUALITY = 82
JPEG_QUALITY = 85
STRIP_WIDTH = 160


def frame_at(path: str | os.PathLike, seconds: float) -> Image.Image:
    """The clip's frame shown at ``seconds`` (the last one when past the end)."""
    try:
        with av.open(os.fspath(path)) as container:
            stream = container.streams.video[0]
            seconds = max(0.0, float(seconds))
            if seconds > 0 and stream.time_base:
                # To the keyframe before the time, then decode forward to it.
                container.seek(int(seconds / stream.time_base), stream=stream, backward=True)
            image = None
            for frame in container.decode(stream):
                image = frame
                if frame.time is not None and frame.time + 1e-6 >= seconds:
                    break
    except (av.FFmpegError, OSError, IndexError):
        raise MediaError(_("The clip could not be decoded for a poster."),
                         code="media_unreadable") from None
    if image is None:
        raise MediaError(_("The clip has no decodable frame for a poster."),
                         code="media_no_frame")
    return image.to_image().convert("RGB")


def encode(image: Image.Image, fmt: str, size: tuple[int, int] | None = None) -> bytes:
    """``image`` (scaled to ``size`` when given) as WebP or JPEG bytes."""
    if size is not None and size != image.size:
        image = image.resize(size, Image.Resampling.LANCZOS)
    out = io.BytesIO()
    if fmt == "webp":
        image.save(out, "WEBP", quality=WEBP_QUALITY, method=4)
    else:
        image.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True, progressive=True)
    return out.getvalue()


def strip_times(duration: float, count: int) -> list[float]:
    """``count`` evenly spread times of a clip of ``duration`` seconds, the first at 0."""
    if count <= 1 or duration <= 0:
        return [0.0]
    step = duration / count
    return [round(i * step, 3) for i in range(count)]


def frame_strip(path: str | os.PathLike, duration: float, count: int) -> list[dict[str, object]]:
    """Small JPEG frames (``data:`` URLs) at ``strip_times``: what the editor picks from."""
    strip = []
    for seconds in strip_times(duration, count):
        image = frame_at(path, seconds)
        height = max(2, round(image.height * STRIP_WIDTH / image.width))
        data = base64.b64encode(encode(image, "jpeg", (STRIP_WIDTH, height))).decode("ascii")
        strip.append({"time": seconds, "src": f"data:image/jpeg;base64,{data}"})
    return strip
