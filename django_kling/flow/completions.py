"""What finished jobs teach the polling: recorded once per job, read once per planned check.

``record`` adds a finished job's completion interval to its kind's ``CompletionTimes`` row and
makes the plan again now and then (``POLL_PLAN["REPLAN"]``); ``plan_for`` gives the plan of a
job's kind, from a small per-process cache (a plan changes slowly; a status answer should not
cost a query more).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from datetime import datetime, timezone

from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from ..conf import kling_settings
from ..models import CompletionTimes, Status, VideoRequest
from .poll_plan import make_plan

logger = logging.getLogger("django_kling.flow.completions")

_cache: dict[tuple[str, str, str, int], tuple[float, list[float]]] = {}
_cache_lock = threading.Lock()


def kind(job: VideoRequest) -> tuple[str, str, str, int]:
    return (job.provider, job.model, job.mode, int(job.duration))


def running_like(job: VideoRequest) -> QuerySet[VideoRequest]:
    """The other jobs of ``job``'s kind running now."""
    provider, model, mode, duration = kind(job)
    return VideoRequest.objects.filter(provider=provider, model=model, mode=mode,
                                       duration=duration, status=Status.RUNNING).exclude(pk=job.pk)


def record(job: VideoRequest, done_at: datetime) -> None:
    """Job ``job`` was seen done at ``done_at``: it ended after its last "still running"
    answer (``checked_at``, else its submission) and by ``done_at``."""
    if job.submitted_at is None:
        return
    options = kling_settings.POLL_PLAN
    after = max((job.checked_at - job.submitted_at).total_seconds(), 0.0) \
        if job.checked_at else 0.0
    before = max((done_at - job.submitted_at).total_seconds(), after)
    provider, model, mode, duration = kind(job)
    try:
        with transaction.atomic():
            row, _created = CompletionTimes.objects.select_for_update().get_or_create(
                provider=provider, model=model, mode=mode, duration=duration)
            row.intervals = window(row.intervals, [round(after, 2), round(before, 2),
                                                   round(job.submitted_at.timestamp(), 2)],
                                   int(options["WINDOW"]))
            row.stale += 1
            seen, least = len(row.intervals), int(options["MIN_SAMPLES"])
            # A young plan is made again with every job: its first intervals are the widest.
            if seen >= least and (seen <= 2 * least or row.stale >= int(options["REPLAN"])):
                full = seen >= int(options["WINDOW"])
                row.plan = [round(t, 2) for t in make_plan(
                    [entry[:2] for entry in row.intervals]
                    + still_running(job, row.intervals[0] if full else None),
                    calls=float(options["CALLS"]),
                    max_gap=min(float(options["MAX_GAP"]),
                                float(kling_settings.MAX_POLL_INTERVAL)),
                    first_by=kling_settings.first_check(job.model),
                    min_gap=float(options["MIN_GAP"]), young=not full)]
                row.stale = 0
            row.save()
    except IntegrityError:  # two first jobs of a kind at once: one sample fewer is harmless
        logger.info("completion of %s not recorded (row created meanwhile)", job.pk)
        return
    if row.plan:
        with _cache_lock:
            _cache[kind(job)] = (time.monotonic(), row.plan)


def _submitted(entry: list[float]) -> float:
    return entry[2] if len(entry) > 2 else -math.inf  # an entry from before submission times


def window(entries: list[list[float]], entry: list[float], size: int) -> list[list[float]]:
    """The ``size`` most recently *submitted* finished jobs, ``entry`` among them.

    Not the most recently finished: after a batch, those are its slowest jobs, and a plan made
    from them would wait too long for the next batch's. With the jobs still running (see
    ``still_running``) the window is every job submitted since its oldest, whatever its time.
    """
    found = [*entries, entry]
    found.sort(key=_submitted)  # stable: entries without a time keep their order, oldest
    return found[-size:]


def still_running(job: VideoRequest, oldest: list[float] | None) -> list[tuple[float, float]]:
    """Jobs of ``job``'s kind still running, each as "ends after its last 'still running'
    answer" (right-censored; not after its age: it may have ended since, unseen): those
    submitted since the window's ``oldest`` entry (a full window), or all of them (a window
    holding every finished job of the kind). Left out, they would leave the estimate to the
    quick jobs of a batch only."""
    running = running_like(job).filter(submitted_at__isnull=False)
    if oldest is not None:
        if len(oldest) < 3:
            return []
        running = running.filter(submitted_at__gte=datetime.fromtimestamp(oldest[2],
                                                                         tz=timezone.utc))
    return [(max((checked - at).total_seconds(), 0.0) if checked else 0.0, math.inf)
            for at, checked in running.values_list("submitted_at", "checked_at")]


def plan_for(job: VideoRequest) -> list[float]:
    """The check plan of jobs like ``job`` (seconds after submission); empty until learned."""
    key = kind(job)
    now = time.monotonic()
    with _cache_lock:
        cached = _cache.get(key)
    # Kept for as long as the back-off's longest wait: a plan changes slowly.
    if cached is not None and now - cached[0] < float(kling_settings.MAX_POLL_INTERVAL):
        return cached[1]
    provider, model, mode, duration = key
    plan = (CompletionTimes.objects.filter(provider=provider, model=model, mode=mode,
                                           duration=duration)
            .values_list("plan", flat=True).first()) or []
    with _cache_lock:
        _cache[key] = (now, plan)
    return plan


def forget() -> None:
    """Drop this process's cached plans (tests, and after the table was edited)."""
    with _cache_lock:
        _cache.clear()
