"""Making clips faststart: each one downloaded, before it is stored, and those stored before
faststart existed (``kling_renditions``).

The stored file is checked by its box headers only (a few bytes); one whose index comes last is
copied here, remuxed (no re-encoding) and stored under a new name; the ``Asset`` row then
points at it, and the old file is deleted once that commit is done. The row, its pk and
everything linked to it stay: only the bytes' order changes.
"""

from __future__ import annotations

from django.core.files import File
from django.db import transaction

from ..files import faststart
from ..files.download import Downloaded
from ..models import Asset, VideoRequest
from . import signing, staging
from .renditions import local_copy


def remux_downloaded(downloaded: Downloaded) -> None:
    """Make a clip just downloaded faststart before it is probed, signed and stored."""
    # An adopted clip is stored already (remuxed before it was written): renditions fix old ones.
    if not isinstance(downloaded, staging.Adopted):
        changed = faststart.make_faststart(downloaded.path)
        if changed is not None:
            downloaded.size, downloaded.sha256 = changed


def is_faststart(video: Asset) -> bool:
    with video.file.storage.open(video.file.name, "rb") as fh:
        return faststart.is_faststart(fh)


def remux_stored(job: VideoRequest, video: Asset) -> bool:
    """Make ``video`` (the clip of ``job``) faststart; False when it was already, or could not."""
    if is_faststart(video):
        return False
    path = local_copy(video)
    stored: list[Asset] = []
    with staging.written(stored, path):
        changed = faststart.make_faststart(path)
        if changed is None:
            return False
        # The remux drops a manifest kling_sign may have added: the new bytes are signed again.
        size, sha256 = signing.sign_derived(job, path, mime="video/mp4", title="video.mp4") \
            or changed
        old_name = video.file.name
        copy = Asset(kind=video.kind, mime=video.mime, size=size, sha256=sha256)
        with open(path, "rb") as fh:
            staging.write(job, copy, File(fh), "video.mp4", staged_kind="remux")
        stored.append(copy)
        storage = video.file.storage
        with transaction.atomic():
            if not Asset.objects.filter(pk=video.pk, file=old_name).update(
                    file=copy.file.name, size=size, sha256=sha256):
                raise RuntimeError("the clip changed meanwhile")
            staging.settled(copy)
            transaction.on_commit(lambda: storage.delete(old_name))
        video.file.name, video.size, video.sha256 = copy.file.name, size, sha256
        return True
