"""A request's JSON body as bytes, its frame's base64 text spliced in instead of escaped.

``json.dumps`` looks at every character of every string it writes, to escape it: for an inline
frame (≈ 0.7 MB of base64) that was more CPU than the rest of the start call. Base64 (and a
``data:`` URI of it) holds no character JSON escapes, so the body is written with a short
marker where the frame goes and the text is put in place of the marker, as bytes: the same
body ``json.dumps`` gives, character for character.

Only text marked by the code that made it is spliced: ``Spliced`` (``ImageInput.base64_json``:
the base64 text as the ASCII bytes it was stored as, a ``data:`` URI's head as a part of its own,
so that a 0.7 MB frame is never decoded to a string, copied into a marked one and encoded back:
each of those was a fresh 0.7 MB buffer) or ``Verbatim`` text; and only after two scans in C
(``"`` and ``\\``: the characters that could end or bend the JSON string) and an ASCII check.
Anything else is escaped by ``json.dumps`` as usual. What is spliced is base64 made by
``b64encode``, or read back from the form stored beside the frame: control characters are not
looked for (a scan for them costs more than the splice saves); a damaged stored form holding
one makes a body the provider refuses, never another request.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

#: Shorter strings are simply escaped: splicing pays off for a frame, not for a word.
SPLICE_AFTER = 4096
#: The stand-in for a spliced text: no body text carries this process's random token.
_TOKEN = f"\x00kling-verbatim-{uuid.uuid4().hex}:"


class Verbatim(str):
    """Text JSON carries as it is (base64, a ``data:`` URI of it): no escaping needed."""

    __slots__ = ()

    @property
    def parts(self) -> tuple[bytes, ...]:
        return (self.encode("ascii"),)

    def safe(self) -> bool:
        """Whether the text can stand inside a JSON string unescaped."""
        return self.isascii() and '"' not in self and "\\" not in self


class Spliced:
    """A JSON string given as ASCII bytes in parts (a ``data:`` URI's head, then the base64
    text as stored): copied into the body part by part, never made a ``str``."""

    __slots__ = ("parts",)

    def __init__(self, *parts: bytes) -> None:
        self.parts = parts

    def __len__(self) -> int:
        return sum(len(part) for part in self.parts)

    def __str__(self) -> str:  # the text, for whatever needs it as a string
        return b"".join(self.parts).decode("utf-8")

    def safe(self) -> bool:
        """Whether the parts can stand inside a JSON string unescaped."""
        return all(part.isascii() and b'"' not in part and b"\\" not in part
                   for part in self.parts)


def dumps(body: Any) -> bytes:
    """``json.dumps(body).encode()``, with long ``Verbatim`` strings and ``Spliced`` texts
    copied, not escaped."""
    texts: list[Verbatim | Spliced] = []
    marked = _marked(body, texts)
    if not texts:  # (a short or unsafe ``Spliced`` is its text in ``marked``)
        return json.dumps(marked).encode()
    rest = json.dumps(marked)
    parts: list[bytes] = []
    for number, text in enumerate(texts):
        before, rest = rest.split(json.dumps(f"{_TOKEN}{number}"), 1)
        parts += [before.encode(), b'"', *text.parts, b'"']
    parts.append(rest.encode())
    return b"".join(parts)


def _marked(value: Any, texts: list[Verbatim | Spliced]) -> Any:
    """``value`` with each long, safe ``Verbatim`` or ``Spliced`` text replaced by its marker
    (a short or unsafe one by its text, escaped as usual)."""
    if isinstance(value, (Verbatim, Spliced)):
        if len(value) >= SPLICE_AFTER and value.safe():
            texts.append(value)
            return f"{_TOKEN}{len(texts) - 1}"
        return str(value)
    if isinstance(value, dict):
        return {key: _marked(item, texts) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_marked(item, texts) for item in value]
    return value
