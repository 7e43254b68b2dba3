"""What editors do with captions: correct them, make them again, and the form both admins use.

A corrected track is kept exactly as the editor wrote it (``CaptionTiming.EDITED``): a later
automatic pass never touches it. ``regenerate`` is the explicit way back to a track timed from
the clip's audio (the admin's "Regenerate captions" action); it also makes the track of a clip
stored before captions existed.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy

from ..caption_tracks import CaptionTiming, CaptionTrack
from ..files import webvtt
from ..flow import captioning
from ..models import Status, VideoRequest


def clip_duration(job: VideoRequest) -> float | None:
    video = job.video
    if video is not None and video.duration:
        return float(video.duration)
    return float(job.duration) if job.duration else None


def correct(track: CaptionTrack, text: str, *, user: Any = None) -> CaptionTrack:
    """Store ``text`` (WebVTT, checked against the clip) as the track's corrected captions.

    Raises ``webvtt.WebVTTError`` with a message for the editor; nothing is stored then.
    """
    job = track.request
    cues = webvtt.parse(text, duration=clip_duration(job))
    text = text.replace("\r\n", "\n").strip() + "\n"
    return captioning.store_track(job, text, timing=CaptionTiming.EDITED,
                                  transcript=webvtt.plain_text(cues), speaker=track.speaker,
                                  speech=track.speech, user=user)


def regenerate(job: VideoRequest, *, user: Any = None) -> CaptionTrack | None:
    """Time the request's spoken line to its clip's audio again, replacing any track (edited
    ones too). None when the request has no spoken line or no stored clip."""
    if job.status != Status.SUCCEEDED or job.video is None or not job.video.file:
        return None
    with job.video.file.open("rb") as clip:
        track = captioning.make_track(job, clip, clip_duration(job) or 0.0, force=True,
                                      user=user)
    return track


class CaptionTrackForm(forms.ModelForm):
    """The WebVTT text of a track, checked as a browser will read it (times inside the clip,
    in order, every cue with text). Django admin and Wagtail both edit through it."""

    class Meta:
        model = CaptionTrack
        fields = ["webvtt"]
        widgets = {"webvtt": forms.Textarea(attrs={"rows": 14, "cols": 70,
                                                   "spellcheck": "true",
                                                   "class": "kling-webvtt"})}
        help_texts = {"webvtt": gettext_lazy(
            "One cue per block: a time line (00:00:01.000 --> 00:00:03.500), then at most two "
            "lines of text. Keep the times inside the clip and in order; the voice tag at a "
            "cue's start (v and a name, in angle brackets) names who speaks.")}

    def clean_webvtt(self) -> str:
        text = self.cleaned_data["webvtt"]
        try:
            webvtt.parse(text, duration=clip_duration(self.instance.request))
        except webvtt.WebVTTError as exc:
            raise forms.ValidationError(str(exc), code="invalid_webvtt") from exc
        return text

    def store(self, *, user: Any = None) -> CaptionTrack:
        """Store the checked text as the track's correction (a new file); ``save()`` is not
        used, because a track is never written in place."""
        self.instance = correct(self.instance, self.cleaned_data["webvtt"], user=user)
        return self.instance
