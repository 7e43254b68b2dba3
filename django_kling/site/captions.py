"""A clip's captions as a page uses them: the ``<track>`` attributes and the CORS question.

A ``<track>`` whose file comes from another origin than the page (an S3 bucket, a CDN) is
fetched with CORS, and only when the ``<video>`` carries ``crossorigin``; without it, or
without a CORS rule on the storage, browsers drop the track without a word. So a caption URL
that is absolute and not the page's own origin makes the player ``crossorigin="anonymous"``
(which also fetches the clip itself with CORS: the storage's rule must cover both, see
docs/accessibility.rst) once ``CAPTIONS_CORS`` says that rule is in place. Before that the
attribute is left out: a shop on S3 that upgrades keeps clips that play (the deploy check
W005 says its captions are refused), rather than clips the browser may refuse too.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

from ..caption_tracks import CaptionTrack
from ..conf import kling_settings
from ..models import VideoRequest
from .file_urls import file_url


class Captions:
    """What ``<track>`` needs from a ``CaptionTrack``: ``url``, ``language``, ``label``."""

    def __init__(self, track: CaptionTrack) -> None:
        self.track = track

    @cached_property
    def url(self) -> str:
        return file_url(self.track.asset.file)

    @property
    def language(self) -> str:
        return self.track.language

    @property
    def label(self) -> str:
        return self.track.label

    @property
    def transcript(self) -> str:
        return self.track.transcript

    @property
    def untimed(self) -> bool:
        return self.track.is_untimed

    def __repr__(self) -> str:
        return f"<Captions {self.language} {self.track.asset.file.name}>"


def captions_of(request: VideoRequest | None) -> Captions | None:
    """The caption track of a request's clip, or None (no query if it was select_related)."""
    if request is None:
        return None
    try:
        track = request.caption_track
    except CaptionTrack.DoesNotExist:
        return None
    return Captions(track) if track.asset.file else None


def origin(url: str) -> str:
    """``scheme://host[:port]`` of an absolute URL, ``""`` for a relative one."""
    parts = urlsplit(url)
    if not parts.netloc:
        return ""
    return f"{parts.scheme or 'https'}://{parts.netloc}".lower()


def cross_origin(url: str, page: Any = None) -> str | None:
    """``"anonymous"`` if ``url`` is on another origin than ``page`` (an ``HttpRequest``, or
    unknown: then any absolute URL counts as another origin) and ``CAPTIONS_CORS`` is on,
    else None."""
    theirs = origin(url)
    if not theirs or not kling_settings.CAPTIONS_CORS:
        return None
    if hasattr(page, "build_absolute_uri") and origin(page.build_absolute_uri("/")) == theirs:
        return None
    return "anonymous"
