"""The gateway's completion callback: verified, replay-proof, and nothing but a nudge.

A callback only makes the worker ask the provider now instead of at the next fallback poll; the
status call stays the source of truth, so a forged or replayed call could at most cost one
status request, and every such call is refused before that.

Three checks, all in constant time where secrets are compared:
1. the URL carries a token derived from ``SECRET_KEY`` and the job id (so only the gateway,
   which was given the URL, knows it);
2. ``x-signature`` is the HMAC-SHA256 of ``<x-timestamp>.<body>`` with the job's signing secret,
   which the gateway returned at start and which is kept in the cache, never in the database;
3. ``x-timestamp`` is within ``WEBHOOK_TOLERANCE`` of now, and a signature is accepted once.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from typing import Any

from django.core.cache import caches
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.urls import reverse
from django.utils.crypto import constant_time_compare, salted_hmac
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from .conf import kling_settings
from .models import VideoRequest
from .states import Status

logger = logging.getLogger("django_kling.webhooks")

SALT = "django_kling.webhook"


def url_token(pk: Any) -> str:
    return salted_hmac(SALT, str(pk), algorithm="sha256").hexdigest()[:32]


def callback_url(pk: Any) -> str | None:
    """The absolute callback URL for a job, or None when webhooks are off."""
    base = kling_settings.WEBHOOK_URL
    if not base:
        return None
    return base.rstrip("/") + reverse("django_kling:webhook", args=[pk, url_token(pk)])


def _cache():
    return caches[kling_settings.WEBHOOK_CACHE]


def remember_secret(pk: Any, secret: str) -> None:
    _cache().set(f"django_kling:whsec:{pk}", secret, timeout=int(kling_settings.DEADLINE) + 3600)


def forget_secret(pk: Any) -> None:
    _cache().delete(f"django_kling:whsec:{pk}")


def signature(secret: str, timestamp: str, body: bytes) -> str:
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body,
                    hashlib.sha256).hexdigest()


def _refuse(reason: str, pk: Any) -> HttpResponse:
    logger.warning("webhook for %s refused: %s", pk, reason)
    return HttpResponseBadRequest(reason, content_type="text/plain")


@csrf_exempt
@require_POST
def webhook(request: HttpRequest, pk: Any, token: str) -> HttpResponse:
    if not constant_time_compare(token, url_token(pk)):
        return _refuse("bad token", pk)
    timestamp = request.headers.get("x-timestamp", "")
    sent = request.headers.get("x-signature", "")
    try:
        age = abs(time.time() - int(timestamp))
    except ValueError:
        return _refuse("no timestamp", pk)
    if age > kling_settings.WEBHOOK_TOLERANCE:
        return _refuse("stale timestamp", pk)
    secret = _cache().get(f"django_kling:whsec:{pk}")
    if not secret:
        return _refuse("no signing secret for this job", pk)
    if not sent or not constant_time_compare(sent, signature(secret, timestamp, request.body)):
        return _refuse("bad signature", pk)
    # add() is atomic in every cache backend: only the first delivery of a signature wins.
    if not _cache().add(f"django_kling:whseen:{sent}", 1,
                        timeout=2 * int(kling_settings.WEBHOOK_TOLERANCE)):
        return _refuse("replayed", pk)

    status = VideoRequest.objects.filter(pk=pk).values_list("status", flat=True).first()
    if status == Status.RUNNING:
        from .tasks import poll_now

        poll_now.send(str(pk))
    return JsonResponse({"accepted": status == Status.RUNNING})
