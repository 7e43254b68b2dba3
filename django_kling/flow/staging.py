"""Storing a job's clip and poster so that no file is ever left unreferenced.

Each file's name is recorded as a ``StagedFile`` row, committed, *before* the file is written
(``write``); the row is deleted in the transaction that saves the ``Asset`` (``settled``). A
worker killed in between leaves a listed file, never an unknown one:

- on resume (``adopt``, at the start of every delivery) the job's complete staged clip (its
  size and SHA-256 are recorded with its name) is taken as it is, not downloaded again: a
  paid clip is never thrown away, even when the provider no longer has it;
- ``remove_orphans`` (``kling_cleanup --orphans``, and the scheduler every
  ``ORPHAN_GRACE / 2`` seconds) deletes the staged files of requests that ended or are gone,
  older than ``ORPHAN_GRACE``: those nobody will adopt. A file an ``Asset`` references is
  never deleted, whatever its row says.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.db.models import Q
from django.utils import timezone

from ..conf import kling_settings
from ..files.download import CHUNK, Downloaded
from ..files.storage import discard_files
from ..models import ACTIVE, Asset, AssetKind, StagedFile, VideoRequest

logger = logging.getLogger("django_kling.flow.staging")


@dataclass
class Adopted(Downloaded):
    """A local copy of a clip already in storage under ``name`` (staged by a dead worker)."""

    name: str = ""


def write(job: VideoRequest, asset: Asset, content: bytes | File, filename: str, *,
          staged_kind: str = "") -> None:
    """Store ``content`` as ``asset``'s file, recorded as staged (as ``staged_kind``, by default
    the asset's kind) before it is written."""
    storage = asset.file.storage
    # Our names are unique (a UUID, ``files.storage``); should the storage still pick another
    # one, the row follows it below.
    name = asset.file.field.generate_filename(asset, filename)
    staged = StagedFile.objects.create(storage=kling_settings.STORAGE, name=name,
                                       kind=staged_kind or asset.kind, request_id=job.pk,
                                       size=asset.size,
                                       sha256=asset.sha256)
    if isinstance(content, bytes):
        content = ContentFile(content)
    try:
        saved = storage.save(name, content, max_length=asset.file.field.max_length)
    except Exception:  # nothing of it is kept: whatever was written goes, and the row with it
        with contextlib.suppress(Exception):
            storage.delete(name)
        StagedFile.objects.filter(pk=staged.pk).delete()
        raise
    if saved != name:  # the storage chose another name (it exists): follow it
        StagedFile.objects.filter(pk=staged.pk).update(name=saved)
    asset.file = saved


def write_clip(job: VideoRequest, clip: Asset, downloaded: Downloaded) -> list[Asset]:
    """``write`` the downloaded clip; an adopted one is already stored and is only named.

    Returns the assets whose files this call wrote (those to discard if saving fails)."""
    if isinstance(downloaded, Adopted):
        clip.file = downloaded.name
        return []
    with open(downloaded.path, "rb") as fh:
        write(job, clip, File(fh), "video.mp4")
    return [clip]


def settled(*assets: Asset) -> None:
    """The assets' rows are being saved (call inside their transaction): not staged any more."""
    StagedFile.objects.filter(storage=kling_settings.STORAGE,
                              name__in=[asset.file.name for asset in assets]).delete()


def discard(assets: Iterable[Asset]) -> None:
    """Delete the files of assets that will not be saved, and their staged rows; a file
    another worker's committed ``Asset`` references (it adopted it) stays."""
    names = [asset.file.name for asset in assets]
    kept = set(Asset.objects.filter(file__in=names).values_list("file", flat=True))
    discard_files(asset for asset in assets if asset.file.name not in kept)
    StagedFile.objects.filter(storage=kling_settings.STORAGE, name__in=names).delete()


@contextlib.contextmanager
def written(stored: list[Asset], *temp_paths: str) -> Iterator[None]:
    """Around storing files: those in ``stored`` (as the block appends them) are discarded if
    the block fails, and the local ``temp_paths`` are deleted in any case."""
    try:
        yield
    except BaseException:
        discard(stored)
        raise
    finally:
        for path in temp_paths:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)


def _staged_clips(job: VideoRequest) -> Iterator[StagedFile]:
    """The job's staged clips whose file is in storage at its full size (newest first)."""
    storage = storages[kling_settings.STORAGE]
    for staged in StagedFile.objects.filter(request_id=job.pk, kind=AssetKind.VIDEO,
                                            storage=kling_settings.STORAGE).order_by("-pk"):
        with contextlib.suppress(Exception):  # missing, or the storage cannot tell: not this one
            if staged.size and storage.size(staged.name) == staged.size:
                yield staged


def has_clip(job: VideoRequest) -> bool:
    """Whether ``adopt`` may find a clip for ``job`` (one stat of the file, no download)."""
    return next(_staged_clips(job), None) is not None


def adopt(job: VideoRequest) -> Adopted | None:
    """A complete clip a dead worker stored for ``job``, copied here to be checked, or None.

    A file cut short (or missing) is not adopted, nor removed: a worker still writing it must
    not lose it; ``remove_orphans`` deletes it once the request has ended."""
    for staged in _staged_clips(job):
        copy = _local_copy(staged)
        if copy is not None:
            logger.info("job %s: adopting the clip %s stored before its worker stopped",
                        job.pk, staged.name)
            return copy
    return None


def _local_copy(staged: StagedFile) -> Adopted | None:
    fd, path = tempfile.mkstemp(prefix="kling-", suffix=".mp4")
    copy = Adopted(path=path, size=0, sha256="", name=staged.name)
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out, \
                storages[kling_settings.STORAGE].open(staged.name, "rb") as source:
            while chunk := source.read(CHUNK):
                out.write(chunk)
                digest.update(chunk)
                copy.size += len(chunk)
    except OSError as exc:
        logger.info("staged clip %s not adopted: %s", staged.name, exc)
        copy.discard()
        return None
    copy.sha256 = digest.hexdigest()
    if (copy.size, copy.sha256) != (staged.size, staged.sha256 or copy.sha256):
        logger.info("staged clip %s not adopted: it is not the complete clip", staged.name)
        copy.discard()
        return None
    return copy


def orphans(grace: float | None = None) -> Any:
    """The staged rows nobody will adopt: older than ``grace`` (default ``ORPHAN_GRACE``)
    seconds, of requests that ended or were deleted."""
    grace = kling_settings.ORPHAN_GRACE if grace is None else grace
    return StagedFile.objects.filter(created_at__lte=timezone.now() - timedelta(seconds=grace)) \
        .exclude(Q(request__isnull=False) & Q(request__status__in=ACTIVE))


def remove_orphans(grace: float | None = None, *, dry_run: bool = False) -> list[str]:
    """Delete the files of ``orphans(grace)`` (not those an Asset references) and their rows;
    the names of the files deleted (or that would be)."""
    removed = []
    for staged in orphans(grace).order_by("pk")[:1000]:
        referenced = Asset.objects.filter(file=staged.name).exists()
        if not referenced:
            removed.append(staged.name)
        if dry_run:
            continue
        try:
            if not referenced and staged.storage in storages.backends:
                storages[staged.storage].delete(staged.name)
        except Exception:  # noqa: BLE001  (storage trouble: the row stays, tried again later)
            logger.warning("could not delete the staged file %s", staged.name)
            continue
        StagedFile.objects.filter(pk=staged.pk).delete()
    if removed and not dry_run:
        logger.info("removed %d staged file(s) nobody will adopt", len(removed))
    return removed
