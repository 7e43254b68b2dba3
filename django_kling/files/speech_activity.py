"""Where speech is in a clip's audio: PyAV decodes it, numpy measures it (a voice-activity
detector in a page of code).

Why this measure and not a VAD library: the well-kept ones are either a compiled extension with
no wheels for every Python we support (``webrtcvad``) or a neural model pulling in a runtime
hundreds of megabytes large (Silero through onnxruntime or torch). Our question is simpler than
theirs: the clip's words are known, we only need *where* in a few seconds of audio someone
speaks, against a background the model generated (room tone, music, ambience). So each 25 ms
frame (10 ms apart, 16 kHz mono) is scored on three classic cues:

- **short-time energy** above the clip's own noise floor (its quietest tenth): speech is louder
  than the ambience around it;
- **spectral flatness** (geometric over arithmetic mean of the power spectrum, 80 Hz-4 kHz):
  voiced speech is harmonic (a comb of peaks, flatness near 0) while hiss, rain or wind are
  flat (near 1), so loud noise is not taken for speech;
- **zero-crossing rate**: voiced sounds cross zero a few hundred times a second, hiss thousands
  of times; a frame crossing too often is not voiced.

A frame is *voiced* when all three agree. Hysteresis turns frames into segments: speech starts
at a voiced frame with strong energy and goes on while the energy stays above a lower
threshold; the pauses between syllables (up to ``HANGOVER``) are bridged, and bursts shorter
than ``MIN_SPEECH`` (a click, a knock) dropped. The thresholds are judgement, tuned on the
sandbox's synthetic voice and checked against noise and a pure tone in the tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO

import av
import numpy as np

RATE = 16_000
FRAME = 400  # 25 ms
HOP = 160  # 10 ms
#: Energy above the noise floor (dB) that starts speech, and that keeps it going.
START_DB = 12.0
KEEP_DB = 6.0
#: Energy below which nothing is speech (dBFS), whatever the floor.
SILENCE_DBFS = -50.0
#: Spectral flatness under which a frame is harmonic (voiced).
MAX_FLATNESS = 0.35
#: Zero crossings per second above which a frame is hiss, not voice.
MAX_CROSSINGS = 3000.0
HANGOVER = 0.30  # s of quiet bridged inside speech
MIN_SPEECH = 0.15  # s: shorter bursts are not speech


@dataclass(frozen=True)
class Speech:
    """Where speech was found: ``segments`` as ``(start, end)`` seconds, and the audio's length."""

    segments: list[tuple[float, float]]
    duration: float

    @property
    def found(self) -> bool:
        return bool(self.segments)


def decode_mono(source: str | IO[bytes], rate: int = RATE) -> np.ndarray:
    """The first audio track of ``source`` as mono float32 samples at ``rate`` (empty if none)."""
    chunks: list[np.ndarray] = []
    with av.open(source) as container:
        if not container.streams.audio:
            return np.zeros(0, dtype=np.float32)
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1))
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().reshape(-1))
    return np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)


def frame_features(samples: np.ndarray, rate: int = RATE) -> tuple[np.ndarray, ...]:
    """Per frame: energy (dBFS), spectral flatness (0-1) and zero crossings per second."""
    if len(samples) < FRAME:
        samples = np.pad(samples, (0, FRAME - len(samples)))
    count = 1 + (len(samples) - FRAME) // HOP
    index = np.arange(FRAME)[None, :] + HOP * np.arange(count)[:, None]
    frames = samples[index]  # (count, FRAME): 10 s is 1,000 x 400 floats, 1.6 MB
    energy = 10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-10)
    spectrum = np.abs(np.fft.rfft(frames * np.hanning(FRAME), axis=1)) ** 2 + 1e-12
    freqs = np.fft.rfftfreq(FRAME, 1 / rate)
    band = spectrum[:, (freqs >= 80) & (freqs <= 4000)]
    flatness = np.exp(np.mean(np.log(band), axis=1)) / np.mean(band, axis=1)
    signs = np.signbit(frames)
    crossings = np.count_nonzero(signs[:, 1:] != signs[:, :-1], axis=1) * rate / FRAME
    return energy, flatness, crossings


def find_speech(samples: np.ndarray, rate: int = RATE) -> Speech:
    """The speech segments in mono ``samples`` (see the module's note for the measure)."""
    duration = len(samples) / rate if rate else 0.0
    if len(samples) == 0:
        return Speech([], 0.0)
    energy, flatness, crossings = frame_features(samples, rate)
    floor = float(np.percentile(energy, 10))
    voiced = ((energy > max(floor + START_DB, SILENCE_DBFS)) & (flatness < MAX_FLATNESS)
              & (crossings < MAX_CROSSINGS))
    keep = energy > max(floor + KEEP_DB, SILENCE_DBFS)
    step = HOP / rate
    hangover = int(round(HANGOVER / step))
    segments: list[tuple[float, float]] = []
    start = None
    quiet = 0
    for i in range(len(energy)):
        if start is None:
            if voiced[i]:
                start, quiet = i, 0
            continue
        quiet = 0 if (voiced[i] or keep[i]) else quiet + 1
        if quiet > hangover:
            segments.append((start, i - quiet))
            start = None
    if start is not None:
        segments.append((start, len(energy) - 1 - quiet))
    found = [(round(a * step, 3), round(min(duration, b * step + FRAME / rate), 3))
             for a, b in segments]
    return Speech([(a, b) for a, b in found if b - a >= MIN_SPEECH], duration)


def speech_in(source: str | IO[bytes]) -> Speech:
    """Decode ``source``'s audio and find the speech in it."""
    return find_speech(decode_mono(source))
