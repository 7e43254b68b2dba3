"""The ``CaptionTrack`` model: a clip's WebVTT captions, made from the words it was asked to say.

The WebVTT file itself is an ``Asset`` of kind ``captions`` (served like the clip, from the same
storage); this row says what the file is for: the request, the language as a BCP 47 tag for
``<track srclang>``, whether the cues were timed to speech found in the clip's audio or only
spread over the whole clip ("untimed": the reviewer should check them), and whether an editor
corrected them (an edited track is kept as written; only an explicit action regenerates it).

It is a table of its own rather than columns on ``Asset``: only caption files need a language
and these flags, and ``Asset`` describes any stored file. ``files.captions`` makes the tracks,
``editorial.captions`` stores and corrects them.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class CaptionTiming(models.TextChoices):
    #: Cues spread over the speech found in the clip's audio.
    TIMED = "timed", _("Timed to the speech in the clip")
    #: No speech was found: the cues span the whole clip. A reviewer should check them.
    UNTIMED = "untimed", _("Untimed: no speech found in the audio")
    #: Written or corrected by an editor: kept as it is.
    EDITED = "edited", _("Corrected by an editor")


class CaptionTrack(models.Model):
    request = models.OneToOneField("django_kling.VideoRequest", models.CASCADE,
                                   related_name="caption_track", verbose_name=_("request"))
    #: The WebVTT file (``AssetKind.CAPTIONS``); replaced by a new file on every change, so a
    #: CDN or browser never serves an outdated copy under the same URL.
    asset = models.OneToOneField("django_kling.Asset", models.PROTECT, related_name="+",
                                 verbose_name=_("WebVTT file"))
    #: BCP 47, as ``<track srclang>`` wants it: ``en`` or ``zh-Hans``.
    language = models.CharField(_("language"), max_length=16)
    label = models.CharField(_("label"), max_length=50,
                             help_text=_("The name browsers show in their captions menu."))
    #: The words the clip was asked to say (the transcript in JSON-LD).
    transcript = models.TextField(_("transcript"), blank=True)
    speaker = models.CharField(_("speaker"), max_length=100, blank=True)
    #: The WebVTT text as stored in ``asset`` (kept here so editors never read the storage).
    webvtt = models.TextField(_("WebVTT text"))
    timing = models.CharField(_("timing"), max_length=10, choices=CaptionTiming,
                              default=CaptionTiming.TIMED)
    #: Where speech was found in the audio (seconds, ``[[start, end], ...]``).
    speech = models.JSONField(_("speech found"), default=list, blank=True)
    edited_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.SET_NULL, null=True,
                                  blank=True, related_name="+", verbose_name=_("edited by"))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("caption track")
        verbose_name_plural = _("caption tracks")

    def __str__(self) -> str:
        return f"{self.label} ({self.language})"

    @property
    def is_untimed(self) -> bool:
        return self.timing == CaptionTiming.UNTIMED

    @property
    def is_edited(self) -> bool:
        return self.timing == CaptionTiming.EDITED
