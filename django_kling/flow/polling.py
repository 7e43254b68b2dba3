"""When a running job is asked about next, and who may ask: the claim on a job's status call.

A status call is made only by the worker holding the job's claim: ``claimed_until`` set in the
future by one conditional UPDATE (one job: a webhook's nudge, a legacy ``kling_poll`` message)
or by ``claim_due`` (the scheduler's batch, ``SELECT ... FOR UPDATE SKIP LOCKED`` on
PostgreSQL, under a named lock elsewhere). The claim ends with the poll's own write; a worker
that dies holding it loses it after ``SCHEDULER["LEASE"]`` seconds, so a job is never polled by
two workers at once and never left unpolled.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from django.db import DatabaseError, transaction
from django.db.models import Q
from django.utils import timezone

from ..conf import kling_settings
from ..models import Status, VideoRequest
from ..providers import provider_class
from . import completions, exploration, locks, poll_plan

SCHEDULER_LOCK = "scheduler"
logger = logging.getLogger("django_kling.flow.polling")


def expects_webhook(job: VideoRequest) -> bool:
    """Whether a callback is on its way for this job (then polling is only the fallback)."""
    return bool(kling_settings.WEBHOOK_URL and job.protocol != "stream"
                and "webhooks" in provider_class(job.provider).FEATURES)


#: Seconds after the time a provider said the job would end that it is asked about.
EXPECTED_MARGIN = 0.5


def first_check_delay(job: VideoRequest, *, webhook: bool,
                      expected: float | None = None) -> float:
    """Seconds from submission to the first status call: just after the time the provider
    said the job would take (``expected``, the sandbox says it), else where jobs like it were
    seen to end (``completions``), else the model's typical time (``FIRST_CHECK``); never
    later than ``FIRST_CHECK``."""
    delay = kling_settings.first_check(job.model)
    if webhook:
        return max(delay, kling_settings.WEBHOOK_POLL_INTERVAL)
    if expected is not None:
        return min(delay, expected + EXPECTED_MARGIN)
    if not completions.plan_for(job):
        return exploration.first_delay(job, delay)
    planned = planned_delay(job, 0.0)
    return delay if planned is None else planned


def planned_delay(job: VideoRequest, elapsed: float) -> float | None:
    """Seconds to the next check the learned plan places after ``elapsed`` seconds of the
    job's life; None while there is no plan, or once it is spent."""
    return poll_plan.next_check(completions.plan_for(job), elapsed,
                                min_gap=float(kling_settings.POLL_PLAN["MIN_GAP"]))


def after_pending(job: VideoRequest, polls: int, *, now: datetime, webhook: bool | None = None,
                  expected: float | None = None) -> float:
    """Seconds to the next status call after a "still running" answer: just after the time
    the provider says is left (``expected``; at most the back-off), else the plan's next
    check, else (no plan yet, or the job outlived it) the back-off of ``pending_delay``.
    ``webhook``: whether a callback is on its way (None: ``expects_webhook(job)``)."""
    webhook = expects_webhook(job) if webhook is None else webhook
    if expected is not None and not webhook:
        return min(pending_delay(polls, webhook=False), expected + EXPECTED_MARGIN)
    if not webhook and job.submitted_at is not None:
        elapsed = (now - job.submitted_at).total_seconds()
        plan = completions.plan_for(job)
        if not plan:
            exploring = exploration.next_delay(job, elapsed)
            if exploring is not None:
                return exploring
        planned = planned_delay(job, elapsed)
        if planned is not None:
            return planned
        if plan:
            return after_plan(elapsed - plan[-1])
    return pending_delay(polls, webhook=webhook)


def after_plan(overdue: float) -> float:
    """Seconds to the next status call of a job that outlived its plan by ``overdue`` seconds:
    the plan ends where the slowest job seen ended, so the job is likely to end soon: asked
    after ``POLL_PLAN["MIN_GAP"]``, then after as long again as it has been since the plan's
    end (a back-off that starts at the plan's end, not at the job's first call), up to
    ``POLL_PLAN["MAX_GAP"]`` (the plan's own bound; a young plan can end early, and a back-off
    to ``MAX_POLL_INTERVAL``, 25 s, made the lag's p99 17-20 s from nothing, replayed).
    (From ``POLL_INTERVAL``, 5 s, a 5 s sandbox job a little slower than the ones before
    waited 4.35 s.)"""
    options = kling_settings.POLL_PLAN
    longest = min(max(kling_settings.MAX_POLL_INTERVAL, kling_settings.POLL_INTERVAL),
                  float(options["MAX_GAP"]))
    return min(max(float(options["MIN_GAP"]), overdue), longest)


def pending_delay(polls: int, *, webhook: bool) -> float:
    """Seconds until the next status call after ``polls`` answers of "still running".

    ``POLL_INTERVAL`` after the first answer, doubling up to ``MAX_POLL_INTERVAL``; with a
    webhook expected, ``WEBHOOK_POLL_INTERVAL`` (a webhook usually ends the job first).
    """
    if webhook:
        return max(kling_settings.WEBHOOK_POLL_INTERVAL, kling_settings.POLL_INTERVAL)
    return min(kling_settings.POLL_INTERVAL * 2 ** max(polls - 1, 0),
               max(kling_settings.MAX_POLL_INTERVAL, kling_settings.POLL_INTERVAL))


def nudge_delay(job: VideoRequest) -> float:
    """When to repeat a webhook's nudge for a job another worker is polling (once that poll
    has ended: its answer may predate the webhook, or its lease ran out) or that is not
    marked running yet (the webhook came before the answer to our start call)."""
    if job.status == Status.SUBMITTING:
        return min(1.0, kling_settings.POLL_INTERVAL)
    left = (job.claimed_until - timezone.now()).total_seconds() if job.claimed_until else 0
    return min(max(left, 0.1), kling_settings.POLL_INTERVAL)


def lease_end(now: datetime | None = None) -> datetime:
    return (now or timezone.now()) + timedelta(seconds=kling_settings.SCHEDULER["LEASE"])


def _unclaimed(now: datetime) -> Q:
    return Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)


def claim_one(pk: Any, *, due_only: bool) -> datetime | None:
    """Claim one running job for a status call: the claim's end (``claimed_until``), or None
    if another worker holds it (or, with ``due_only``, if its next check is not due yet)."""
    now = timezone.now()
    due = Q(next_check_at__lte=now + timedelta(seconds=kling_settings.POLL_INTERVAL / 2)) \
        if due_only else Q()
    end = lease_end(now)
    claimed = (VideoRequest.objects.filter(_unclaimed(now), due, pk=pk, status=Status.RUNNING)
               .update(claimed_until=end))
    return end if claimed else None


@contextlib.contextmanager
def released_on_error(pk: Any, claim: datetime | None) -> Iterator[None]:
    """Give the claim ``claim`` back when the poll made under it fails unexpectedly.

    The lease is for a worker that died; one that caught an error ("database is locked" on
    SQLite under load) says so at once, so the job is asked about again after
    ``POLL_INTERVAL`` instead of after the whole lease (120 s by default).
    """
    try:
        yield
    except Exception:
        if claim is not None:
            try:
                VideoRequest.objects.filter(pk=pk, status=Status.RUNNING,
                                            claimed_until=claim).update(
                    claimed_until=None, next_check_at=timezone.now() + timedelta(
                        seconds=kling_settings.POLL_INTERVAL))
            except DatabaseError:
                logger.warning("job %s: its claim could not be given back; it lapses after "
                               "the lease", pk, exc_info=True)
        raise


def claim_due(limit: int) -> list[VideoRequest]:
    """Claim up to ``limit`` running jobs whose next check is due, the most overdue first."""
    now = timezone.now()
    with transaction.atomic():
        if not locks.skip_locked():
            locks.hold(SCHEDULER_LOCK)  # SQLite: claimers take turns instead of skipping
        pks = list(VideoRequest.objects.select_for_update(skip_locked=True)
                   .filter(_unclaimed(now), status=Status.RUNNING, next_check_at__lte=now)
                   .order_by("next_check_at").values_list("pk", flat=True)[:limit])
        if not pks:
            return []
        VideoRequest.objects.filter(pk__in=pks).update(claimed_until=lease_end(now))
    return list(VideoRequest.objects.filter(pk__in=pks))


def next_due_in(default: float) -> float:
    """Seconds until the earliest unclaimed running job is due (``default`` if none)."""
    now = timezone.now()
    first = (VideoRequest.objects.filter(_unclaimed(now), status=Status.RUNNING)
             .order_by("next_check_at").values_list("next_check_at", flat=True).first())
    if first is None:
        return default
    return min(default, max(0.0, (first - now).total_seconds()))
