"""The completion callback view: verified, replay-proof, and nothing but a nudge.

A callback only makes the worker ask the provider now instead of at the next fallback poll; the
status call stays the source of truth, so a forged or replayed call could at most cost one
status request, and every such call is refused before that.

The checks, all in constant time where secrets are compared:
1. the URL carries the job's token (``callbacks.url_token``): the only refusal possible
   without a signature, and what providers that sign nothing rely on;
2. the job exists and has not ended, and the cache holds its signing secret
   (``callbacks.secret_for``); otherwise the delivery is acknowledged and ignored;
3. the job's provider verifies the signature and timestamp its own way
   (``VideoProvider.verify_callback``, within ``WEBHOOK_TOLERANCE``);
4. a delivery is acted on once (``callbacks.first_delivery``); copies are acknowledged.

Only authentication failures (1 and 3) get a 4xx, with an empty body: the reason goes to the
``django.security.CallbackRefused`` logger, as Django logs its own suspicious requests. Every
other delivery gets a 2xx, so the sender stops retrying something that can never succeed.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.utils.crypto import constant_time_compare
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from .conf import kling_settings
from .exceptions import CallbackRefused
from .flow import callbacks
from .flow.callbacks import url_token
from .models import FINAL, Status, VideoRequest
from .providers import REGISTRY
from .tasks import poll_now

logger = logging.getLogger("django_kling.webhooks")
security_logger = logging.getLogger(f"django.security.{CallbackRefused.__name__}")


def _refuse(reason: str, pk: Any) -> HttpResponse:
    # The reason is for the site's logs only: a prober learns nothing from the answer.
    security_logger.warning("webhook for %s refused: %s", pk, reason)
    return HttpResponseBadRequest(b"", content_type="text/plain")


def _acknowledge(pk: Any, why: str, *, level: int = logging.INFO) -> HttpResponse:
    logger.log(level, "webhook for %s ignored: %s", pk, why)
    return JsonResponse({"accepted": False})


@login_not_required  # LoginRequiredMiddleware (Django 5.1+) would redirect the sender
@csrf_exempt
@require_POST
def webhook(request: HttpRequest, pk: Any, token: str) -> HttpResponse:
    if not constant_time_compare(token, url_token(pk)):
        return _refuse("bad token", pk)
    row = VideoRequest.objects.filter(pk=pk).values_list("status", "provider").first()
    if row is None:
        return _acknowledge(pk, "no such job")
    status, provider = row
    if status in FINAL:
        return _acknowledge(pk, "the job has ended")
    secret = callbacks.secret_for(pk)
    if not secret or provider not in REGISTRY:
        # Nothing to check the signature with (the start answer is not stored yet, or the
        # cache lost it): the fallback poll finishes the job.
        return _acknowledge(pk, "no signing secret for this job", level=logging.WARNING)
    try:
        delivery = REGISTRY[provider].verify_callback(
            request.headers, request.body, secret, tolerance=kling_settings.WEBHOOK_TOLERANCE)
    except CallbackRefused as exc:
        return _refuse(exc.code, pk)
    if not callbacks.first_delivery(pk, delivery):
        return _acknowledge(pk, "already received")
    if status != Status.RUNNING:
        return _acknowledge(pk, f"the job is {status}")
    poll_now.send(str(pk))
    return JsonResponse({"accepted": True})
