"""Smaller copies of a clip for small screens: H.264 + AAC MP4s, faststart, made with PyAV.

The picture is scaled so that its short side is the rendition's ``height`` (480p of a 9:16
clip is 480 x 854), never up: ``plan`` leaves out every rendition the clip is not larger than.
x264 encodes at constant quality (``crf``) with a ceiling (``max_bitrate``), so a calm clip
weighs less than the ceiling and a busy one never more. The frames keep the source's
timestamps, so the copy lasts exactly as long as the original.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import av

from .faststart import FASTSTART_OPTIONS

DEFAULT_CRF = 23


@dataclass(frozen=True)
class Encoded:
    width: int
    height: int
    duration: float
    size: int
    bitrate: int
    has_audio: bool


def scaled_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """``width`` x ``height`` scaled so that the short side is ``short_side`` (both even)."""
    scale = short_side / min(width, height)

    def even(value: float) -> int:
        return max(2, int(round(value / 2)) * 2)

    return even(width * scale), even(height * scale)


def plan(width: int, height: int, renditions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The renditions a ``width`` x ``height`` clip gets: those smaller than it (no upscaling)."""
    return [spec for spec in renditions if int(spec["height"]) < min(width, height)]


def encode(source: str | os.PathLike, target: str | os.PathLike, spec: dict[str, Any], *,
           preset: str = "veryfast", threads: int = 1) -> Encoded:
    """Write ``spec``'s rendition of ``source`` to ``target`` (an MP4, index first)."""
    with av.open(os.fspath(source)) as src, \
            av.open(os.fspath(target), "w", format="mp4", options=FASTSTART_OPTIONS) as out:
        video_in = src.streams.video[0]
        audio_in = src.streams.audio[0] if src.streams.audio else None
        video_in.thread_type = "AUTO"
        width, height = scaled_size(video_in.codec_context.width,
                                    video_in.codec_context.height, int(spec["height"]))
        max_bitrate = int(spec["max_bitrate"])
        video_out = out.add_stream("libx264", rate=video_in.average_rate or video_in.base_rate,
                                   options={"preset": preset,
                                            "crf": str(spec.get("crf", DEFAULT_CRF)),
                                            "maxrate": str(max_bitrate),
                                            "bufsize": str(max_bitrate * 2),
                                            "threads": str(threads)})
        video_out.width, video_out.height, video_out.pix_fmt = width, height, "yuv420p"
        # The source's clock: each frame keeps its own timestamp, so the duration is the same.
        video_out.codec_context.time_base = video_in.time_base
        audio_out = None
        if audio_in is not None:
            audio_out = out.add_stream("aac", rate=audio_in.codec_context.sample_rate)
            audio_out.bit_rate = int(spec.get("audio_bitrate", 128_000))
            audio_out.layout = audio_in.codec_context.layout
        wanted = [video_in] + ([audio_in] if audio_in is not None else [])
        for packet in src.demux(wanted):
            for frame in packet.decode():
                if packet.stream is video_in:
                    scaled = frame.reformat(width=width, height=height, format="yuv420p",
                                            interpolation="BICUBIC")
                    scaled.pts, scaled.time_base = frame.pts, frame.time_base
                    out.mux(video_out.encode(scaled))
                else:
                    frame.pts = None  # the encoder counts samples itself
                    out.mux(audio_out.encode(frame))
        out.mux(video_out.encode(None))
        if audio_out is not None:
            out.mux(audio_out.encode(None))
    return _measure(target, width, height, audio_in is not None)


def _measure(path: str | os.PathLike, width: int, height: int, has_audio: bool) -> Encoded:
    size = os.path.getsize(path)
    with av.open(os.fspath(path)) as container:
        stream = container.streams.video[0]
        if stream.duration is not None and stream.time_base:
            duration = float(stream.duration * stream.time_base)
        else:
            duration = (container.duration or 0) / av.time_base
    bitrate = int(size * 8 / duration) if duration else 0
    return Encoded(width=width, height=height, duration=round(duration, 3), size=size,
                   bitrate=bitrate, has_audio=has_audio)
