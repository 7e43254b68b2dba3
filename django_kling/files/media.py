"""Clip probing and poster frames (PyAV).

``probe`` proves a downloaded file is the clip that was promised: an MP4 with an H.264 video
stream whose packets are all there (a truncated download fails here) and, when sound was asked
for, an audio stream. ``poster_jpeg`` cuts the first frame as a JPEG.
"""

from __future__ import annotations

import functools
import io
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import av
from django.utils.translation import gettext as _

from ..exceptions import MediaError

MP4_FORMAT = "mp4"

logger = logging.getLogger("django_kling.files.media")


def _unexpected_as_media_error(func: Callable) -> Callable:
    """Report any error we did not foresee (a PyAV API change, a codec bug) as ``MediaError``.

    Such an error says nothing about storage or the network, so retrying the step would only
    download and pay for bandwidth again; the job fails with ``media_check_failed`` instead and
    the traceback goes to the log for whoever maintains the deployment.
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except MediaError:
            raise
        except Exception as exc:
            logger.exception("checking a downloaded clip failed unexpectedly")
            raise MediaError(
                _("The clip could not be checked (%(error)s in the video library).")
                % {"error": type(exc).__name__},
                code="media_check_failed",
            ) from exc

    return wrapper


@dataclass(frozen=True)
class ClipInfo:
    width: int
    height: int
    duration: float
    fps: float
    video_codec: str
    has_audio: bool
    audio_codec: str
    size: int


@_unexpected_as_media_error
def probe(path: str | os.PathLike, *, require_audio: bool = False) -> ClipInfo:
    """Read the clip's streams and metadata, or raise ``MediaError`` saying what is wrong."""
    size = os.path.getsize(path)
    try:
        # No keyword options: PyAV 19 dropped ``metadata_errors`` (and metadata is not read here).
        container = av.open(os.fspath(path))
    except (av.FFmpegError, OSError, ValueError):
        raise MediaError(_("The downloaded file is not a readable video (truncated or another "
                           "format)."), code="media_unreadable") from None
    with container:
        if MP4_FORMAT not in container.format.name.split(","):
            raise MediaError(
                _("The downloaded file is a %(format)s file, not an MP4 video.")
                % {"format": container.format.name},
                code="media_not_mp4",
            )
        if not container.streams.video:
            raise MediaError(_("The downloaded file has no video stream."),
                             code="media_no_video")
        video = container.streams.video[0]
        audio = container.streams.audio[0] if container.streams.audio else None
        if require_audio and audio is None:
            raise MediaError(_("Sound was requested but the clip has no audio stream."),
                             code="media_no_audio")
        expected = video.frames
        packets = _count_video_packets(container, video.index)
        if packets == 0 or (expected and packets < expected):
            raise MediaError(
                _("The clip is truncated: %(got)s of %(expected)s video frames are present.")
                % {"got": packets, "expected": expected or "?"},
                code="media_truncated",
            )
        rate = video.average_rate or video.base_rate or Fraction(0)
        duration = _duration(container, video)
        return ClipInfo(
            width=video.codec_context.width,
            height=video.codec_context.height,
            duration=duration,
            fps=round(float(rate), 3),
            video_codec=video.codec_context.name,
            has_audio=audio is not None,
            audio_codec=audio.codec_context.name if audio is not None else "",
            size=size,
        )


@_unexpected_as_media_error
def poster_jpeg(path: str | os.PathLike, *, quality: int = 85) -> tuple[bytes, int, int]:
    """The clip's first frame as JPEG bytes, with its width and height."""
    try:
        with av.open(os.fspath(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for frame in container.decode(stream):
                image = frame.to_image()
                break
            else:
                raise MediaError(_("The clip has no decodable frame for a poster."),
                                 code="media_no_frame")
    except av.FFmpegError:
        raise MediaError(_("The clip could not be decoded for a poster."),
                         code="media_unreadable") from None
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=quality, optimize=True)
    return out.getvalue(), image.width, image.height


def _count_video_packets(container: av.container.InputContainer, index: int) -> int:
    count = 0
    try:
        for packet in container.demux(video=0):
            if packet.stream_index == index and packet.size:
                count += 1
    except (av.FFmpegError, OSError):
        return count
    return count


def _duration(container: av.container.InputContainer, video: av.video.stream.VideoStream) -> float:
    if video.duration is not None and video.time_base:
        return round(float(video.duration * video.time_base), 3)
    if container.duration is not None:
        return round(container.duration / av.time_base, 3)
    return 0.0
