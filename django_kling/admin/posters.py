"""Choosing a clip's poster in the admin: a page with a strip of frames (or a time to type).

``<request>/poster/`` shows the strip (``editorial.posters.frame_strip``) as buttons; posting
one cuts the poster again from the original (``editorial.posters.choose_poster``). It needs the
review permission: choosing what a clip shows is part of deciding how it is published.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ..clip_renditions import Rendition, RenditionStatus
from ..editorial import posters
from ..exceptions import MediaError
from ..models import Status, VideoRequest
from . import display
from .review import may_review


def poster_url(site: admin.AdminSite, job: VideoRequest) -> str:
    opts = VideoRequest._meta
    try:
        return reverse(f"{site.name}:{opts.app_label}_{opts.model_name}_poster", args=[job.pk])
    except NoReverseMatch:
        return ""


class PosterAdminMixin:
    """The poster page of ``VideoRequestAdmin`` (its ``poster_urls()`` go in ``get_urls``)."""

    @admin.display(description=gettext_lazy("renditions"))
    def renditions_list(self, job: VideoRequest) -> SafeString | str:
        """Each rendition of the clip: its state, and its size once made (or why it failed)."""
        rows = list(Rendition.objects.filter(clip_id=job.video_id).select_related("asset")) \
            if job.video_id else []
        if not rows:
            return display.EMPTY
        return format_html_join("", "<div>{}: {}</div>", (
            (row.name, format_html('<a href="{}">{}</a>, {} × {}, {}', display.file_url(row.asset),
                                   row.get_status_display(), row.asset.width, row.asset.height,
                                   display.human_size(row.asset.size))
             if row.status == RenditionStatus.READY and row.asset is not None
             else f"{row.get_status_display()} {row.error}".strip()) for row in rows))

    def poster_urls(self) -> list:
        opts = VideoRequest._meta
        wrap = self.admin_site.admin_view
        return [path("<path:object_id>/poster/", wrap(self.poster_view),
                     name=f"{opts.app_label}_{opts.model_name}_poster")]

    def poster_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not may_review(request):
            raise PermissionDenied
        job = self.get_object(request, object_id)
        if job is None or job.status != Status.SUCCEEDED or job.video is None:
            raise Http404
        opts = VideoRequest._meta
        change_url = reverse(f"{self.admin_site.name}:{opts.app_label}_{opts.model_name}_change",
                             args=[job.pk])
        if request.method == "POST":
            try:
                seconds = float(request.POST.get("time", ""))
            except ValueError:
                self.message_user(request, _("Pick a frame or type a time in seconds."),
                                  messages.ERROR)
                return HttpResponseRedirect(request.path)
            try:
                posters.choose_poster(job, seconds, by=request.user)
            except MediaError as exc:
                self.message_user(request, exc.message, messages.ERROR)
                return HttpResponseRedirect(request.path)
            self.message_user(request, _("The poster is now the frame at %(time).2f s.")
                              % {"time": seconds}, messages.SUCCESS)
            return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Choose the poster"), "opts": opts, "original": job,
            "strip": posters.frame_strip(job), "chosen": posters.chosen_time(job),
            "duration": job.video.duration, "change_url": change_url,
            "poster": job.poster,
        }
        return TemplateResponse(request, "django_kling/admin/videorequest/poster.html", context)
