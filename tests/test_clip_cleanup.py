"""kling_cleanup: old rejected clips and unpicked variants lose their files, never their rows."""

from __future__ import annotations

import io
import uuid
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.utils import timezone

from django_kling.editorial import review
from django_kling.models import Asset, VideoRequest

from .test_review import copy_clip
from .test_templatetags import make_clip, make_product


def cleanup(*args) -> str:
    out = io.StringIO()
    call_command("kling_cleanup", *args, stdout=out)
    return out.getvalue()


def own_files(job: VideoRequest) -> VideoRequest:
    """``job`` with a video and poster of its own (copies of the stored files)."""
    assets = []
    for asset in (job.video, job.poster):
        copy = Asset.objects.create(kind=asset.kind, mime=asset.mime, size=asset.size)
        with asset.file.open("rb") as fh:
            copy.file.save(asset.file.name.rsplit("/", 1)[-1], ContentFile(fh.read()))
        assets.append(copy)
    VideoRequest.objects.filter(pk=job.pk).update(video=assets[0], poster=assets[1])
    job.refresh_from_db()
    return job


@pytest.mark.django_db
def test_cleanup_deletes_old_files_keeps_rows_and_never_touches_approved_clips(
        sandbox, make_image, django_capture_on_commit_callbacks):
    product = make_product(make_image)
    long_ago = timezone.now() - timedelta(days=31)
    kept = review.feature(make_clip(product))  # approved and featured
    rejected_old = own_files(review.reject(copy_clip(kept, featured=False)))
    VideoRequest.objects.filter(pk=rejected_old.pk).update(reviewed_at=long_ago)
    rejected_new = own_files(review.reject(copy_clip(kept, featured=False)))
    group = uuid.uuid4()
    variant_old = own_files(copy_clip(kept, featured=False, review_status="pending",
                                      variant_group=group, finished_at=long_ago))
    approved_variant = own_files(copy_clip(kept, featured=False, variant_group=group,
                                           finished_at=long_ago))
    pending_single = own_files(copy_clip(kept, featured=False, review_status="pending",
                                         finished_at=long_ago))
    storage = kept.video.file.storage
    doomed = [rejected_old.video.file.name, rejected_old.poster.file.name,
              variant_old.video.file.name]

    output = cleanup("--dry-run")
    assert "2 clip(s) would lose their files (dry run)." in output
    assert str(rejected_old.pk) in output and str(variant_old.pk) in output
    assert all(storage.exists(name) for name in doomed)

    with django_capture_on_commit_callbacks(execute=True):
        output = cleanup()
    assert "2 clip(s) lost their files; the rows are kept." in output
    assert not any(storage.exists(name) for name in doomed)
    for job in (rejected_old, variant_old):
        job.refresh_from_db()
        assert job.video_id is None and job.poster_id is None and job.status == "succeeded"
        assert job.estimated_cost > 0  # costs stay in the history
        assert job.warnings[-1]["type"] == "cleanup"
        assert "kling_cleanup" in job.warnings[-1]["message"]
    for job in (kept, rejected_new, approved_variant, pending_single):
        job.refresh_from_db()
        assert job.video_id is not None and storage.exists(job.video.file.name)
    assert "0 clip(s)" in cleanup()  # nothing more; safe to run again from cron


@pytest.mark.django_db
def test_cleanup_days_come_from_the_settings(sandbox, make_image, settings):
    product = make_product(make_image)
    job = own_files(review.reject(make_clip(product)))
    assert "0 clip(s)" in cleanup("--dry-run")
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "KEEP_REJECTED_DAYS": 0}
    assert "1 clip(s)" in cleanup("--dry-run")
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "KEEP_REJECTED_DAYS": None}
    assert "0 clip(s)" in cleanup("--dry-run")
    assert VideoRequest.objects.get(pk=job.pk).video_id is not None
