"""WebVTT caption files: cutting a line into cues, writing the file, reading one back strictly.

The W3C WebVTT format: the file starts with ``WEBVTT``, then blank-line separated cues, each an
optional identifier line, a ``hh:mm:ss.ttt --> hh:mm:ss.ttt`` timing line and one or more lines
of text; ``<v Name>`` marks the speaker. Cues hold at most two lines of about 42 characters
(the common broadcast and web guideline); a Chinese character takes the room of two Latin ones
(it is drawn about twice as wide), so a Chinese line holds about 21.

``parse`` is what editors' corrections go through: it accepts the subset we write (plus NOTE
blocks and cue settings) and refuses, with a message an editor can act on, anything a browser
would drop silently: a missing header, a bad timestamp, a cue that ends before it starts or
outside the clip, cues out of order, a cue without text.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from django.utils.translation import gettext as _

#: Columns per caption line (a wide character counts two) and lines per cue.
LINE_WIDTH = 42
MAX_LINES = 2
#: Time rounding of cue boundaries: WebVTT timestamps have milliseconds.
_TIMESTAMP = re.compile(r"^(?:(\d{2,}):)?([0-5]\d):([0-5]\d)\.(\d{3})$")
_SENTENCE_END = tuple(".!?。！？…")


class WebVTTError(ValueError):
    """A WebVTT text that cannot be stored; ``str()`` is a message for the editor."""


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    text: str  # may hold markup such as ``<v Speaker>``; lines separated by "\n"


def width(text: str) -> int:
    """Columns ``text`` takes on screen: wide (CJK) characters count two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _tokens(text: str) -> list[str]:
    # Words keep their following space; each wide character is a token of its own (Chinese
    # is written without spaces and may break between any two characters).
    tokens: list[str] = []
    for word in re.findall(r"\S+\s*", " ".join(text.split())):
        if any(unicodedata.east_asian_width(ch) in "WF" for ch in word):
            tokens.extend(re.findall(r"[\u0000-\u10ff]+\s*|.\s*", word))
        else:
            tokens.append(word)
    return tokens


def wrap(text: str, line_width: int = LINE_WIDTH) -> list[str]:
    """``text`` broken into lines of at most ``line_width`` columns (longer words alone)."""
    lines: list[str] = []
    current = ""
    for token in _tokens(text):
        if current and width((current + token).rstrip()) > line_width:
            lines.append(current.rstrip())
            current = ""
        current += token
    if current.strip():
        lines.append(current.rstrip())
    return lines


def cue_texts(text: str) -> list[str]:
    """``text`` cut into cue texts of at most two lines; each sentence starts on a new line,
    and a sentence that ends on a cue's first line ends the cue, so a new sentence starts on a
    fresh caption."""
    sentences = re.findall(r".+?(?:[.!?…]+(?=\s|$)|[。！？]+|$)", " ".join(text.split()))
    lines = [line for sentence in sentences for line in wrap(sentence.strip())]
    cues: list[list[str]] = []
    for line in lines:
        if cues and len(cues[-1]) < MAX_LINES and not cues[-1][-1].endswith(_SENTENCE_END):
            cues[-1].append(line)
        else:
            cues.append([line])
    return ["\n".join(cue) for cue in cues]


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def timestamp(seconds: float) -> str:
    millis = max(0, int(round(seconds * 1000)))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


def voiced(text: str, speaker: str = "") -> str:
    """Cue text with the speaker as a WebVTT voice span (``<v The presenter>...``)."""
    body = escape(text)
    name = " ".join(speaker.replace(">", "").replace("<", "").split())
    return f"<v {escape(name)}>{body}" if name else body


def render(cues: list[Cue]) -> str:
    """The WebVTT file for ``cues`` (numbered, in order)."""
    blocks = ["WEBVTT"]
    for number, cue in enumerate(cues, 1):
        blocks.append(f"{number}\n{timestamp(cue.start)} --> {timestamp(cue.end)}\n{cue.text}")
    return "\n\n".join(blocks) + "\n"


def _seconds(value: str, where: int) -> float:
    match = _TIMESTAMP.match(value)
    if not match:
        raise WebVTTError(_("Cue %(number)d: %(value)s is not a WebVTT time (write it as "
                            "00:00:01.500).") % {"number": where, "value": value})
    hours, minutes, secs, millis = match.groups()
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(secs) + int(millis) / 1000


def parse(text: str, *, duration: float | None = None) -> list[Cue]:
    """The cues of a WebVTT text, checked for what a browser needs to show them.

    Raises ``WebVTTError``: no ``WEBVTT`` header, a malformed time line, a cue ending before it
    starts or after ``duration`` (the clip's length; 50 ms of slack for rounding), cues out of
    order, a cue without text, or no cue at all.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff")
    blocks = [b for b in re.split(r"\n[ \t]*\n", text.strip("\n")) if b.strip()]
    header = blocks[0].split("\n")[0] if blocks else ""
    if not (header == "WEBVTT" or header.startswith(("WEBVTT ", "WEBVTT\t"))):
        raise WebVTTError(_('A WebVTT file starts with the line "WEBVTT".'))
    cues: list[Cue] = []
    for block in blocks[1:]:
        lines = block.split("\n")
        if lines[0].startswith(("NOTE", "STYLE", "REGION")):
            continue
        if "-->" not in lines[0]:
            lines = lines[1:]  # the cue's identifier
        number = len(cues) + 1
        if not lines or "-->" not in lines[0]:
            raise WebVTTError(_("Cue %(number)d has no time line (00:00:01.000 --> "
                                "00:00:03.000).") % {"number": number})
        start_text, _arrow, rest = lines[0].partition("-->")
        start = _seconds(start_text.strip(), number)
        end = _seconds((rest.split() or [""])[0], number)
        body = "\n".join(lines[1:]).strip()
        if not re.sub(r"<[^>]*>", "", body).strip():
            raise WebVTTError(_("Cue %(number)d has no text.") % {"number": number})
        if end <= start:
            raise WebVTTError(_("Cue %(number)d ends before it starts.") % {"number": number})
        if duration is not None and end > duration + 0.05:
            raise WebVTTError(_("Cue %(number)d ends at %(end).2f s, after the clip's end "
                                "(%(duration).2f s).")
                              % {"number": number, "end": end, "duration": duration})
        if cues and start < cues[-1].start:
            raise WebVTTError(_("Cue %(number)d starts before the cue above it: keep the cues "
                                "in order of time.") % {"number": number})
        cues.append(Cue(start, end, body))
    if not cues:
        raise WebVTTError(_("The captions have no cue."))
    return cues


def plain_text(cues: list[Cue]) -> str:
    """The words of ``cues`` without markup, one cue after the other."""
    words = (re.sub(r"<[^>]*>", "", cue.text).replace("\n", " ") for cue in cues)
    text = " ".join(words)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
