"""Caption cues for a spoken line, timed to the speech found in the clip.

The words are known (the line the request asked the model to say); only their timing is
measured (``speech_activity``). The line is cut into cues of at most two lines
(``webvtt.cue_texts``) and the cues are laid over the speech segments end to end, each taking
a share of the speech time proportional to its length on screen: a model speaks at a roughly
even pace, and a pause in the audio is skipped rather than given a cue of its own. Where no
speech is found the cues share the whole clip and the track is *untimed*.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO

from . import webvtt
from .speech_activity import Speech, speech_in

#: ``<track srclang>`` (BCP 47) and the label browsers show, per speech language.
TRACK_LANGUAGES = {"en": ("en", "English"), "zh": ("zh-Hans", "中文（简体）")}


@dataclass(frozen=True)
class Captions:
    cues: list[webvtt.Cue]
    timed: bool  # False: no speech was found, the cues span the whole clip
    speech: list[tuple[float, float]]

    @property
    def text(self) -> str:
        return webvtt.render(self.cues)


def _at(position: float, segments: list[tuple[float, float]], *, start: bool) -> float:
    """The clip time ``position`` seconds into the speech (gaps between segments skipped).
    A position on a boundary is the next segment's start for a cue's start, the previous
    segment's end for a cue's end."""
    passed = 0.0
    for index, (begin, end) in enumerate(segments):
        length = end - begin
        last = index == len(segments) - 1
        if position < passed + length - 1e-9 or (not start and position <= passed + length
                                                   + 1e-9) or last:
            return min(end, begin + max(0.0, position - passed))
        passed += length
    return segments[-1][1]


def spread(texts: list[str], segments: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Start and end of each cue text over ``segments``, in proportion to its width."""
    weights = [max(1, webvtt.width(text.replace("\n", " "))) for text in texts]
    total_speech = sum(end - begin for begin, end in segments)
    total_weight = sum(weights)
    times = []
    done = 0
    for weight in weights:
        first = total_speech * done / total_weight
        done += weight
        last = total_speech * done / total_weight
        times.append((_at(first, segments, start=True), _at(last, segments, start=False)))
    return times


def captions_for(line: str, speaker: str, speech: Speech, duration: float) -> Captions:
    """The cues of ``line`` (spoken by ``speaker``) over the ``speech`` found in a clip."""
    texts = webvtt.cue_texts(line)
    duration = duration or speech.duration
    segments = [(a, min(b, duration)) for a, b in speech.segments if a < duration]
    timed = bool(segments)
    if not timed:
        segments = [(0.0, duration)]
    cues = [webvtt.Cue(round(start, 3), round(max(end, start + 0.001), 3),
                       webvtt.voiced(text, speaker))
            for text, (start, end) in zip(texts, spread(texts, segments), strict=True)]
    return Captions(cues, timed, segments if timed else [])


def caption_clip(source: str | IO[bytes], line: str, speaker: str,
                 duration: float) -> Captions:
    """Decode ``source`` (a path or an open MP4), find its speech and time ``line`` to it."""
    return captions_for(line, speaker, speech_in(source), duration)
