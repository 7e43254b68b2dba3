"""Signing a job's clip and poster with C2PA content credentials before they are stored.

A paid clip is never held back by its credentials: when signing fails (no library, a
certificate that cannot be read, a C2PA error) the clip and poster are stored as they came, the
request gets a ``clip_unsigned`` warning and the log a line, and ``kling_sign`` can sign them
later. Without a certificate configured nothing is attempted (``check --deploy`` says so,
W007). A clip adopted from a dead worker (``staging.adopt``) is already in storage as it was
written: it is not signed again.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from ..exceptions import SigningError
from ..files import credentials
from ..files.credentials import Ingredient, Provenance
from ..files.download import Downloaded
from ..models import Asset, VideoRequest
from .staging import Adopted

logger = logging.getLogger("django_kling.flow.signing")

WARNING_CODE = "clip_unsigned"


@dataclass
class Signed:
    """What to store: the clip (a signed copy, or the original), the poster, the warnings."""

    clip: Downloaded
    poster: tuple[bytes, int, int]
    warnings: list[dict[str, Any]] = field(default_factory=list)
    _copy: Downloaded | None = None

    def discard(self) -> None:
        if self._copy is not None:
            self._copy.discard()


def provenance(job: VideoRequest, created: datetime | None = None) -> Provenance:
    """The manifest's facts for ``job``'s files: model and provider, time, source images."""
    frames = [asset for asset in (job.first_frame, job.last_frame) if asset is not None]
    return Provenance(software_agent=f"{job.model} ({job.provider})",
                      created=created or timezone.now(),
                      ingredients=tuple(_ingredient(asset) for asset in frames))


def _ingredient(asset: Asset) -> Ingredient:
    name = asset.file.name or ""
    return Ingredient(title=os.path.basename(name) or str(asset.pk),
                      mime=asset.mime or "image/png", sha256=asset.sha256,
                      open=lambda: asset.file.storage.open(name, "rb"))


def unsigned_warning(error: SigningError) -> dict[str, Any]:
    return dict(type="unsigned", code="clip_unsigned", message=_(
        "The clip could not be signed with content credentials (%(reason)s). It is stored "
        "unsigned; run kling_sign once the cause is fixed.") % {"reason": error.message})


def sign(job: VideoRequest, downloaded: Downloaded, poster: tuple[bytes, int, int]) -> Signed:
    """Sign the clip and the poster for ``job`` (never raises: a failure is a warning)."""
    result = Signed(clip=downloaded, poster=poster)
    if not credentials.configured():
        return result
    try:
        facts = provenance(job)
        if not isinstance(downloaded, Adopted):
            result._copy = _signed_copy(downloaded, facts)
            result.clip = result._copy
        result.poster = (credentials.sign_bytes(poster[0], mime="image/jpeg",
                                                title="poster.jpg", provenance=facts),
                         *poster[1:])
    except Exception as exc:  # noqa: BLE001  (whatever it is, the paid clip is stored)
        error = exc if isinstance(exc, SigningError) else SigningError(
            _("Signing failed (%(error)s).") % {"error": type(exc).__name__})
        logger.warning("job %s: the clip is stored unsigned: %s", job.pk, error.message)
        result.discard()
        return Signed(clip=downloaded, poster=poster, warnings=[unsigned_warning(error)])
    return result


def _signed_copy(downloaded: Downloaded, facts: Provenance) -> Downloaded:
    fd, path = tempfile.mkstemp(prefix="kling-signed-", suffix=".mp4")
    os.close(fd)
    copy = Downloaded(path=path, size=0, sha256="")
    try:
        copy.size, copy.sha256 = credentials.sign_file(
            downloaded.path, path, mime="video/mp4", title="video.mp4", provenance=facts)
    except BaseException:
        copy.discard()
        raise
    return copy


# -- files stored before signing was configured (kling_sign) -----------------------------------

#: What ``sign_stored`` did with one file.
SIGNED, ALREADY, MISSING = "signed", "already signed", "missing"


def sign_stored(job: VideoRequest) -> dict[str, str]:
    """Sign ``job``'s stored clip and poster that carry no manifest yet (raises SigningError).

    Each signed file is written under a new name (recorded as staged first, like every file
    the flow stores), the asset row is pointed at it in one transaction, and the old file is
    deleted after the commit: a failure at any step leaves the unsigned clip in place, never
    no clip. Files that already carry a manifest are left as they are (idempotent).
    """
    created = job.finished_at or (job.video.created_at if job.video else None)
    facts = provenance(job, created=created)
    done = {}
    for kind, asset, mime in (("video", job.video, "video/mp4"),
                              ("poster", job.poster, "image/jpeg")):
        done[kind] = MISSING if asset is None or not asset.file else \
            _sign_asset(job, asset, mime, facts)
    if SIGNED in done.values() or ALREADY in done.values():
        kept = [w for w in job.warnings if w.get("code") != WARNING_CODE]
        if kept != job.warnings:
            VideoRequest.objects.update_fields(job, expect=job.status, warnings=kept)
    return done


def _sign_asset(job: VideoRequest, asset: Asset, mime: str, facts: Provenance) -> str:
    from django.core.files import File
    from django.db import transaction

    from . import staging

    storage, old = asset.file.storage, asset.file.name
    suffix = os.path.splitext(old)[1] or ".bin"
    with tempfile.TemporaryDirectory(prefix="kling-sign-") as folder:
        source, signed = os.path.join(folder, "in" + suffix), os.path.join(folder, "out" + suffix)
        try:
            with storage.open(old, "rb") as stored, open(source, "wb") as out:
                while chunk := stored.read(1024 * 1024):
                    out.write(chunk)
        except (OSError, FileNotFoundError):
            return MISSING
        with open(source, "rb") as fh:
            if credentials.has_manifest(fh, mime):
                return ALREADY
        asset.size, asset.sha256 = credentials.sign_file(
            source, signed, mime=mime, title=os.path.basename(old), provenance=facts)
        with open(signed, "rb") as fh:
            staging.write(job, asset, File(fh), os.path.basename(old))
    try:
        with transaction.atomic():
            Asset.objects.filter(pk=asset.pk).update(file=asset.file.name, size=asset.size,
                                                     sha256=asset.sha256)
            staging.settled(asset)
            transaction.on_commit(lambda: storage.delete(old))
    except Exception:
        staging.discard([asset])
        raise
    logger.info("job %s: %s signed (now %s)", job.pk, old, asset.file.name)
    return SIGNED


# -- files made from a stored clip (renditions, posters an editor picks, a remuxed clip) -------

def sign_derived(job: VideoRequest, path: str, *, mime: str, title: str) -> tuple[int, str] | None:
    """Sign, where it lies, a file made from ``job``'s clip after the clip was stored: a phone
    that gets the 480p rendition must get the credentials too. Returns the signed file's size
    and SHA-256, or None when it stays as it is (signing not configured, or it failed: logged,
    and the request warned; the file is kept)."""
    if not credentials.configured():
        return None
    fd, signed = tempfile.mkstemp(prefix="kling-signed-", suffix=os.path.splitext(path)[1])
    os.close(fd)
    try:
        changed = credentials.sign_file(path, signed, mime=mime, title=title,
                                        provenance=provenance(job, created=job.finished_at))
        os.replace(signed, path)
        return changed
    except SigningError as exc:
        _derived_unsigned(job, title, exc)
        return None
    finally:
        if os.path.exists(signed):
            os.unlink(signed)


def sign_derived_bytes(job: VideoRequest, data: bytes, *, mime: str, title: str) -> bytes:
    """``sign_derived`` for a file held in memory (a poster): the signed bytes, or ``data``."""
    if not credentials.configured():
        return data
    try:
        return credentials.sign_bytes(data, mime=mime, title=title,
                                      provenance=provenance(job, created=job.finished_at))
    except SigningError as exc:
        _derived_unsigned(job, title, exc)
        return data


def _derived_unsigned(job: VideoRequest, title: str, exc: SigningError) -> None:
    from .captioning import add_warning

    logger.warning("job %s: %s is stored unsigned: %s", job.pk, title, exc.message)
    add_warning(job, code=WARNING_CODE, message=unsigned_warning(exc)["message"])
