"""Live progress: the state panel of a request's page and the JSON the progress script polls.

The panel is rendered by the same template on the first page load and, when the status
changes, for the script (which swaps it in without reloading the page), so both always agree.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from django.http import HttpRequest, JsonResponse
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from ..models import Status, VideoRequest
from . import display
from .captions import captions_beside
from .explanations import explain
from .review import review_badges

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin

#: What editors are told to expect: most clips take one to five minutes.
TYPICAL_SECONDS = (60, 300)
#: How often the script asks, in milliseconds.
POLL_INTERVAL_MS = 1500
#: Most ids answered in one call (a changelist page shows at most a few hundred rows).
MAX_IDS = 500
PANEL_TEMPLATE = "django_kling/admin/videorequest/panel.html"


def elapsed_seconds(job: VideoRequest) -> float:
    """Seconds since the job was queued, up to its end when it has ended."""
    end = job.finished_at or timezone.now()
    return max(0.0, (end - job.created_at).total_seconds())


def progress_text(job: VideoRequest) -> str:
    low, high = TYPICAL_SECONDS
    return _("%(elapsed)s elapsed (usually %(low)s–%(high)s minutes) · %(polls)s status calls") % {
        "elapsed": display.duration_text(elapsed_seconds(job)),
        "low": low // 60,
        "high": high // 60,
        "polls": job.poll_count,
    }


def panel_context(job: VideoRequest, model_admin: ModelAdmin, request: HttpRequest) -> dict:
    poll_url = display.status_url(model_admin.admin_site)
    opts = VideoRequest._meta
    site = model_admin.admin_site.name
    return {
        "job": job,
        "badge": display.status_badge(job, poll_url),
        "source": display.source_link(job, model_admin.admin_site),
        "running": job.status in (Status.SUBMITTING, Status.RUNNING, Status.FETCHING),
        "queued": job.status == Status.QUEUED,
        "progress": progress_text(job),
        "elapsed": int(elapsed_seconds(job)),
        "typical_high": TYPICAL_SECONDS[1],
        "player": display.video_player(job) if job.status == Status.SUCCEEDED else "",
        "captions": captions_beside(job, model_admin.admin_site, request)
        if job.status == Status.SUCCEEDED else "",
        "poster_url": display.file_url(job.poster),
        "video_url": display.file_url(job.video),
        "video_size": display.human_size(job.video.size) if job.video else "",
        "first_frame": display.thumbnail(display.file_url(job.first_frame), _("First frame"),
                                         "large"),
        "last_frame": (display.thumbnail(display.file_url(job.last_frame), _("Last frame"), "large")
                       if job.last_frame_id else ""),
        "clip": display.clip_summary(job),
        "cost": display.money(job.reported_cost if job.reported_cost is not None
                              else job.estimated_cost),
        "cost_is_estimate": job.reported_cost is None,
        "explanation": explain(job.error_code),
        # A succeeded job is not offered again: another take costs as much as the first.
        "can_retry": (job.status in (Status.FAILED, Status.CANCELED)
                      and model_admin.may_retry(request, job)),
        "can_cancel": job.is_active and model_admin.has_kling_cancel_permission(request),
        "retry_url": _url(site, opts, "retry", job),
        "cancel_url": _url(site, opts, "cancel", job),
        "poll_url": poll_url,
    }


def render_panel(job: VideoRequest, model_admin: ModelAdmin, request: HttpRequest) -> str:
    return render_to_string(PANEL_TEMPLATE, panel_context(job, model_admin, request), request)


def job_payload(job: VideoRequest) -> dict[str, Any]:
    return {
        "id": str(job.pk),
        "status": job.status,
        "label": str(job.get_status_display()),
        "final": job.is_final,
        "elapsed": int(elapsed_seconds(job)),
        "progress": progress_text(job),
        "poll_count": job.poll_count,
        # The review column's cell, once there is a clip to review.
        "review": review_badges(job) if job.status == Status.SUCCEEDED else "",
    }


def status_response(model_admin: ModelAdmin, request: HttpRequest) -> JsonResponse:
    """``?id=<uuid>&id=...[&panel=<uuid>]`` -> the status of each job (and one job's panel).

    The caller (``admin_view``) has already checked that this is a staff user; the view
    permission on video requests is checked by the model admin's view.
    """
    ids = []
    for value in request.GET.getlist("id")[:MAX_IDS]:
        try:
            ids.append(uuid.UUID(value))
        except ValueError:
            continue
    panel_id = request.GET.get("panel", "")
    jobs = model_admin.get_queryset(request).filter(pk__in=ids).select_related(
        "video", "poster", "first_frame", "last_frame", "content_type", "caption_track__asset")
    payload = {}
    for job in jobs:
        entry = job_payload(job)
        if str(job.pk) == panel_id:
            entry["panel"] = render_panel(job, model_admin, request)
        payload[str(job.pk)] = entry
    return JsonResponse({
        "jobs": payload,
        "in_flight": any(not entry["final"] for entry in payload.values()),
        "interval": POLL_INTERVAL_MS,
    })


def _url(site: str, opts: Any, name: str, job: VideoRequest) -> str:
    return reverse(f"{site}:{opts.app_label}_{opts.model_name}_{name}", args=[job.pk])
