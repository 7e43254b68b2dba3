"""What happens to stored files and links when rows are deleted.

- Deleting an ``Asset`` deletes its file from storage once the transaction commits (a rolled
  back delete keeps the file; a storage error is logged, never raised at the caller).
- Deleting a ``VideoRequest`` deletes its Assets (video, poster, frames) unless another request
  still uses them (a retried request shares the frames of the one it retried); its caption
  track goes with it, and the track's WebVTT file with the track.
- Deleting any other object clears the generic link of the requests and Assets made from it,
  so they stay readable (``source_object`` is None) and can never show up on a new object that
  gets the same primary key.

- ``expired_clips()`` / ``remove_clip_files()`` (the ``kling_cleanup`` command): clips rejected
  more than ``KEEP_REJECTED_DAYS`` ago, and variants never approved nor featured that finished
  more than ``KEEP_UNFEATURED_VARIANTS_DAYS`` ago, lose their video and poster files; the rows
  stay with a note, so history and costs stay. Approved and featured clips are never touched.

``connect()`` (called from ``KlingConfig.ready``) connects the receivers. The one that clears
links is connected per model, not globally: any receiver makes Django give up its fast path
for bulk deletes of that model (one DELETE becomes a SELECT, a DELETE per batch and a signal
per row), so framework models that are deleted in bulk and are never video sources (sessions,
admin log entries, content types, Dramatiq's task log, our own tables) keep it.
"""

from __future__ import annotations

import logging
from typing import Any

from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.core.files.storage import Storage
from django.db import models, transaction
from django.db.models import Q
from django.db.models.signals import post_delete
from django.utils import timezone

from ..caption_tracks import CaptionTrack
from ..clip_renditions import PosterChoice, Rendition
from ..conf import kling_settings
from ..files import frames
from ..models import Asset, AssetKind, ReviewStatus, Status, VideoRequest

logger = logging.getLogger("django_kling.editorial.cleanup")

# Apps whose rows are never the source of a clip.
NOT_SOURCES = frozenset({"django_kling", "contenttypes", "sessions", "admin", "django_dramatiq"})
#: Assets sent to providers as frames: they may have an encoded form beside them.
FRAME_KINDS = frozenset({AssetKind.SOURCE_IMAGE, AssetKind.LAST_FRAME})


def delete_file_later(storage: Storage, name: str, using: str | None = None) -> None:
    """Delete ``name`` from ``storage`` when the current transaction commits."""

    def delete() -> None:
        try:
            storage.delete(name)
        except Exception:  # noqa: BLE001  (the rows are gone already; a stray file is harmless)
            logger.warning("could not delete %s from storage", name, exc_info=True)

    transaction.on_commit(delete, using=using)


def asset_deleted(sender: type[Asset], instance: Asset, using: str, **kwargs: Any) -> None:
    if instance.file.name:
        # Bound to the storage in use now, not to whatever the setting says after the commit.
        delete_file_later(instance.file.storage, instance.file.name, using)
        if instance.kind in FRAME_KINDS:  # and the frame's encoded form, if it has one
            delete_file_later(instance.file.storage, frames.encoded_name(instance.file.name),
                              using)


def request_deleted(sender: type[VideoRequest], instance: VideoRequest, using: str,
                    **kwargs: Any) -> None:
    own = {instance.video_id, instance.poster_id, instance.first_frame_id,
           instance.last_frame_id} - {None}
    if not own:
        return
    # A retried request shares its frames with the original: keep what is still in use.
    in_use = VideoRequest.objects.db_manager(using).filter(
        Q(first_frame_id__in=own) | Q(last_frame_id__in=own) | Q(video_id__in=own)
        | Q(poster_id__in=own)).values_list("first_frame_id", "last_frame_id", "video_id",
                                             "poster_id")
    shared = {pk for row in in_use for pk in row}
    # Each Asset deleted here sends its own post_delete, which removes its file on commit.
    Asset.objects.db_manager(using).filter(pk__in=own - shared).delete()


def caption_track_deleted(sender: type[CaptionTrack], instance: CaptionTrack, using: str,
                          **kwargs: Any) -> None:
    """A caption track goes with its WebVTT file (with the request, or with its clip files)."""
    Asset.objects.db_manager(using).filter(pk=instance.asset_id).delete()


def derived_deleted(sender: type[models.Model], instance: Rendition | PosterChoice, using: str,
                    **kwargs: Any) -> None:
    """A rendition or poster choice went (with its clip or request): its files go too."""
    own = {getattr(instance, name, None) for name in ("asset_id", "poster_id", "poster_jpeg_id",
                                                      "jpeg_id")} - {None}
    if own:
        Asset.objects.db_manager(using).filter(pk__in=own).delete()


def source_deleted(sender: type[models.Model], instance: models.Model, using: str,
                   **kwargs: Any) -> None:
    """Clear the links to a deleted object: one query when nothing links to it (the usual)."""
    content_type = ContentType.objects.get_for_model(sender)  # cached after the first call
    link = {"content_type": content_type, "object_id": str(instance.pk)}
    linked = (VideoRequest.objects.filter(**link).order_by().values("content_type_id")
              .union(Asset.objects.filter(**link).order_by().values("content_type_id"))
              .order_by())  # Django 6.1 would order the union by the model's default ordering
    if not linked:
        return
    VideoRequest.objects.filter(**link).update(content_type=None, object_id="",
                                               updated_at=timezone.now())
    Asset.objects.filter(**link).update(content_type=None, object_id="")


def expired_clips(now: Any = None) -> models.QuerySet[VideoRequest]:
    """The requests whose clip files ``kling_cleanup`` may delete now."""
    now = now or timezone.now()
    expired = Q(pk__in=[])
    rejected_days = kling_settings.KEEP_REJECTED_DAYS
    if rejected_days is not None:
        expired |= Q(review_status=ReviewStatus.REJECTED,
                     reviewed_at__lt=now - timezone.timedelta(days=rejected_days))
    variant_days = kling_settings.KEEP_UNFEATURED_VARIANTS_DAYS
    if variant_days is not None:
        expired |= Q(variant_group__isnull=False, review_status=ReviewStatus.PENDING,
                     finished_at__lt=now - timezone.timedelta(days=variant_days))
    return (VideoRequest.objects.filter(expired, status=Status.SUCCEEDED, featured=False)
            .exclude(review_status=ReviewStatus.APPROVED)
            .filter(Q(video__isnull=False) | Q(poster__isnull=False)))


def remove_clip_files(job: VideoRequest, note: str) -> None:
    """Delete the clip's video and poster (files go on commit), keep the row with ``note``."""
    with transaction.atomic():
        row = VideoRequest.objects.select_for_update().get(pk=job.pk)
        if row.featured or row.review_status == ReviewStatus.APPROVED:
            return  # approved or featured meanwhile: never touched
        assets = [pk for pk in (row.video_id, row.poster_id) if pk is not None]
        VideoRequest.objects.filter(pk=row.pk).update(
            video=None, poster=None, updated_at=timezone.now(),
            warnings=[*row.warnings, {"type": "cleanup", "message": note}])
        Asset.objects.filter(pk__in=assets).delete()
        CaptionTrack.objects.filter(request=row).delete()  # its file goes with it


def can_be_source(model: type[models.Model]) -> bool:
    return model._meta.app_label not in NOT_SOURCES and not model._meta.auto_created


def connect() -> None:
    post_delete.connect(asset_deleted, sender=Asset, dispatch_uid="django_kling.asset_deleted")
    post_delete.connect(caption_track_deleted, sender=CaptionTrack,
                        dispatch_uid="django_kling.caption_track_deleted")
    post_delete.connect(request_deleted, sender=VideoRequest,
                        dispatch_uid="django_kling.request_deleted")
    for model in (Rendition, PosterChoice):
        post_delete.connect(derived_deleted, sender=model,
                            dispatch_uid=f"django_kling.derived_deleted.{model.__name__}")
    for model in apps.get_models():
        if can_be_source(model):
            post_delete.connect(source_deleted, sender=model,
                                dispatch_uid=f"django_kling.source_deleted.{model._meta.label}")
