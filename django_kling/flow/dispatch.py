"""Sending a step's message by its actor's name.

The modules that start work (``jobs``, ``admission``, ``batches``, ``sync``, ``scheduler``) are
also what the actors in ``tasks`` run, so they cannot import ``tasks`` without a cycle. They
send by name instead; the actors are declared on first use (importing ``tasks`` late, like
Celery's ``send_task``).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

import dramatiq
from dramatiq.errors import ActorNotFound

#: The actor of each pipeline step (``pipeline.Next.step``) and of batch creation.
ACTOR_NAMES = {"submit": "kling_submit", "poll": "kling_poll", "poll_now": "kling_poll_now",
               "fetch": "kling_fetch", "batch": "kling_batch", "rendition": "kling_rendition"}


def send(step: str, pk: Any, *, delay: float = 0.0) -> None:
    """Enqueue the message of ``step`` (a key of ``ACTOR_NAMES``) for the row ``pk``."""
    broker = dramatiq.get_broker()
    try:
        actor = broker.get_actor(ACTOR_NAMES[step])
    except ActorNotFound:
        import_module("django_kling.tasks")  # declares the actors on the broker
        actor = broker.get_actor(ACTOR_NAMES[step])
    actor.send_with_options(args=(str(pk),), delay=int(delay * 1000) or None)
