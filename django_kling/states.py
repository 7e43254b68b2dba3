"""The job state machine: the states, the moves between them, and the one function that moves.

``transition()`` is the only writer of ``VideoRequest.status``. It locks the row, checks the move
against ``ALLOWED``, writes the new state with any fields that belong to the same step, and
commits, so two workers handling the same job can never both win.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .exceptions import InvalidTransition

if TYPE_CHECKING:
    from .models import VideoRequest


class Status(models.TextChoices):
    QUEUED = "queued", _("Queued")
    SUBMITTING = "submitting", _("Submitting")
    RUNNING = "running", _("Running")
    FETCHING = "fetching", _("Fetching")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    CANCELED = "canceled", _("Canceled")


FINAL = frozenset({Status.SUCCEEDED, Status.FAILED, Status.CANCELED})
ACTIVE = frozenset(set(Status) - FINAL)

_ENDINGS = {Status.FAILED, Status.CANCELED}
ALLOWED: dict[str, frozenset[str]] = {
    Status.QUEUED: frozenset({Status.SUBMITTING} | _ENDINGS),
    # A streaming call returns the clip itself, so submitting may go straight to fetching.
    Status.SUBMITTING: frozenset({Status.RUNNING, Status.FETCHING} | _ENDINGS),
    Status.RUNNING: frozenset({Status.FETCHING} | _ENDINGS),
    Status.FETCHING: frozenset({Status.SUCCEEDED} | _ENDINGS),
    Status.SUCCEEDED: frozenset(),
    Status.FAILED: frozenset(),
    Status.CANCELED: frozenset(),
}


def can_move(current: str, target: str) -> bool:
    return target in ALLOWED[current]


def transition(
    request: VideoRequest | Any,
    target: str,
    *,
    expect: str | frozenset[str] | set[str] | None = None,
    **fields: Any,
) -> VideoRequest:
    """Move the job with this pk (or instance) to ``target`` and save ``fields`` with it.

    ``expect`` restricts the states the move may start from (a worker that found the job in
    another state lost a race and should stop). Moving to ``FINAL`` states stamps
    ``finished_at``. Returns the fresh, saved instance.
    """
    from .models import VideoRequest

    pk = getattr(request, "pk", request)
    expected = {expect} if isinstance(expect, str) else expect
    with transaction.atomic():
        job = VideoRequest.objects.select_for_update().get(pk=pk)
        if expected is not None and job.status not in expected:
            raise InvalidTransition(
                f"job {pk} is {job.status}, expected {'/'.join(sorted(expected))}"
            )
        if not can_move(job.status, target):
            raise InvalidTransition(f"job {pk} cannot move from {job.status} to {target}")
        job.status = target
        if target in FINAL:
            fields.setdefault("finished_at", timezone.now())
        for name, value in fields.items():
            setattr(job, name, value)
        job._allow_status_write = True
        job.save(update_fields=["status", "updated_at", *fields])
    return job


def update_fields(request: VideoRequest | Any, *, expect: str | set[str], **fields: Any) -> bool:
    """Write worker-owned fields if the job is still in ``expect``, in one conditional UPDATE.

    Returns False (and writes nothing) when another worker moved the job meanwhile. The
    status check and the write are one statement, so no lock or transaction is needed; this
    runs on every poll, where a locked read-modify-write cost a quarter of the worker's time.
    """
    from .models import VideoRequest

    if "status" in fields:
        raise InvalidTransition("update_fields() never writes the status; use transition()")
    pk = getattr(request, "pk", request)
    expected = [expect] if isinstance(expect, str) else list(expect)
    return bool(VideoRequest.objects.filter(pk=pk, status__in=expected)
                .update(updated_at=timezone.now(), **fields))
