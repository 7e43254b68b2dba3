"""Keeping batches moving: sending a batch's next chunk, and finding batches whose message was lost.

The chunks themselves are made in ``editorial.batches``; the flow only needs to know that a batch
still has work, which it reads from the ``VideoBatch`` row, so the scheduler and ``kling_sync``
can resume a batch without knowing how its jobs are made.
"""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from ..conf import kling_settings
from ..models import VideoBatch
from . import dispatch


def send(batch: VideoBatch) -> None:
    dispatch.send("batch", batch.pk)

def stalled(idle: float):
    """Batches still making jobs that no worker holds and nothing moved for ``idle`` seconds:
    their message was lost with a worker."""
    now = timezone.now()
    return VideoBatch.objects.filter(
        Q(lease_until__isnull=True) | Q(lease_until__lt=now),
        status=VideoBatch.Status.CREATING, updated_at__lte=now - timedelta(seconds=idle))

def resume_stalled() -> int:
    """Send the stalled batches' next chunk again (the scheduler's round); how many."""
    count = 0
    for batch in stalled(kling_settings.SCHEDULER["LEASE"]):
        # Touched first, so the next round does not send it again while it waits in a queue.
        if VideoBatch.objects.filter(pk=batch.pk, updated_at=batch.updated_at).update(
                updated_at=timezone.now()):
            send(batch)
            count += 1
    return count
