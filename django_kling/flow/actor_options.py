"""The options every django-kling actor is declared with.

Apart from the actors (``tasks.py``) so that the system checks can compare them with the
broker's middleware without declaring the actors, which fails when an option is undefined.
"""

from __future__ import annotations

from ..conf import kling_settings

ACTOR_OPTIONS = {
    "queue_name": kling_settings.QUEUE_NAME,
    # Unexpected errors (a dropped database connection...) are retried by Dramatiq; provider
    # errors are handled by the steps themselves, which honour Retry-After.
    "max_retries": 5,
    "min_backoff": 1000,
    "max_backoff": 60_000,
    "time_limit": 30 * 60 * 1000,
}

#: The finishing steps (a webhook's nudge, the fetch of a finished clip) have a queue of their
#: own, taken before anything else a worker holds. On the main queue a nudge waited behind every
#: submit queued ahead of it: at 20,000 jobs in flight, 90 % of a webhook's lag (bench.webhooks).
FINISH_QUEUE = f"{kling_settings.QUEUE_NAME}_finish"
FINISH_OPTIONS = {**ACTOR_OPTIONS, "queue_name": FINISH_QUEUE, "priority": -1}

#: Renditions are CPU work of their own queue, so that encodes never hold up a job's steps; a
#: rendition counts its own tries (``flow.renditions``) and ends failed after the last one.
MEDIA_QUEUE = f"{kling_settings.QUEUE_NAME}_media"
MEDIA_OPTIONS = {**ACTOR_OPTIONS, "queue_name": MEDIA_QUEUE, "max_retries": 4,
                 "min_backoff": 5000}
