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
