"""A request's JSON body as bytes, its frame's base64 text spliced in instead of escaped.

``json.dumps`` looks at every character of every string it writes, to escape it: for an inline
frame (≈ 0.7 MB of base64) that was more CPU than the rest of the start call. Base64 (and a
``data:`` URI of it) holds no character JSON escapes, so the body is written with a short
marker where the frame goes and the text is put in place of the marker, as bytes: the same
body ``json.dumps`` gives, character for character.

Only text marked ``Verbatim`` by the code that made it (``ImageInput.as_base64``, a ``data:``
URI of it) is spliced, and only after two scans in C (``"`` and ``\\``: the characters that
could end or bend the JSON string) and the ASCII flag Python keeps on every string; anything
else is escaped by ``json.dumps`` as usual.
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


def dumps(body: Any) -> bytes:
    """``json.dumps(body).encode()``, with long ``Verbatim`` strings copied, not escaped."""
    texts: list[str] = []
    marked = _marked(body, texts)
    if not texts:
        return json.dumps(body).encode()
    rest = json.dumps(marked)
    parts: list[bytes] = []
    for number, text in enumerate(texts):
        before, rest = rest.split(json.dumps(f"{_TOKEN}{number}"), 1)
        parts += [before.encode(), b'"', text.encode("ascii"), b'"']
    parts.append(rest.encode())
    return b"".join(parts)


def _marked(value: Any, texts: list[str]) -> Any:
    """``value`` with each long, safe ``Verbatim`` string replaced by its marker."""
    if isinstance(value, Verbatim):
        if len(value) >= SPLICE_AFTER and value.isascii() and '"' not in value \
                and "\\" not in value:
            texts.append(value)
            return f"{_TOKEN}{len(texts) - 1}"
        return value
    if isinstance(value, dict):
        return {key: _marked(item, texts) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_marked(item, texts) for item in value]
    return value
