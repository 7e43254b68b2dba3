"""Posters editors choose: the frame strip they pick from, and the poster cut again at their pick.

The poster is always cut from the original clip (the sharpest frame there is) at the chosen
time, stored as WebP at the clip's size, and again at each ready rendition's size; with
``POSTER_JPEG`` a JPEG is kept beside each. The new files are written staged and committed with
the rows that point at them; the posters they replace are deleted once that commit is done.
The admin and the Wagtail app both call ``choose_poster``.
"""

from __future__ import annotations

import os
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from ..clip_renditions import PosterChoice, Rendition, RenditionStatus
from ..conf import kling_settings
from ..exceptions import MediaError
from ..files import posters
from ..flow import signing, staging
from ..flow.renditions import local_copy
from ..models import Asset, AssetKind, Status, VideoRequest

MIME = {"webp": "image/webp", "jpeg": "image/jpeg"}


def frame_strip(job: VideoRequest) -> list[dict[str, object]]:
    """Small frames of the clip, evenly spread (``time`` and a ``data:`` URL ``src``)."""
    path = local_copy(job.video)
    try:
        return posters.frame_strip(path, job.video.duration or float(job.duration),
                                   int(kling_settings.POSTER_STRIP_FRAMES))
    finally:
        os.unlink(path)


def chosen_time(job: VideoRequest) -> float | None:
    choice = PosterChoice.objects.filter(request=job).first()
    return choice.time if choice is not None else None


def _image_asset(job: VideoRequest, image: Any, fmt: str, size: tuple[int, int],
                 stored: list[Asset]) -> Asset:
    data = signing.sign_derived_bytes(job, posters.encode(image, fmt, size), mime=MIME[fmt],
                                      title=f"poster.{fmt}")
    video = job.video
    asset = Asset(kind=AssetKind.POSTER, mime=MIME[fmt], size=len(data), width=size[0],
                  height=size[1], content_type_id=video.content_type_id,
                  object_id=video.object_id, field_name=video.field_name)
    staging.write(job, asset, data, f"poster.{fmt}", staged_kind="poster")
    stored.append(asset)
    return asset


def choose_poster(job: VideoRequest, seconds: float, *, by: Any = None) -> Asset:
    """Cut ``job``'s poster again at ``seconds`` (clamped to the clip); the new WebP poster.

    Raises ``MediaError`` when the clip has no stored video or cannot be decoded."""
    video = job.video
    if job.status != Status.SUCCEEDED or video is None or not video.file:
        raise MediaError(_("This request has no stored clip to cut a poster from."),
                         code="media_no_frame")
    seconds = min(max(0.0, float(seconds)), max(0.0, (video.duration or 0) - 0.001))
    path = local_copy(video)
    stored: list[Asset] = []
    jpeg = kling_settings.POSTER_JPEG
    with staging.written(stored, path):
        image = posters.frame_at(path, seconds)
        size = (video.width or image.width, video.height or image.height)
        poster = _image_asset(job, image, "webp", size, stored)
        poster_jpeg = _image_asset(job, image, "jpeg", size, stored) if jpeg else None
        renditions = list(Rendition.objects.filter(clip=video, status=RenditionStatus.READY)
                          .select_related("asset"))
        cuts = {}
        for row in renditions:
            small = (row.asset.width, row.asset.height)
            cuts[row.pk] = (_image_asset(job, image, "webp", small, stored),
                            _image_asset(job, image, "jpeg", small, stored) if jpeg else None)
        with transaction.atomic():
            for asset in stored:
                asset.save()
            staging.settled(*stored)
            _replace(job, poster, poster_jpeg, seconds, by, renditions, cuts)
    return poster


def _replace(job: VideoRequest, poster: Asset, poster_jpeg: Asset | None, seconds: float,
             by: Any, renditions: list[Rendition], cuts: dict[int, tuple[Asset, Any]]) -> None:
    """Point the rows at the new posters and delete the old ones (their files go on commit)."""
    fresh = VideoRequest.objects.select_for_update().get(pk=job.pk)
    choice = PosterChoice.objects.filter(request=fresh).first()
    old = {fresh.poster_id, choice.jpeg_id if choice else None}
    VideoRequest.objects.filter(pk=fresh.pk).update(poster=poster, updated_at=timezone.now())
    PosterChoice.objects.update_or_create(request=fresh, defaults={
        "time": seconds, "jpeg": poster_jpeg,
        "chosen_by": by if getattr(by, "pk", None) else None})
    for row in renditions:
        old |= {row.poster_id, row.poster_jpeg_id}
        webp, small_jpeg = cuts[row.pk]
        Rendition.objects.filter(pk=row.pk).update(poster=webp, poster_jpeg=small_jpeg)
    # Never one that another request still shows (a retried request shares nothing but frames).
    in_use = set(VideoRequest.objects.exclude(pk=fresh.pk).filter(poster_id__in=old - {None})
                 .values_list("poster_id", flat=True))
    Asset.objects.filter(pk__in=old - in_use - {None}).delete()
    job.poster = poster
