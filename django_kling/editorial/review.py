"""The editorial decisions on a clip: approve, reject, feature. The one implementation the
admin, the ``kling_review`` command and the Wagtail contrib app share.

Review is separate from the job status: a job that succeeded is ``pending`` review until a
person approves or rejects it. With ``REQUIRE_APPROVAL`` (the default) only approved clips
reach templates, ``clips`` helpers and JSON-LD. *Featuring* picks, among approved clips, the
one the site shows for its object, field, language and aspect ratio (its *slot*); a partial
unique constraint lets the database hold at most one featured clip per slot, whatever code
writes the rows.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from ..exceptions import ReviewError
from ..models import ReviewStatus, Status, VideoRequest
from ..signals import video_approved, video_rejected


def _user(by: Any) -> Any:
    return by if getattr(by, "is_authenticated", False) else None


def _decide(video_request: VideoRequest, decision: str, by: Any, note: str) -> VideoRequest:
    with transaction.atomic():
        job = VideoRequest.objects.select_for_update().get(pk=video_request.pk)
        if job.status != Status.SUCCEEDED:
            raise ReviewError(_("Only a finished clip can be reviewed; this request is "
                                "%(status)s.") % {"status": job.get_status_display()},
                              code="review_not_succeeded")
        changed = job.review_status != decision
        job.review_status = decision
        job.reviewed_by = _user(by)
        job.reviewed_at = timezone.now()
        job.review_note = note.strip()
        fields = ["review_status", "reviewed_by", "reviewed_at", "review_note", "updated_at"]
        if decision == ReviewStatus.REJECTED and job.featured:
            job.featured = False  # a rejected clip is never shown, featured or not
            fields.append("featured")
        job.save(update_fields=fields)
        if changed:
            signal = video_approved if decision == ReviewStatus.APPROVED else video_rejected
            transaction.on_commit(lambda: signal.send(sender=VideoRequest, request=job,
                                                      by=job.reviewed_by, note=job.review_note))
    _refresh(video_request, job)
    return job


def _refresh(target: VideoRequest, source: VideoRequest) -> None:
    # The caller's instance shows the decision too (the admin renders it right after).
    for name in ("review_status", "reviewed_by_id", "reviewed_at", "review_note", "featured"):
        setattr(target, name, getattr(source, name))


def approve(video_request: VideoRequest, *, by: Any = None, note: str = "") -> VideoRequest:
    """Mark a succeeded clip approved by ``by`` (sends ``video_approved`` on commit).

    Raises ``ReviewError`` (``review_not_succeeded``) for a job that has not succeeded.
    """
    return _decide(video_request, ReviewStatus.APPROVED, by, note)


def reject(video_request: VideoRequest, *, by: Any = None, note: str = "") -> VideoRequest:
    """Mark a succeeded clip rejected by ``by`` (no longer featured; sends ``video_rejected``).

    Raises ``ReviewError`` (``review_not_succeeded``) for a job that has not succeeded.
    """
    return _decide(video_request, ReviewStatus.REJECTED, by, note)


def slot_of(job: VideoRequest) -> dict[str, Any]:
    """What makes two clips compete for the same place on the site."""
    return {"content_type_id": job.content_type_id, "object_id": job.object_id,
            "field_name": job.field_name, "language": job.language,
            "aspect_ratio": job.aspect_ratio}


def feature(video_request: VideoRequest, *, by: Any = None) -> VideoRequest:
    """Make an approved clip the one its object shows (the slot's previous one steps down).

    The rows of the slot are locked in pk order first, so two editors featuring two clips at
    once are served one after the other (the last one wins, never both, and they cannot
    deadlock). Raises
    ``ReviewError``: ``feature_not_approved`` (not approved, or not finished),
    ``feature_conflict`` (the database refused a second featured clip, which the lock makes a
    never-seen case on databases with row locks).
    """
    try:
        with transaction.atomic():
            # The slot's rows (this one among them) are locked in pk order before anything is
            # read: locking this row first and the others after deadlocks two concurrent picks.
            slot = VideoRequest.objects.filter(
                **slot_of(VideoRequest.objects.get(pk=video_request.pk)))
            list(slot.select_for_update().order_by("pk").values_list("pk", flat=True))
            job = VideoRequest.objects.get(pk=video_request.pk)
            if job.status != Status.SUCCEEDED or job.review_status != ReviewStatus.APPROVED:
                raise ReviewError(_("Only an approved clip can be featured; this one is "
                                    "%(review)s.") % {"review": job.get_review_status_display()
                                                      if job.status == Status.SUCCEEDED
                                                      else job.get_status_display()},
                                  code="feature_not_approved")
            slot.filter(featured=True).exclude(pk=job.pk).update(featured=False,
                                                                 updated_at=timezone.now())
            if not job.featured:
                job.featured = True
                job.save(update_fields=["featured", "updated_at"])
    except IntegrityError:
        raise ReviewError(_("Another clip was featured for the same place at the same time; "
                            "reload and try again."), code="feature_conflict") from None
    _refresh(video_request, job)
    return job
