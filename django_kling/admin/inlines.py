"""The video requests of one object, shown read-only on that object's change page."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.contenttypes.admin import GenericTabularInline
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from ..models import Status, VideoRequest
from . import display
from .review import review_badges, review_buttons


class VideoRequestInline(GenericTabularInline):
    model = VideoRequest
    ct_field = "content_type"
    fk_field = "object_id"
    fields = ["status_badge", "clip", "review", "prompt_text", "options", "requested"]
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True
    verbose_name = _("video")
    verbose_name_plural = _("videos")
    template = "django_kling/admin/edit_inline/videos.html"  # says so when there is none

    class Media:
        css = {"all": ["django_kling/admin/kling.css"]}
        js = ["django_kling/admin/progress.js"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # The review buttons need the request; the inline's display methods only get the row.
        self._request = request
        return super().get_queryset(request).select_related("video", "poster", "first_frame",
                                                          "caption_track__asset")

    # Jobs are made by the action and written by workers: nothing to add or edit here.
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("status"))
    def status_badge(self, job: VideoRequest) -> SafeString:
        return display.status_badge(job, display.status_url(self.admin_site))

    @admin.display(description=_("clip"))
    def clip(self, job: VideoRequest) -> SafeString | str:
        if job.status == Status.SUCCEEDED:
            return display.video_player(job, width=320, preload="none")
        return display.thumbnail(display.file_url(job.first_frame), _("First frame"), "medium")

    @admin.display(description=_("review"))
    def review(self, job: VideoRequest) -> SafeString | str:
        if job.status != Status.SUCCEEDED:
            return display.EMPTY
        request = getattr(self, "_request", None)
        buttons = (review_buttons(request, self.admin_site, job, nested=True,
                                  next_url=request.get_full_path())
                   if request is not None else "")
        return format_html("{}<br>{}", review_badges(job), buttons)

    @admin.display(description=_("prompt"))
    def prompt_text(self, job: VideoRequest) -> str:
        return display.short_text(job.prompt, 120)

    @admin.display(description=_("options"))
    def options(self, job: VideoRequest) -> str:
        return display.clip_summary(job)

    @admin.display(description=_("requested"))
    def requested(self, job: VideoRequest) -> str:
        return display.age(job.created_at)
