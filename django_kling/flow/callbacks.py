"""Completion callbacks, the part the worker needs: URL tokens and the signing-secret cache.

The pipeline asks a provider to call back at ``callback_url(pk)`` and keeps the job's signing
secret here; the view in ``webhooks.py`` reads both. Kept apart from the view so that the job
steps never import a view (nor, through it, the actors that run them).

The URL carries a token derived from ``SECRET_KEY`` and the job id, so only the provider, which
was given the URL, knows it. Secrets live in the cache named by ``WEBHOOK_CACHE``, never in
the database, and each delivery is accepted once.
"""

from __future__ import annotations

import math
from typing import Any

from django.core.cache import BaseCache, caches
from django.urls import reverse
from django.utils.crypto import salted_hmac

from ..conf import kling_settings

SALT = "django_kling.webhook"


def url_token(pk: Any) -> str:
    return salted_hmac(SALT, str(pk), algorithm="sha256").hexdigest()[:32]


def callback_url(pk: Any) -> str | None:
    """The absolute callback URL for a job, or None when webhooks are off."""
    base = kling_settings.WEBHOOK_URL
    if not base:
        return None
    return base.rstrip("/") + reverse("django_kling:webhook", args=[pk, url_token(pk)])


def _cache() -> BaseCache:
    return caches[kling_settings.WEBHOOK_CACHE]


def remember_secret(pk: Any, secret: str) -> None:
    _cache().set(f"django_kling:whsec:{pk}", secret, timeout=int(kling_settings.DEADLINE) + 3600)


def forget_secret(pk: Any) -> None:
    _cache().delete(f"django_kling:whsec:{pk}")


def secret_for(pk: Any) -> str | None:
    return _cache().get(f"django_kling:whsec:{pk}")


#: Seconds a delivery key is kept beyond the tolerance window (clock skew, slow caches).
REPLAY_MARGIN = 60


def replay_window() -> int:
    """Seconds a delivery key must be kept: any signed copy of it is refused after that.

    A copy is accepted while its timestamp is within ``WEBHOOK_TOLERANCE`` of now, in either
    direction, so it can arrive up to twice the tolerance after the first; whole seconds,
    rounded up, plus a margin, so that no tolerance (not even one under a second, which a
    cache timeout of 0 would have turned into "never expires" or "expires at once") opens a gap.
    """
    return 2 * math.ceil(max(float(kling_settings.WEBHOOK_TOLERANCE), 0.0)) + REPLAY_MARGIN


def first_delivery(pk: Any, key: str) -> bool:
    """True the first time job ``pk``'s delivery ``key`` is seen within the replay window."""
    # add() is atomic in every cache backend: only the first delivery of a key wins.
    return _cache().add(f"django_kling:whseen:{pk}:{key}", 1, timeout=replay_window())
