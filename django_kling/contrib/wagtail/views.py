"""The POST-only view behind the buttons of a video's inspect page (retry, cancel, review)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext
from django.views import View
from wagtail.admin import messages

from ...editorial import posters
from ...exceptions import KlingError
from ...models import VideoRequest
from .actions import ACTIONS, available_actions
from .permissions import may_request, visible_requests


class VideoActionView(View):
    http_method_names = ["post"]
    inspect_url_name = ""

    def post(self, request: HttpRequest, pk: Any, action: str) -> HttpResponseRedirect:
        if action not in ACTIONS:
            raise Http404
        job = get_object_or_404(visible_requests(request.user, VideoRequest.objects.all()),
                                pk=pk)
        chosen = ACTIONS[action]
        if chosen not in available_actions(request.user, job):
            if chosen.applies(job):
                raise PermissionDenied
            messages.error(request, _not_now(job))
        else:
            try:
                result = chosen.run(job, request.user)
            except KlingError as error:  # e.g. the budget, or a transition that lost a race
                messages.error(request, error.message)
            else:
                if result is False:
                    messages.error(request, _not_now(job))
                else:
                    messages.success(request, str(chosen.done))
                    if isinstance(result, VideoRequest) and result.pk != job.pk:
                        job = result  # a retry: show the new request
        return HttpResponseRedirect(reverse(self.inspect_url_name, args=(job.pk,)))


class VideoPosterView(View):
    """The frame strip's form on the inspect page: the poster cut again at the picked time."""

    http_method_names = ["post"]
    inspect_url_name = ""

    def post(self, request: HttpRequest, pk: Any) -> HttpResponseRedirect:
        job = get_object_or_404(visible_requests(request.user, VideoRequest.objects.all()),
                                pk=pk)
        if not may_request(request.user, "review"):
            raise PermissionDenied
        try:
            seconds = float(request.POST.get("time", ""))
        except ValueError:
            messages.error(request, gettext("Pick a frame or type a time in seconds."))
        else:
            try:
                posters.choose_poster(job, seconds, by=request.user)
            except KlingError as error:
                messages.error(request, error.message)
            else:
                messages.success(request, gettext("The poster is now the frame at %(time).2f s.")
                                 % {"time": seconds})
        return HttpResponseRedirect(reverse(self.inspect_url_name, args=(job.pk,)))


def _not_now(job: VideoRequest) -> str:
    job.refresh_from_db()
    return gettext("Not possible now: the request is %(status)s.") % {
        "status": job.get_status_display()}
