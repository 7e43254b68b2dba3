"""schema.org ``VideoObject`` data for search engines, and its safe ``<script>`` embedding."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from .clips import Clip

# Inside <script> the HTML parser ends the element at "</script" and treats "<!--" specially,
# whatever JSON thinks of the string; escaping these three characters rules both out.
_SCRIPT_ESCAPES = {ord("<"): "\\u003C", ord(">"): "\\u003E", ord("&"): "\\u0026"}
#: schema.org's term for IPTC's "trainedAlgorithmicMedia" (made by a trained model): what the
#: clip's C2PA manifest declares, said again to search engines (schema.org ``digitalSourceType``,
#: a CreativeWork property, so a VideoObject's).
TRAINED_ALGORITHMIC_MEDIA = "https://schema.org/TrainedAlgorithmicMediaDigitalSource"


def iso_duration(seconds: float) -> str:
    """ISO 8601 duration of whole seconds, as schema.org wants it: 5.02 -> ``PT5S``."""
    total = max(1, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return "PT" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "") + (
        f"{secs}S" if secs else "")


def video_object(clip: Clip, *, name: str, description: str = "",
                 absolute: Callable[[str], str] = str) -> dict[str, Any]:
    """The ``VideoObject`` of ``clip``; ``absolute`` turns a relative URL into an absolute one.

    The description defaults to the prompt the clip was made from, then to the name (search
    engines want one).
    """
    data: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "VideoObject",
        "name": name,
        "description": description or clip.prompt or name,
        "contentUrl": absolute(clip.url),
        "encodingFormat": clip.mime,
        "uploadDate": clip.created.isoformat(),
        # Every clip is generated: stated whatever the visible label's setting.
        "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
    }
    if clip.poster_url:
        data["thumbnailUrl"] = absolute(clip.poster_url)
    if clip.duration:
        data["duration"] = iso_duration(clip.duration)
    captions = clip.captions
    if captions is not None:  # the words it speaks, and the WebVTT file with their timing
        data["transcript"] = captions.transcript
        data["caption"] = {"@type": "MediaObject", "contentUrl": absolute(captions.url),
                           "encodingFormat": "text/vtt", "inLanguage": captions.language}
    return data


def json_ld_script(data: dict[str, Any]) -> SafeString:
    """``<script type="application/ld+json">`` holding ``data``, safe for any string in it."""
    text = json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False).translate(_SCRIPT_ESCAPES)
    return format_html('<script type="application/ld+json">{}</script>', mark_safe(text))  # noqa: S308
