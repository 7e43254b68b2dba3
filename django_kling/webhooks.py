"""The completion callback view: verified, replay-proof, and nothing but a nudge.

A callback only makes the worker ask the provider now instead of at the next fallback poll; the
status call stays the source of truth, so a forged or replayed call could at most cost one
status request, and every such call is refused before that.

The checks, all in constant time where secrets are compared:
1. the URL carries the job's token (``callbacks.url_token``);
2. the cache holds the job's signing secret (``callbacks.secret_for``);
3. the job's provider verifies the signature and timestamp its own way
   (``VideoProvider.verify_callback``, within ``WEBHOOK_TOLERANCE``);
4. a delivery is accepted once.
"""

from __future__ import annotations

import logging
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.utils.crypto import constant_time_compare
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from . import callbacks
from .callbacks import url_token
from .conf import kling_settings
from .exceptions import CallbackRefused
from .models import Status, VideoRequest
from .providers import REGISTRY
from .tasks import poll_now

logger = logging.getLogger("django_kling.webhooks")


def _refuse(reason: str, pk: Any) -> HttpResponse:
    logger.warning("webhook for %s refused: %s", pk, reason)
    return HttpResponseBadRequest(reason, content_type="text/plain")


@csrf_exempt
@require_POST
def webhook(request: HttpRequest, pk: Any, token: str) -> HttpResponse:
    if not constant_time_compare(token, url_token(pk)):
        return _refuse("bad token", pk)
    secret = callbacks.secret_for(pk)
    row = VideoRequest.objects.filter(pk=pk).values_list("status", "provider").first() \
        if secret else None
    if not secret or row is None or row[1] not in REGISTRY:
        return _refuse("no signing secret for this job", pk)
    status, provider = row
    try:
        delivery = REGISTRY[provider].verify_callback(
            request.headers, request.body, secret, tolerance=kling_settings.WEBHOOK_TOLERANCE)
    except CallbackRefused as exc:
        return _refuse(exc.code, pk)
    if not callbacks.first_delivery(delivery):
        return _refuse("replayed", pk)
    if status == Status.RUNNING:
        poll_now.send(str(pk))
    return JsonResponse({"accepted": status == Status.RUNNING})
