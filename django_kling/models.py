"""The two tables: ``VideoRequest`` (one generation job) and ``Asset`` (one stored file).

The job's status lives here with the only code allowed to write it: the ``Status`` values, the
moves ``ALLOWED`` between them, and ``VideoRequest.objects.transition()`` /
``update_fields()`` on its queryset (django_dramatiq's ``TaskManager`` pattern), so the guard in
``VideoRequest.save()`` and the one writer sit side by side.
"""

from __future__ import annotations

import contextlib
import copy
import uuid
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import FieldError
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from . import compiled_writes
from .exceptions import InvalidTransition
from .files.storage import asset_storage, asset_upload_to
from .options import MAX_PROMPT_LENGTH, AspectRatio, Duration, Language, Mode


def new_idempotency_key() -> str:
    return f"kling_{uuid.uuid4().hex}"


class AssetKind(models.TextChoices):
    SOURCE_IMAGE = "source_image", _("Source image")
    LAST_FRAME = "last_frame", _("Last frame")
    VIDEO = "video", _("Video")
    POSTER = "poster", _("Poster")
    CAPTIONS = "captions", _("Captions (WebVTT)")


class Status(models.TextChoices):
    QUEUED = "queued", _("Queued")
    SUBMITTING = "submitting", _("Submitting")
    RUNNING = "running", _("Running")
    FETCHING = "fetching", _("Fetching")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    CANCELED = "canceled", _("Canceled")


class ReviewStatus(models.TextChoices):
    """What a person decided about a clip: separate from the job's ``Status``."""

    PENDING = "pending", _("Awaiting review")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")


#: The states a job ends in.
FINAL = frozenset({Status.SUCCEEDED, Status.FAILED, Status.CANCELED})
ACTIVE = frozenset(set(Status) - FINAL)  #: The states of a job that has not ended.
_ENDINGS = {Status.FAILED, Status.CANCELED}
#: The moves allowed from each state (failed and canceled are reachable from every active one).
ALLOWED: dict[str, frozenset[str]] = {
    Status.QUEUED: frozenset({Status.SUBMITTING} | _ENDINGS),
    # A streaming call goes straight to fetching; one moved to a capped provider waits queued.
    Status.SUBMITTING: frozenset({Status.QUEUED, Status.RUNNING, Status.FETCHING} | _ENDINGS),
    Status.RUNNING: frozenset({Status.FETCHING} | _ENDINGS),
    Status.FETCHING: frozenset({Status.SUCCEEDED} | _ENDINGS),
    Status.SUCCEEDED: frozenset(),
    Status.FAILED: frozenset(),
    Status.CANCELED: frozenset(),
}


def can_move(current: str, target: str) -> bool:
    return target in ALLOWED[current]


class OwnedQuerySet(models.QuerySet):
    def for_object(self, obj: models.Model, field_name: str | None = None) -> OwnedQuerySet:
        """Rows linked to ``obj`` (optionally through one of its fields)."""
        qs = self.filter(
            content_type=ContentType.objects.get_for_model(obj), object_id=str(obj.pk)
        )
        return qs.filter(field_name=field_name) if field_name else qs

    def by_id_prefix(self, prefix: str) -> models.Model:
        """The one row whose UUID starts with ``prefix`` (as shown by ``kling_status``).

        Raises ``DoesNotExist`` or ``MultipleObjectsReturned`` like ``get()``.
        """
        prefix = prefix.strip().lower()
        try:
            return self.get(pk=uuid.UUID(prefix))
        except ValueError:
            pass
        matches = [pk for pk in self.values_list("pk", flat=True) if str(pk).startswith(prefix)]
        if len(matches) > 1:
            raise self.model.MultipleObjectsReturned(f"{len(matches)} rows start with {prefix}")
        if not matches or not prefix:
            raise self.model.DoesNotExist(f"no row starts with {prefix!r}")
        return self.get(pk=matches[0])


class VideoRequestQuerySet(OwnedQuerySet):
    """The requests, and the only two ways a worker writes to one."""

    def transition(
        self,
        request: VideoRequest | Any,
        target: str,
        *,
        expect: str | frozenset[str] | set[str] | None = None,
        **fields: Any,
    ) -> VideoRequest:
        """Move the job with this pk (or instance) to ``target`` and save ``fields`` with it.

        One conditional UPDATE (``WHERE status IN`` the ``expect`` states that may move to
        ``target``): check and write are one statement, so two workers can never both win, with
        no lock or read. ``FINAL`` states stamp ``finished_at``. Returns a copy of the instance
        given (loaded for a pk) with the move and ``fields`` set."""
        pk = getattr(request, "pk", request)
        expected = {expect} if isinstance(expect, str) else expect
        sources = [state for state in expected or Status if can_move(state, target)]
        if target in FINAL:
            fields.setdefault("finished_at", timezone.now())
        fields["updated_at"] = timezone.now()
        nested = transaction.get_connection(self.db).in_atomic_block  # a savepoint, as before
        with transaction.atomic(using=self.db) if nested else contextlib.nullcontext():
            moved = compiled_writes.update(self, pk, sources, {"status": target, **fields})
        if not moved:  # the job is elsewhere (or gone): say where, as a locked read did
            status = self.filter(pk=pk).values_list("status", flat=True).get()
            raise InvalidTransition(f"job {pk} is {status}, cannot move from {status} to "
                                    f"{target} (expected {'/'.join(sorted(expected or ['any']))})")
        job = copy.copy(request) if isinstance(request, VideoRequest) else self.get(pk=pk)
        for name, value in fields.items():
            setattr(job, name, value)
        job.status = job._loaded_status = target
        return job

    def update_fields(self, request: VideoRequest | Any, *, expect: str | set[str],
                      **fields: Any) -> bool:
        """Write worker-owned fields if the job is still in ``expect``, in one conditional UPDATE.

        Returns False (and writes nothing) when another worker moved the job meanwhile. The
        status check and the write are one statement, so no lock or transaction is needed; this
        runs on every poll, where a locked read-modify-write cost a quarter of the worker's time.
        """
        if "status" in fields:
            raise InvalidTransition("update_fields() never writes the status; use transition()")
        pk = getattr(request, "pk", request)
        expected = [expect] if isinstance(expect, str) else list(expect)
        return bool(compiled_writes.update(self, pk, expected,
                                           {"updated_at": timezone.now(), **fields}))


class Asset(models.Model):
    """A file in the configured storage with the metadata probed from it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(_("kind"), max_length=20, choices=AssetKind)
    file = models.FileField(_("file"), storage=asset_storage, upload_to=asset_upload_to,
                            max_length=255)
    mime = models.CharField(_("MIME type"), max_length=100, blank=True)
    size = models.PositiveBigIntegerField(_("size in bytes"), default=0)
    sha256 = models.CharField(_("SHA-256"), max_length=64, blank=True)
    width = models.PositiveIntegerField(_("width"), null=True, blank=True)
    height = models.PositiveIntegerField(_("height"), null=True, blank=True)
    duration = models.FloatField(_("duration in seconds"), null=True, blank=True)
    fps = models.FloatField(_("frames per second"), null=True, blank=True)
    has_audio = models.BooleanField(_("has audio"), null=True, blank=True)
    content_type = models.ForeignKey(ContentType, models.SET_NULL, null=True, blank=True,
                                     related_name="+")
    object_id = models.CharField(_("object id"), max_length=64, blank=True, db_index=True)
    field_name = models.CharField(_("field name"), max_length=100, blank=True)
    owner = GenericForeignKey("content_type", "object_id")
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    objects = OwnedQuerySet.as_manager()

    class Meta:
        verbose_name = _("asset")
        verbose_name_plural = _("assets")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["content_type", "object_id"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.file.name or self.pk}"


class VideoRequest(models.Model):
    """One image-to-video generation job, from the editor's inputs to the stored clip."""

    Status = Status

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.SET_NULL, null=True,
                                   blank=True, related_name="+", verbose_name=_("requested by"))

    content_type = models.ForeignKey(ContentType, models.SET_NULL, null=True, blank=True,
                                     related_name="+", verbose_name=_("source type"))
    object_id = models.CharField(_("source id"), max_length=64, blank=True, db_index=True)
    field_name = models.CharField(_("source field"), max_length=100, blank=True)
    source_object = GenericForeignKey("content_type", "object_id")

    first_frame = models.ForeignKey(Asset, models.PROTECT, related_name="+",
                                    verbose_name=_("first frame"))
    last_frame = models.ForeignKey(Asset, models.SET_NULL, null=True, blank=True,
                                   related_name="+", verbose_name=_("last frame"))
    prompt = models.TextField(_("prompt"), blank=True, max_length=MAX_PROMPT_LENGTH)
    negative_prompt = models.TextField(_("negative prompt"), blank=True,
                                       max_length=MAX_PROMPT_LENGTH)
    duration = models.PositiveSmallIntegerField(_("duration"), choices=Duration.choices,
                                                default=Duration.FIVE)
    aspect_ratio = models.CharField(_("aspect ratio"), max_length=5,
                                    choices=AspectRatio.choices, default=AspectRatio.LANDSCAPE)
    mode = models.CharField(_("mode"), max_length=3, choices=Mode.choices, default=Mode.PRO)
    generate_audio = models.BooleanField(_("sound"), default=True)
    seed = models.BigIntegerField(_("seed"), null=True, blank=True)
    language = models.CharField(
        _("speech language"), max_length=2, choices=Language.choices, blank=True,
        help_text=_("The language the clip speaks; empty for a clip without speech."))
    #: Variants (same inputs, different seeds) made together share this id.
    variant_group = models.UUIDField(_("variant group"), null=True, blank=True, db_index=True,
                                     editable=False)
    preset = models.ForeignKey("django_kling.VideoPreset", models.SET_NULL, null=True,
                               blank=True, related_name="+", verbose_name=_("preset"),
                               editable=False)

    # The editorial layer: written only by django_kling.editorial.review.
    review_status = models.CharField(_("review"), max_length=10, choices=ReviewStatus,
                                     default=ReviewStatus.PENDING, db_index=True,
                                     editable=False)
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.SET_NULL, null=True,
                                    blank=True, related_name="+", editable=False,
                                    verbose_name=_("reviewed by"))
    reviewed_at = models.DateTimeField(_("reviewed"), null=True, blank=True, editable=False)
    review_note = models.TextField(_("review note"), blank=True, editable=False)
    featured = models.BooleanField(
        _("featured"), default=False, editable=False,
        help_text=_("The clip the site shows for its object, field, language and aspect."))

    provider = models.CharField(_("provider"), max_length=40)
    model = models.CharField(_("model"), max_length=100)
    protocol = models.CharField(_("protocol"), max_length=10, blank=True)
    status = models.CharField(_("status"), max_length=12, choices=Status,
                              default=Status.QUEUED, db_index=True, editable=False)
    operation = models.JSONField(_("provider operation"), null=True, blank=True, editable=False)
    operation_id = models.CharField(_("operation id"), max_length=200, blank=True,
                                    editable=False)
    generation_id = models.CharField(
        _("generation id"), max_length=200, blank=True, editable=False,
        help_text=_("The provider's id of the generation: quote it to the provider's support."))
    idempotency_key = models.CharField(_("idempotency key"), max_length=80, unique=True,
                                       default=new_idempotency_key, editable=False)
    result_url = models.URLField(_("result URL"), max_length=2000, blank=True, editable=False)
    submit_attempts = models.PositiveIntegerField(_("submit attempts"), default=0,
                                                  editable=False)
    poll_count = models.PositiveIntegerField(_("status calls"), default=0, editable=False)
    fetch_attempts = models.PositiveIntegerField(_("fetch attempts"), default=0, editable=False)
    error_streak = models.PositiveIntegerField(_("transient errors in a row"), default=0,
                                               editable=False)
    error_code = models.CharField(_("error code"), max_length=50, blank=True, editable=False)
    error_message = models.TextField(_("error"), blank=True, editable=False)
    warnings = models.JSONField(_("warnings"), default=list, blank=True, editable=False)
    provider_metadata = models.JSONField(_("provider metadata"), default=dict, blank=True,
                                         editable=False)
    #: Providers passed over before ``provider``, in order, each with why (see ``fallback``).
    provider_attempts = models.JSONField(_("providers tried"), default=list, blank=True,
                                         editable=False)

    video = models.ForeignKey(Asset, models.SET_NULL, null=True, blank=True, related_name="+",
                              verbose_name=_("video"), editable=False)
    poster = models.ForeignKey(Asset, models.SET_NULL, null=True, blank=True, related_name="+",
                               verbose_name=_("poster"), editable=False)
    estimated_cost = models.DecimalField(_("estimated cost"), max_digits=8, decimal_places=3,
                                         default=Decimal("0"))
    reported_cost = models.DecimalField(_("reported cost"), max_digits=8, decimal_places=3,
                                        null=True, blank=True, editable=False)

    #: The batch that made it, and its place in the batch's selection (None for a retry):
    #: unique together, so a batch resumed after a crash never makes an object's job twice.
    batch = models.ForeignKey("VideoBatch", models.SET_NULL, null=True, blank=True,
                              related_name="jobs", verbose_name=_("batch"), editable=False)
    batch_index = models.PositiveIntegerField(_("place in batch"), null=True, blank=True,
                                              editable=False)
    #: Set while one worker polls the job, so no other polls it at once (see ``polling``).
    claimed_until = models.DateTimeField(_("claimed until"), null=True, blank=True,
                                         editable=False)

    created_at = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    enqueued_at = models.DateTimeField(_("enqueued"), null=True, blank=True, editable=False)
    submitted_at = models.DateTimeField(_("submitted"), null=True, blank=True, editable=False)
    #: The last status answer that said "still running" (where the job's end is looked for).
    checked_at = models.DateTimeField(_("last checked"), null=True, blank=True, editable=False)
    next_check_at = models.DateTimeField(_("next check"), null=True, blank=True,
                                         editable=False, db_index=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True, editable=False)

    objects = VideoRequestQuerySet.as_manager()

    class Meta:
        verbose_name = _("video request")
        verbose_name_plural = _("video requests")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["content_type", "object_id", "status"]),
                   models.Index(fields=["status", "next_check_at"]),
                   models.Index(fields=["provider", "status", "batch", "created_at"])]
        permissions = [("review_videorequest", _("Can approve or reject video clips"))]
        constraints = [
            # One featured clip per slot, held by the database whatever code writes the rows.
            models.UniqueConstraint(
                fields=["content_type", "object_id", "field_name", "language", "aspect_ratio"],
                condition=models.Q(featured=True), name="django_kling_one_featured_clip"),
            models.UniqueConstraint(fields=["batch", "batch_index"],
                                    name="kling_one_job_per_batch_place"),
            models.UniqueConstraint(fields=["provider", "operation_id"], condition=~models.Q(
                operation_id=""), name="kling_one_job_per_provider_task"),  # never adopt one
        ]

    def __str__(self) -> str:  # page titles: what the clip is made from, and when
        when = f" · {self.created_at:%Y-%m-%d %H:%M}" if self.created_at else ""
        return f"{self.source_object or self.prompt[:40] or self.pk}{when}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Only VideoRequest.objects.transition() may change the status of a saved job.
        loaded = getattr(self, "_loaded_status", None)
        allowed = getattr(self, "_allow_status_write", False)
        if loaded is not None and self.status != loaded and not allowed:
            raise FieldError(
                "VideoRequest.status is changed only through VideoRequest.objects.transition()."
            )
        super().save(*args, **kwargs)
        self._allow_status_write = False
        self._loaded_status = self.status

    @classmethod
    def from_db(cls, db: str | None, field_names: Any, values: Any,
                **kwargs: Any) -> VideoRequest:
        # ``kwargs``: Django 6.1 passes ``fetch_mode``; 5.2 passes nothing.
        instance = super().from_db(db, field_names, values, **kwargs)
        instance._loaded_status = instance.__dict__.get("status")
        return instance

    @property
    def is_final(self) -> bool:
        return self.status in FINAL

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE

    @property
    def is_approved(self) -> bool:
        return self.review_status == ReviewStatus.APPROVED


class Throttle(models.Model):
    """A provider's lowered concurrency after it answered 429 (see ``admission``)."""

    provider = models.CharField(_("provider"), max_length=40, primary_key=True)
    limit = models.PositiveIntegerField(_("jobs in flight at most"))
    until = models.DateTimeField(_("until"))

    class Meta:
        verbose_name = _("provider throttle")
        verbose_name_plural = _("provider throttles")

    def __str__(self) -> str:
        return f"{self.provider} ≤ {self.limit}"


class BudgetLock(models.Model):
    """A named row that serializes a check and the write it guards (``locks.hold``): the
    budget, admission to a provider, and claims on databases without ``SKIP LOCKED``. An UPDATE
    holds a row lock on PostgreSQL (and MySQL) and the database's write lock on SQLite until
    the transaction ends, so the same statement works everywhere."""

    name = models.CharField(_("name"), max_length=40, primary_key=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("budget lock")
        verbose_name_plural = _("budget locks")

    def __str__(self) -> str:
        return self.name


# Defined in modules of their own (concepts of their own); imported here so Django finds them.
from .caption_tracks import CaptionTrack  # noqa: E402, F401
from .clip_renditions import PosterChoice, Rendition  # noqa: E402, F401
from .completion_times import CompletionTimes  # noqa: E402, F401
from .staged_files import StagedFile  # noqa: E402, F401
from .video_batches import BatchStatus, VideoBatch, VideoBatchItem  # noqa: E402, F401
from .video_presets import VideoPreset  # noqa: E402, F401
