"""Putting stuck work back on track (``kling_sync``, worker start, cron).

A job is stuck when it is not final and its ``next_check_at`` lies further in the past than a
grace period: its message was lost (a broker restart, the in-memory broker of a stopped
process, a worker killed mid-step) or it was never enqueued. Re-enqueuing the step for its state
is always safe, because every step is idempotent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from ..conf import kling_settings
from ..models import ACTIVE, VideoRequest
from . import batch_queue, dispatch, renditions
from .steps import STEP_FOR_STATE


@dataclass
class SyncReport:
    requeued: dict[str, list[str]] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return sum(len(ids) for ids in self.requeued.values())


def default_grace() -> float:
    return 2 * kling_settings.MAX_POLL_INTERVAL + 60


def stuck_requests(grace: float | None = None):
    limit = timezone.now() - timedelta(seconds=default_grace() if grace is None else grace)
    return VideoRequest.objects.filter(status__in=ACTIVE).filter(
        Q(next_check_at__lte=limit) | Q(next_check_at__isnull=True))


def sync(grace: float | None = None, *, dry_run: bool = False) -> SyncReport:
    """Re-enqueue the step of every stuck job; returns what was (or would be) re-enqueued."""
    report = SyncReport()
    for pk, status in stuck_requests(grace).values_list("pk", "status"):
        step = STEP_FOR_STATE[status]
        report.requeued.setdefault(step, []).append(str(pk))
        if not dry_run:
            dispatch.send(step, pk)
    for pk in renditions.stuck(default_grace() if grace is None else grace) \
            .values_list("pk", flat=True):
        report.requeued.setdefault("rendition", []).append(str(pk))
        if not dry_run:
            dispatch.send("rendition", pk)
    for batch in batch_queue.stalled(default_grace() if grace is None else grace):
        report.requeued.setdefault("batch", []).append(str(batch.pk))
        if not dry_run:
            batch_queue.send(batch)
    return report

