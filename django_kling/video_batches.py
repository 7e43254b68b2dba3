"""The ``VideoBatch`` model: one "Generate video" for many objects (the work is in ``batches``)."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils.translation import gettext_lazy as _


class BatchStatus(models.TextChoices):
    CREATING = "creating", _("Creating jobs")
    CREATED = "created", _("All jobs created")
    CANCELED = "canceled", _("Canceled")


class VideoBatch(models.Model):
    """One "Generate video" for many objects: the selection, the options, and its progress.

    The selection is ``size`` rows of ``VideoBatchItem`` (one per place), so a chunk reads only
    its own places. A background actor (``batches.create_chunk``) turns them into jobs,
    ``BATCH_CHUNK`` at a time from ``next_index``; ``pending_cost`` is the part of
    ``estimated_cost`` whose jobs do not exist yet, which the budget counts as spent
    (``jobs.spent_since``); ``refused`` counts the places that got no job (their reason is on
    the item), ``not_permitted`` those of them the creator may not use: each chunk checks its
    objects with the rule ``permission_rule`` names (``batches.register_permission_rule``).
    """

    Status = BatchStatus

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.SET_NULL, null=True,
                                   blank=True, related_name="+", verbose_name=_("requested by"))
    content_type = models.ForeignKey(ContentType, models.PROTECT, related_name="+",
                                     verbose_name=_("source type"))
    field_name = models.CharField(_("source field"), max_length=100)
    selection = models.CharField(_("selection"), max_length=500, blank=True)
    size = models.PositiveIntegerField(_("objects"), default=0, editable=False)
    options = models.JSONField(_("options"), default=dict, editable=False)
    prompt_field = models.CharField(_("prompt field"), max_length=100, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=BatchStatus.choices,
                              default=BatchStatus.CREATING, editable=False)
    next_index = models.PositiveIntegerField(_("next object"), default=0, editable=False)
    refused = models.PositiveIntegerField(_("objects refused"), default=0, editable=False)
    not_permitted = models.PositiveIntegerField(_("objects not permitted"), default=0,
                                                editable=False)
    permission_rule = models.CharField(_("object permission rule"), max_length=200,
                                       blank=True, editable=False)
    estimated_cost = models.DecimalField(_("estimated cost"), max_digits=12, decimal_places=3,
                                         default=Decimal("0"), editable=False)
    pending_cost = models.DecimalField(_("cost reserved for jobs to create"), max_digits=12,
                                       decimal_places=3, default=Decimal("0"), editable=False)
    lease_until = models.DateTimeField(_("claimed until"), null=True, blank=True,
                                       editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("video batch")
        verbose_name_plural = _("video batches")
        ordering = ["-created_at"]
        permissions = [("view_all_batches",
                        _("Can see every video batch (and cancel it with the permission to "
                          "change video requests)"))]

    def __str__(self) -> str:
        return f"{self.size} × {self.content_type.model} ({self.get_status_display()})"


class VideoBatchItem(models.Model):
    """One place of a batch's selection: the object, and why it got no job (if it did not)."""

    batch = models.ForeignKey(VideoBatch, models.CASCADE, related_name="items",
                              verbose_name=_("batch"))
    index = models.PositiveIntegerField(_("place"))
    object_id = models.CharField(_("object id"), max_length=255)
    error_code = models.CharField(_("error code"), max_length=50, blank=True)
    error_message = models.TextField(_("error message"), blank=True)

    class Meta:
        verbose_name = _("video batch object")
        verbose_name_plural = _("video batch objects")
        ordering = ["batch", "index"]
        constraints = [models.UniqueConstraint(fields=["batch", "index"],
                                               name="kling_batch_item_place")]

    def __str__(self) -> str:
        return f"{self.batch_id} #{self.index}: {self.object_id}"
