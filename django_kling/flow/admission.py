"""The provider concurrency cap: which queued jobs may start now.

``MAX_IN_FLIGHT`` caps the jobs *in flight* at a provider (submitting or running there). Over
the cap, jobs stay ``queued`` and ``admit`` starts them as slots free: under the provider's
named lock it counts the jobs in flight, picks the oldest queued jobs, round robin over the
batches with the single requests as one more lane (so a 5,000-job batch does not shut out an
editor's one clip), moves them to ``submitting`` and sends their submit messages.

The count is read from the jobs themselves, so a worker that dies loses no slot: its job still
counts as in flight until ``kling_sync`` moves it on. ``admit`` runs when a job is created,
when a capped submit message arrives, and on every scheduler round (which frees slots by
polling jobs to their end): no message waits in a loop for a slot.

A 429 from a provider halves its effective cap (at least 1) for ``RATE_LIMIT_COOLDOWN``
seconds, also when no cap is set: ``throttle`` records the lowered limit in ``Throttle``.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import F, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from ..conf import kling_settings
from ..exceptions import InvalidTransition
from ..models import Status, Throttle, VideoRequest
from . import dispatch, locks

logger = logging.getLogger("django_kling.flow.admission")
#: The states that hold a slot: the provider may be working on the job.
IN_FLIGHT = (Status.SUBMITTING, Status.RUNNING)


def limit(provider: str) -> int | None:
    """The effective cap of ``provider`` now: ``MAX_IN_FLIGHT`` lowered by a recent 429."""
    cap = kling_settings.max_in_flight(provider)
    throttled = (Throttle.objects.filter(provider=provider, until__gt=timezone.now())
                 .values_list("limit", flat=True).first())
    if throttled is None:
        return cap
    return throttled if cap is None else min(cap, throttled)


def in_flight(provider: str) -> int:
    return VideoRequest.objects.filter(provider=provider, status__in=IN_FLIGHT).count()


def admit(provider: str, *, created_before: Any = None) -> list[Any]:
    """Start as many queued jobs of ``provider`` as its free slots allow; their pks.

    ``created_before`` limits the choice to jobs made before that time."""
    with transaction.atomic():
        locks.hold(f"admission:{provider}")
        cap = limit(provider)
        queued = VideoRequest.objects.filter(provider=provider, status=Status.QUEUED)
        if created_before is not None:
            queued = queued.filter(created_at__lte=created_before)
        free = (queued.count() if cap is None else cap - in_flight(provider))
        if free <= 0:
            return []
        # Round robin over lanes (each batch, and the single requests), oldest first.
        turn = Window(RowNumber(), partition_by=[F("batch_id")],
                      order_by=[F("created_at").asc(), F("pk").asc()])
        chosen = list(queued.annotate(turn=turn).order_by("turn", "created_at", "pk")
                      .values_list("pk", flat=True)[:free])
        admitted = []
        for pk in chosen:
            try:
                VideoRequest.objects.transition(pk, Status.SUBMITTING, expect=Status.QUEUED,
                                                next_check_at=timezone.now())
            except InvalidTransition:  # canceled meanwhile
                continue
            admitted.append(pk)
        for pk in admitted:
            transaction.on_commit(lambda pk=pk: dispatch.send("submit", pk))
    if admitted:
        logger.info("%s: %d job(s) admitted", provider, len(admitted))
    return admitted


def admit_waiting() -> None:
    """``admit`` for every provider with queued jobs and a cap (the scheduler's round)."""
    providers = (VideoRequest.objects.filter(status=Status.QUEUED)
                 .values_list("provider", flat=True).distinct())
    for provider in providers:
        if limit(provider) is not None:
            admit(provider)
    # An uncapped provider's jobs made while a 429 throttled it were left queued without a
    # submit message; when the throttle ends nothing else would start them. Those made after
    # it ended have their message already, hence the cut-off.
    for ended in Throttle.objects.filter(until__lte=timezone.now()):
        if kling_settings.max_in_flight(ended.provider) is None:
            admit(ended.provider, created_before=ended.until)
        Throttle.objects.filter(provider=ended.provider, until=ended.until).delete()


def throttle(provider: str) -> None:
    """A 429 from ``provider``: halve its effective concurrency for a while."""
    lowered = max(1, in_flight(provider) // 2)
    current = limit(provider)
    if current is not None:
        lowered = max(1, min(lowered, current // 2 or 1))
    until = timezone.now() + timedelta(seconds=kling_settings.RATE_LIMIT_COOLDOWN)
    Throttle.objects.update_or_create(provider=provider,
                                      defaults={"limit": lowered, "until": until})
    logger.info("%s answered 429: at most %d job(s) in flight until %s", provider, lowered,
                until)
