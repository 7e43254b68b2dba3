"""Making a stored clip's renditions, after the clip is stored and never at its expense.

``start(video)`` (on ``video_ready``, and from ``kling_renditions``) makes a ``pending`` row per
rendition the clip gets (``files.renditions.plan``: never larger than the clip) and queues one
``kling_rendition`` message per row. ``make(pk)`` encodes one:

- the row is claimed first (``claimed_until``), so two messages for it never encode at once;
- what a killed worker left of it (a file staged as ``rendition:<pk>``) is deleted before it
  starts again: a rendition can always be made again from the clip, so nothing is adopted;
- the file is written staged (``flow.staging``), then its ``Asset`` and the row's ``ready``
  state are committed together;
- an error leaves the row ``pending`` and raises (Dramatiq retries it) until
  ``RENDITION_ATTEMPTS`` tries; then the row ends ``failed`` and the request gets a warning.
  The clip, its request and its review are never changed by any of this.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from datetime import timedelta
from typing import Any

from django.core.files import File
from django.core.files.storage import storages
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from ..clip_renditions import PosterChoice, Rendition
from ..clip_renditions import RenditionStatus as State
from ..conf import kling_settings
from ..files import posters
from ..files import renditions as encoder
from ..files.checksums import size_and_sha256
from ..files.download import CHUNK
from ..models import Asset, AssetKind, StagedFile, Status, VideoRequest
from . import dispatch, signing, staging

logger = logging.getLogger("django_kling.flow.renditions")

#: Tries of one rendition before it is reported failed.
RENDITION_ATTEMPTS = 3


class Gone(Exception):
    """The rendition's row was deleted (with its clip) while it was being made."""


def specs() -> dict[str, dict[str, Any]]:
    return {str(spec["name"]): spec for spec in kling_settings.RENDITIONS}


def plan_rows(video: Asset) -> list[Rendition]:
    """The clip's rendition rows, made ``pending`` for those it gets and has not got yet."""
    if not video.width or not video.height:
        return []
    wanted = encoder.plan(video.width, video.height, list(specs().values()))
    rows = []
    for spec in wanted:
        row, _created = Rendition.objects.get_or_create(clip=video, name=str(spec["name"]))
        rows.append(row)
    return rows


def start(video: Asset) -> list[int]:
    """Plan the clip's renditions and queue each one not made yet; their pks."""
    queued = [row.pk for row in plan_rows(video) if row.status == State.PENDING]
    for pk in queued:
        dispatch.send("rendition", pk)
    return queued


def on_video_ready(sender: Any, request: VideoRequest, video: Asset, **kwargs: Any) -> None:
    """``video_ready`` receiver: the clip is stored and committed, its renditions follow."""
    if kling_settings.RENDITIONS:
        start(video)


def _claim(pk: int) -> bool:
    now = timezone.now()
    return bool(Rendition.objects.filter(pk=pk, status=State.PENDING)
                .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
                .update(claimed_until=now + timedelta(seconds=kling_settings.RENDITION_CLAIM),
                        attempts=F("attempts") + 1, updated_at=now))


def stuck(grace: float) -> Any:
    """Pending renditions nobody is making: a dead worker's claim ran out, or their message
    was lost (never claimed ``grace`` seconds after they were planned)."""
    now = timezone.now()
    return Rendition.objects.filter(status=State.PENDING).filter(
        Q(claimed_until__lt=now)
        | Q(claimed_until__isnull=True, updated_at__lte=now - timedelta(seconds=grace)))


def staged_kind(pk: int) -> str:
    return f"rendition:{pk}"


def _remove_leftovers(pk: int) -> None:
    """Delete what a worker killed while making this rendition left in storage."""
    for staged in StagedFile.objects.filter(kind=staged_kind(pk)):
        with contextlib.suppress(Exception):  # the row stays for the orphan sweep
            if not Asset.objects.filter(file=staged.name).exists():
                storages[staged.storage].delete(staged.name)
            staged.delete()
            logger.info("rendition %s: removed %s left by a stopped worker", pk, staged.name)


def make(pk: int) -> bool:
    """Encode and store rendition ``pk``; False when there was nothing to do (made, failed,
    or another worker holds it). Raises to be retried."""
    if not _claim(pk):
        return False
    _remove_leftovers(pk)
    row = Rendition.objects.select_related("clip").get(pk=pk)
    job = VideoRequest.objects.filter(video=row.clip, status=Status.SUCCEEDED).first()
    spec = specs().get(row.name)
    if job is None or spec is None:
        _end_failed(row, job, _("The rendition is no longer configured or its clip is gone."))
        return False
    try:
        _encode_and_store(row, job, spec)
    except Gone:
        return False
    except Exception as exc:
        logger.warning("rendition %s (%s) of job %s failed: %s", pk, row.name, job.pk,
                       type(exc).__name__, exc_info=True)
        if row.attempts >= RENDITION_ATTEMPTS:
            _end_failed(row, job, _("%(name)s rendition could not be made (%(error)s).")
                        % {"name": row.name, "error": type(exc).__name__})
            return False
        Rendition.objects.filter(pk=pk).update(claimed_until=None, error=type(exc).__name__)
        raise
    return True


def _encode_and_store(row: Rendition, job: VideoRequest, spec: dict[str, Any]) -> None:
    source = local_copy(row.clip)
    fd, target = tempfile.mkstemp(prefix="kling-rendition-", suffix=".mp4")
    os.close(fd)
    stored: list[Asset] = []
    with staging.written(stored, source, target):
        encoded = encoder.encode(source, target, spec, preset=kling_settings.RENDITION_PRESET)
        signed = signing.sign_derived(job, target, mime="video/mp4", title="rendition.mp4")
        size, sha256 = signed or size_and_sha256(target)
        asset = Asset(kind=AssetKind.VIDEO, mime="video/mp4", size=size, sha256=sha256,
                      width=encoded.width, height=encoded.height,
                      duration=encoded.duration, fps=row.clip.fps, has_audio=encoded.has_audio,
                      content_type_id=row.clip.content_type_id, object_id=row.clip.object_id,
                      field_name=row.clip.field_name)
        with open(target, "rb") as fh:
            staging.write(job, asset, File(fh), "rendition.mp4", staged_kind=staged_kind(row.pk))
        stored.append(asset)
        poster = _poster(job, row, source, asset, stored)
        with transaction.atomic():
            if not Rendition.objects.select_for_update().filter(pk=row.pk).exists():
                raise Gone(row.pk)  # its clip was deleted meanwhile: the files go with it
            asset.save()
            if poster is not None:
                poster.save()
            staging.settled(*stored)
            Rendition.objects.filter(pk=row.pk).update(
                asset=asset, poster=poster, bitrate=encoded.bitrate, status=State.READY,
                error="", claimed_until=None, updated_at=timezone.now())
    logger.info("rendition %s of job %s: %sx%s, %s bytes", row.name, job.pk, encoded.width,
                encoded.height, encoded.size)


def _poster(job: VideoRequest, row: Rendition, source: str, asset: Asset,
            stored: list[Asset]) -> Asset | None:
    """The rendition's WebP poster, cut from the original at the editor's time (else 0)."""
    choice = PosterChoice.objects.filter(request=job).first()
    image = posters.frame_at(source, choice.time if choice else 0.0)
    data = posters.encode(image, "webp", (asset.width, asset.height))
    data = signing.sign_derived_bytes(job, data, mime="image/webp", title="poster.webp")
    poster = Asset(kind=AssetKind.POSTER, mime="image/webp", size=len(data),
                   width=asset.width, height=asset.height, content_type_id=asset.content_type_id,
                   object_id=asset.object_id, field_name=asset.field_name)
    staging.write(job, poster, data, "poster.webp", staged_kind=staged_kind(row.pk))
    stored.append(poster)
    return poster


def _end_failed(row: Rendition, job: VideoRequest | None, message: str) -> None:
    Rendition.objects.filter(pk=row.pk).update(status=State.FAILED, error=message[:2000],
                                               claimed_until=None, updated_at=timezone.now())
    if job is None:
        return
    with transaction.atomic():  # read and write the warnings under the row's lock
        fresh = VideoRequest.objects.select_for_update().get(pk=job.pk)
        warning = dict(type="rendition", code="rendition_failed", message=message)
        VideoRequest.objects.filter(pk=job.pk).update(warnings=[*fresh.warnings, warning],
                                                      updated_at=timezone.now())


def local_copy(asset: Asset) -> str:
    """The asset's file copied to a temp file (the caller deletes it)."""
    fd, path = tempfile.mkstemp(prefix="kling-clip-", suffix=".mp4")
    try:
        with os.fdopen(fd, "wb") as out, asset.file.storage.open(asset.file.name, "rb") as src:
            while chunk := src.read(CHUNK):
                out.write(chunk)
    except BaseException:
        os.unlink(path)
        raise
    return path
