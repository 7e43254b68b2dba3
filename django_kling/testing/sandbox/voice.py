"""The sandbox's voice: speech-like audio for a prompt's spoken line, at a known time.

Kling v2.6 speaks the line the prompt quotes (``<speaker> says in English: "<line>"``, the
shape ``django_kling.options.speech`` composes). The sandbox does the same, crudely but with the
properties a voice-activity detector looks for, so caption timing can be tested against a
known answer: the speech starts at ``SPEECH_START`` seconds and lasts about ``SYLLABLE``
seconds per syllable (one per Chinese character, one per three letters of English), squeezed
to end ``TAIL`` seconds before the clip does. Each syllable is a voiced sound: a harmonic
series on a gliding pitch (110-170 Hz) shaped by the formants of a vowel, with a rise and fall
of loudness (about four syllables a second, like speech), a short noisy consonant in front and
pauses between words. Around it, quiet room noise (about -50 dBFS), never digital silence.
No Django here; numpy renders a 10 s track in milliseconds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

#: Where the sandbox's speech begins (seconds into the clip) and how long before the end it
#: must be over.
SPEECH_START = 1.0
TAIL = 0.5
SYLLABLE = 0.24  # s per syllable, vowel and consonant
WORD_GAP = 0.12  # s of pause after a word (or a Chinese character before punctuation)
SENTENCE_GAP = 0.35
AMBIENCE = 0.003  # room noise amplitude (about -50 dBFS)
PEAK = 0.3

#: The composed spoken line at the end of a prompt (see ``options/speech.py``).
_SPOKEN = re.compile(r'(?P<speaker>[^"]*?) says in (?P<language>English|Chinese): '
                     r'"(?P<line>[^"]*)"\s*$')
# (F1, F2) in Hz of the vowels a, e, i, o, u.
_VOWELS = ((730, 1090), (530, 1840), (270, 2290), (570, 840), (300, 870))


@dataclass(frozen=True)
class SpokenLine:
    speaker: str
    language: str  # "English" or "Chinese"
    line: str


def spoken_line(prompt: str) -> SpokenLine | None:
    """The line a prompt asks the clip to say, if any."""
    match = _SPOKEN.search(prompt or "")
    if match is None or not match["line"].strip():
        return None
    speaker = re.split(r"[.!?;:。！？]\s*", match["speaker"])[-1].strip()
    return SpokenLine(speaker, match["language"], match["line"])


def _syllables(line: str) -> list[float]:
    """The pause after each syllable (0 inside a word)."""
    pauses: list[float] = []
    for token in re.findall(r"[\u3400-\u9fff]|[A-Za-z0-9']+|[.!?。！？,，;；]", line):
        if re.match(r"[.!?。！？,，;；]", token):
            if pauses:
                pauses[-1] = SENTENCE_GAP
            continue
        if re.match(r"[\u3400-\u9fff]", token):
            pauses.append(0.04)
        else:
            count = max(1, round(len(token) / 3))
            pauses.extend([0.0] * (count - 1) + [WORD_GAP])
    return pauses or [WORD_GAP]


def speech_span(line: str, duration: float) -> tuple[float, float]:
    """Where the sandbox speaks ``line`` in a clip of ``duration`` seconds."""
    pauses = _syllables(line)
    length = len(pauses) * SYLLABLE + sum(pauses[:-1])
    end = min(SPEECH_START + length, max(SPEECH_START + 0.5, duration - TAIL))
    return SPEECH_START, end


def _formant_gain(frequency: np.ndarray, formants: tuple[int, int]) -> np.ndarray:
    gain = np.zeros_like(frequency)
    for centre, bandwidth in ((formants[0], 90.0), (formants[1], 120.0), (2500.0, 200.0)):
        gain += 1.0 / (1.0 + ((frequency - centre) / bandwidth) ** 2)
    return gain / (1.0 + frequency / 1000.0)  # the voice's falling spectrum


def samples(line: str, duration: float, rate: int, *, seed: int = 0) -> np.ndarray:
    """``duration`` seconds of float audio: room noise, and ``line`` spoken from SPEECH_START."""
    rng = np.random.default_rng(seed)
    total = int(round(duration * rate))
    noise = rng.standard_normal(total)
    out = AMBIENCE * np.convolve(noise, np.ones(8) / 8, mode="same") * 2.5
    pauses = _syllables(line)
    start, end = speech_span(line, duration)
    natural = len(pauses) * SYLLABLE + sum(pauses[:-1])
    scale = (end - start) / natural if natural else 1.0
    at = start
    for index, pause in enumerate(pauses):
        length = int(SYLLABLE * scale * rate)
        t = np.arange(length) / rate
        f0 = 140 + 30 * np.sin(2 * np.pi * (index / 7 + t / (SYLLABLE * scale) / 2))
        phase = 2 * np.pi * np.cumsum(f0) / rate
        formants = _VOWELS[(index * 3 + len(line)) % len(_VOWELS)]
        harmonics = np.arange(1, 30)
        gains = _formant_gain(harmonics * float(f0.mean()), formants)
        voice = np.sum(gains[:, None] * np.sin(harmonics[:, None] * phase[None, :]), axis=0)
        envelope = np.sin(np.pi * np.clip(t / (SYLLABLE * scale), 0, 1)) ** 0.7
        consonant = rng.standard_normal(length) * np.exp(-t / 0.02) * 0.15
        syllable = voice / (np.abs(voice).max() + 1e-9) * envelope + consonant
        first = int(at * rate)
        piece = syllable[: max(0, min(length, total - first))]
        out[first:first + len(piece)] += PEAK * piece
        at += SYLLABLE * scale + pause * scale
    return out


def pcm_chunks(values: np.ndarray, chunk: int) -> list[tuple[int, bytes]]:
    """Float samples as (first sample, s16 mono bytes) chunks of ``chunk`` samples."""
    pcm = np.clip(values * 32767, -32768, 32767).astype("<i2")
    return [(begin, pcm[begin:begin + chunk].tobytes()) for begin in range(0, len(pcm), chunk)]
