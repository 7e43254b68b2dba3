"""Real MP4 clips for the sandbox, made with PyAV (no Django; numpy only for a voice).

The clip is what a client of the real model has to cope with: H.264 (yuv420p) at exactly 30 fps
for exactly the requested seconds, in one of Kling's output sizes, with an AAC track only when
sound was asked for. The picture moves from the first frame toward the last one (cross-fade plus a
slow zoom and pan), so poster frames and players show something recognisable.
"""

from __future__ import annotations

import hashlib
import io
import math
import struct
import threading
from collections import OrderedDict
from collections.abc import Callable
from fractions import Fraction

import av
from PIL import Image, ImageOps

from . import voice

FPS = 30
SAMPLE_RATE = 44100
AUDIO_CHUNK = 1024  # AAC's frame size: whole frames keep the encoder from re-buffering

# Kling's output sizes: pro is the 1080p class, std the 720p class.
SIZES: dict[str, dict[str, tuple[int, int]]] = {
    "pro": {"16:9": (1920, 1080), "9:16": (1080, 1920), "1:1": (1080, 1080)},
    "std": {"16:9": (1280, 720), "9:16": (720, 1280), "1:1": (720, 720)},
}
ASPECTS: dict[str, float] = {"16:9": 16 / 9, "9:16": 9 / 16, "1:1": 1.0}

# How far the camera travels over the clip: enough to see motion, little enough to keep the
# subject in frame.
ZOOM = 0.08
PAN = 0.4  # share of the zoom margin used for a sideways drift
#: How many different camera moves ("takes") the sandbox makes of the same inputs: variants of
#: one request (at most four) are four different clips, and repeated jobs still hit the cache.
TAKES = 4


def nearest_aspect(width: float, height: float) -> str:
    """The output aspect ("16:9", "9:16" or "1:1") closest to a width/height shape."""
    ratio = width / height
    # Compare on a log scale so 2:1 and 1:2 are equally far from 1:1.
    return min(ASPECTS, key=lambda name: abs(math.log(ratio / ASPECTS[name])))


def output_size(mode: str, aspect: str, scale: float = 1.0) -> tuple[int, int]:
    """Kling's frame size for a mode and aspect, scaled (dimensions kept even for yuv420p)."""
    width, height = SIZES[mode][aspect]
    if scale == 1.0:
        return width, height

    def even(value: int) -> int:
        return max(2, int(round(value * scale / 2)) * 2)

    return even(width), even(height)


def cover_fit(image: Image.Image, width: int, height: int) -> Image.Image:
    """Scale ``image`` to cover ``width`` x ``height`` and crop the overflow around the centre."""
    image = ImageOps.exif_transpose(image)
    return ImageOps.fit(image.convert("RGB"), (width, height), method=Image.Resampling.BICUBIC)


def without_audio(clip: bytes) -> bytes:
    """The same MP4 without its audio track: the video packets are copied, not re-encoded (a
    provider that dropped the sound it was asked for)."""
    out = io.BytesIO()
    with av.open(io.BytesIO(clip)) as source, av.open(out, "w", format="mp4") as target:
        video = source.streams.video[0]
        # PyAV 13+ names it add_stream_from_template; 12.x (the oldest we support) takes a
        # template= argument instead.
        copy = (target.add_stream_from_template(video)
                if hasattr(target, "add_stream_from_template")
                else target.add_stream(template=video))
        for packet in source.demux(video):
            if packet.dts is None:  # the demuxer's end-of-stream marker
                continue
            packet.stream = copy
            target.mux(packet)
    return out.getvalue()


def render_clip(
    first: Image.Image,
    last: Image.Image | None,
    *,
    width: int,
    height: int,
    duration: int,
    fps: int = FPS,
    audio: bool,
    take: int = 0,
    speech: str = "",
) -> bytes:
    """Encode a ``duration``-second MP4 going from ``first`` toward ``last`` (or zooming in).

    ``take`` (0 to ``TAKES - 1``) picks the camera move: drifting right or left, zooming in or
    out, so each take of the same inputs is a different clip.
    """
    if width % 2 or height % 2:
        raise ValueError("width and height must be even for yuv420p")
    frames = int(round(duration * fps))
    start = cover_fit(first, width, height)
    end = cover_fit(last, width, height) if last is not None else None

    out = io.BytesIO()
    with av.open(out, "w", format="mp4") as container:
        # Even a one-colour picture makes takes that differ, byte for byte.
        container.metadata["comment"] = f"django-kling sandbox, take {take + 1}"
        video = container.add_stream("libx264", rate=fps, options={"preset": "ultrafast"})
        video.width = width
        video.height = height
        video.pix_fmt = "yuv420p"
        sound = container.add_stream("aac", rate=SAMPLE_RATE, layout="mono") if audio else None

        for index in range(frames):
            progress = index / max(1, frames - 1)
            picture = start if end is None else Image.blend(start, end, progress)
            # Crop in PIL and scale in libswscale (with the yuv conversion in the same pass):
            # about four times cheaper than PIL's resize at 1080p.
            box = _camera_box(width, height, progress, take)
            frame = av.VideoFrame.from_image(picture.crop(box))
            frame = frame.reformat(width=width, height=height, format="yuv420p",
                                   interpolation="BILINEAR")
            frame.pts = index
            frame.time_base = Fraction(1, fps)
            container.mux(video.encode(frame))
        container.mux(video.encode(None))

        if sound is not None:
            total = int(round(duration * SAMPLE_RATE))
            chunks = (voice.pcm_chunks(voice.samples(speech, duration, SAMPLE_RATE),
                                       AUDIO_CHUNK) if speech else _chirp(total))
            for pts, chunk in chunks:
                frame = av.AudioFrame(format="s16", layout="mono", samples=len(chunk) // 2)
                frame.planes[0].update(chunk)
                frame.sample_rate = SAMPLE_RATE
                frame.pts = pts
                frame.time_base = Fraction(1, SAMPLE_RATE)
                container.mux(sound.encode(frame))
            container.mux(sound.encode(None))
    return out.getvalue()


def _camera_box(width: int, height: int, progress: float,
                take: int = 0) -> tuple[int, int, int, int]:
    drift = -1 if take % 2 else 1  # odd takes drift left
    zoom = 1.0 + ZOOM * (1 - progress if take // 2 % 2 else progress)  # takes 2, 3 zoom out
    crop_w = min(width, max(2, round(width / zoom)))
    crop_h = min(height, max(2, round(height / zoom)))
    margin_x = (width - crop_w) / 2
    left = round(margin_x + drift * margin_x * PAN * progress)
    top = round((height - crop_h) / 2)
    return left, top, left + crop_w, top + crop_h


def _chirp(total: int) -> list[tuple[int, bytes]]:
    """A gentle rising tone (220 to 440 Hz) with fades, as s16 mono chunks of AUDIO_CHUNK."""
    chunks = []
    phase = 0.0
    fade = SAMPLE_RATE // 20  # 50 ms ramps avoid clicks at both ends
    amplitude = 0.25 * 32767
    for start in range(0, total, AUDIO_CHUNK):
        count = min(AUDIO_CHUNK, total - start)
        samples = []
        for offset in range(count):
            index = start + offset
            frequency = 220.0 + 220.0 * index / total
            phase += 2 * math.pi * frequency / SAMPLE_RATE
            envelope = min(1.0, index / fade, (total - index) / fade)
            samples.append(int(amplitude * envelope * math.sin(phase)))
        chunks.append((start, struct.pack(f"<{count}h", *samples)))
    return chunks


def render_key(*parts: bytes | str | int | float | bool | None) -> str:
    """A stable digest of a render's inputs (image bytes and parameters)."""
    digest = hashlib.sha256()
    for part in parts:
        data = part if isinstance(part, bytes) else repr(part).encode()
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()


class RenderCache:
    """A small LRU of finished clips, so identical jobs render once.

    A per-key lock makes a second identical request wait for the first render instead of
    starting its own (rendering 10 s of 1080p costs seconds of CPU).
    """

    def __init__(self, max_items: int = 16) -> None:
        self.max_items = max_items
        self._clips: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}
        self.renders = 0  # how many times ``make`` actually ran (tests read it)

    def get_or_render(self, key: str, make: Callable[[], bytes]) -> bytes:
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                if key in self._clips:
                    self._clips.move_to_end(key)
                    return self._clips[key]
            clip = make()
            with self._lock:
                self.renders += 1
                self._clips[key] = clip
                while len(self._clips) > self.max_items:
                    old, _ = self._clips.popitem(last=False)
                    self._key_locks.pop(old, None)
            return clip

    def clear(self) -> None:
        with self._lock:
            self._clips.clear()


# Shared by every sandbox in the process: test suites start several and render the same frames.
RENDER_CACHE = RenderCache()
