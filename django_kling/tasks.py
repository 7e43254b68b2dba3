"""Dramatiq actors: thin wrappers that run a pipeline step and schedule the next one.

Messages carry the job's primary key only; the database is the source of truth, so a lost or
duplicated message costs nothing that ``kling_sync`` cannot put right.
"""

from __future__ import annotations

import dramatiq

from .editorial import batches
from .flow import dispatch, pipeline, renditions
from .flow.actor_options import ACTOR_OPTIONS, FINISH_OPTIONS, MEDIA_OPTIONS


def schedule(pk: str, next_step: pipeline.Next | None) -> None:
    if next_step is not None:
        dispatch.send(next_step.step, pk, delay=next_step.delay)


@dramatiq.actor(actor_name="kling_submit", **ACTOR_OPTIONS)
def submit(pk: str) -> None:
    schedule(pk, pipeline.submit_step(pk))


@dramatiq.actor(actor_name="kling_poll", **ACTOR_OPTIONS)
def poll(pk: str) -> None:
    schedule(pk, pipeline.poll_step(pk))


@dramatiq.actor(actor_name="kling_poll_now", **FINISH_OPTIONS)
def poll_now(pk: str) -> None:
    """A webhook said the job finished: ask now rather than at the next scheduled poll."""
    schedule(pk, pipeline.poll_step(pk, forced=True))


@dramatiq.actor(actor_name="kling_fetch", **FINISH_OPTIONS)
def fetch(pk: str) -> None:
    schedule(pk, pipeline.fetch_step(pk))


@dramatiq.actor(actor_name="kling_batch", **ACTOR_OPTIONS)
def create_batch_jobs(pk: str) -> None:
    """Make the jobs of a batch's next chunk, then send itself for the chunk after."""
    if batches.create_chunk(pk):
        create_batch_jobs.send(pk)


@dramatiq.actor(actor_name="kling_rendition", **MEDIA_OPTIONS)
def rendition(pk: str) -> None:
    """Make one rendition of a stored clip (``flow.renditions``)."""
    renditions.make(int(pk))


ACTORS = {"submit": submit, "poll": poll, "fetch": fetch}
