"""The ``StagedFile`` model: a file being written to storage before its ``Asset`` row exists.

A worker killed between writing a clip (or poster) and committing the row that references it
would leave a file nobody knows of. So the file's name is recorded here, committed, *before*
the file is written, and the row is deleted in the transaction that saves the ``Asset``: what
a dead worker leaves is always listed. ``flow.staging`` writes and adopts these files;
``kling_cleanup --orphans`` and the scheduler remove the ones nobody will adopt.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class StagedFile(models.Model):
    #: The alias in ``STORAGES`` the file was written to.
    storage = models.CharField(_("storage"), max_length=100)
    name = models.CharField(_("file name"), max_length=255)
    #: The ``AssetKind`` the file was written for (a clip may be adopted on resume).
    kind = models.CharField(_("kind"), max_length=20)
    #: What the complete file holds: a file cut short by the worker's death is never adopted.
    size = models.PositiveBigIntegerField(_("size in bytes"), default=0)
    sha256 = models.CharField(_("SHA-256"), max_length=64, blank=True)
    #: Null once the request is deleted: its file is then removed after the grace period.
    request = models.ForeignKey("django_kling.VideoRequest", models.SET_NULL, null=True,
                                blank=True, related_name="+", verbose_name=_("request"))
    created_at = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("staged file")
        verbose_name_plural = _("staged files")

    def __str__(self) -> str:
        return self.name
