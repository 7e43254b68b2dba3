"""Correcting a clip's captions in Wagtail's admin: the same form and rules as Django admin's.

The page shows the player with its track and the WebVTT text; saving stores the editor's text
as the corrected track (``editorial.captions``), "Regenerate" times the spoken line to the
audio again. Both need the app's permission to change caption tracks, and the request must be
one the editor may see (its image's collection).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext
from django.views import View
from wagtail.admin import messages

from ...caption_tracks import CaptionTrack
from ...editorial.captions import CaptionTrackForm, regenerate
from ...models import VideoRequest
from ...site.clips import Clip
from .permissions import visible_requests

PERMISSION = "django_kling.change_captiontrack"


class CaptionEditView(View):
    template_name = "django_kling_wagtail/edit_captions.html"
    inspect_url_name = ""

    def setup(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        super().setup(request, *args, **kwargs)
        if not request.user.has_perm(PERMISSION):
            raise PermissionDenied
        self.job = get_object_or_404(visible_requests(
            request.user, VideoRequest.objects.select_related("video", "poster")),
            pk=kwargs["pk"])

    def track(self) -> CaptionTrack | None:
        return CaptionTrack.objects.filter(request=self.job).first()

    def get(self, request: HttpRequest, pk: Any) -> HttpResponse:
        track = self.track()
        return self.render(request, CaptionTrackForm(instance=track) if track else None)

    def post(self, request: HttpRequest, pk: Any) -> HttpResponse:
        back = HttpResponseRedirect(request.path)
        if "regenerate" in request.POST:
            if regenerate(self.job, user=request.user) is None:
                messages.error(request, gettext("This clip has no spoken line: no captions."))
            else:
                messages.success(request, gettext("The captions were made again from the "
                                                  "clip's audio."))
            return back
        track = self.track()
        if track is None:
            return back
        form = CaptionTrackForm(request.POST, instance=track)
        if not form.is_valid():
            messages.error(request, gettext("The captions were not saved: see the error."))
            return self.render(request, form, status=400)
        form.store(user=request.user)
        messages.success(request, gettext("The corrected captions were saved."))
        return back

    def render(self, request: HttpRequest, form: CaptionTrackForm | None,
               status: int = 200) -> HttpResponse:
        job = self.job
        clip = Clip(job.video, job.poster, job) if job.video_id else None
        return TemplateResponse(request, self.template_name, {
            "object": job, "clip": clip, "form": form,
            "inspect_url": reverse(self.inspect_url_name, args=(job.pk,)),
            "page_title": gettext("Captions"),
        }, status=status)
