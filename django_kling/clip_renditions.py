"""Renditions and chosen posters of a stored clip: the models.

``Rendition``: one smaller H.264 + AAC copy of a clip (``RENDITIONS`` setting), made after the
clip is stored (``flow.renditions``). The row is made first (``pending``) and claimed by the
worker that encodes it; its ``asset`` is set in the transaction that saves the file's ``Asset``.
A rendition that cannot be made ends ``failed`` with the reason; the clip is never touched.

``PosterChoice``: the moment of the clip an editor picked for its poster, and the JPEG kept
next to the WebP poster when ``POSTER_JPEG`` asks for one.

Deleting the clip's ``Asset`` deletes its renditions, and their files and posters go with them
(``editorial.cleanup``), on commit like every file.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class RenditionStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    READY = "ready", _("Ready")
    FAILED = "failed", _("Failed")


class Rendition(models.Model):
    clip = models.ForeignKey("django_kling.Asset", models.CASCADE, related_name="renditions",
                             verbose_name=_("clip"))
    #: The name of its ``RENDITIONS`` entry ("480p").
    name = models.CharField(_("name"), max_length=20)
    asset = models.OneToOneField("django_kling.Asset", models.SET_NULL, null=True, blank=True,
                                 related_name="rendition_of", verbose_name=_("file"))
    poster = models.ForeignKey("django_kling.Asset", models.SET_NULL, null=True, blank=True,
                               related_name="+", verbose_name=_("poster"))
    poster_jpeg = models.ForeignKey("django_kling.Asset", models.SET_NULL, null=True,
                                    blank=True, related_name="+", verbose_name=_("JPEG poster"))
    bitrate = models.PositiveIntegerField(_("bitrate (bits per second)"), null=True,
                                          blank=True)
    status = models.CharField(_("status"), max_length=10, choices=RenditionStatus,
                              default=RenditionStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    error = models.TextField(_("error"), blank=True)
    #: Set while a worker encodes it, so that no other one does it at the same time.
    claimed_until = models.DateTimeField(_("claimed until"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("rendition")
        verbose_name_plural = _("renditions")
        ordering = ["clip", "pk"]
        constraints = [models.UniqueConstraint(fields=["clip", "name"],
                                               name="kling_one_rendition_per_name")]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_status_display()})"


class PosterChoice(models.Model):
    request = models.OneToOneField("django_kling.VideoRequest", models.CASCADE,
                                   related_name="poster_choice", verbose_name=_("request"))
    #: Seconds from the clip's start.
    time = models.FloatField(_("time in seconds"))
    jpeg = models.ForeignKey("django_kling.Asset", models.SET_NULL, null=True, blank=True,
                             related_name="+", verbose_name=_("JPEG poster"))
    chosen_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.SET_NULL, null=True,
                                  blank=True, related_name="+", verbose_name=_("chosen by"))
    chosen_at = models.DateTimeField(_("chosen"), auto_now=True)

    class Meta:
        verbose_name = _("poster choice")
        verbose_name_plural = _("poster choices")

    def __str__(self) -> str:
        return f"{self.time:.2f}s"
