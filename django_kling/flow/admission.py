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
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from ..conf import PROVIDER_OPTIONS, kling_settings
from ..exceptions import InvalidTransition
from ..models import Status, Throttle, VideoBatch, VideoRequest
from . import dispatch, locks

logger = logging.getLogger("django_kling.flow.admission")
#: The states that hold a slot: the provider may be working on the job.
IN_FLIGHT = (Status.SUBMITTING, Status.RUNNING)
UNREAD = object()  #: ``limit``'s throttle, when the caller has not read it


def limit(provider: str, throttled: int | None | object = UNREAD) -> int | None:
    """The effective cap of ``provider`` now: ``MAX_IN_FLIGHT`` lowered by a recent 429.

    ``throttled``: the lowered cap in force, when the caller read it already (the submit's
    load does, in its one statement); by default it is read here."""
    cap = kling_settings.max_in_flight(provider)
    if throttled is UNREAD:
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
        chosen = _in_turn(queued, free)
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


def _in_turn(queued: QuerySet, count: int) -> list[Any]:
    """The first ``count`` of ``queued`` round robin over lanes (each batch, and the single
    requests as one more), oldest first in each: a few rows read per lane, never all of them
    (the lanes are the batches that have queued jobs, found through the batch's index)."""
    lanes = [None, *VideoBatch.objects.filter(Exists(queued.filter(batch=OuterRef("pk"))))
             .values_list("pk", flat=True)]
    heads = []
    for lane in lanes:
        rows = (queued.filter(batch__isnull=True) if lane is None else queued.filter(batch=lane))
        ranked = rows.order_by("created_at", "pk").values_list("created_at", "pk")[:count]
        heads.extend((turn, created, pk) for turn, (created, pk) in enumerate(ranked))
    return [pk for _turn, _created, pk in sorted(heads)[:count]]


def admit_waiting() -> None:
    """``admit`` for every provider with a cap (the scheduler's round): the providers come from
    the settings, so the round costs the same however many jobs wait."""
    for provider in PROVIDER_OPTIONS:
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
