"""The admin of ``CaptionTrack``: editors correct a clip's captions beside its player.

The change page edits the WebVTT text (checked by ``editorial.captions.CaptionTrackForm``: an
invalid text is a form error and nothing is stored); saving stores a new file and marks the
track corrected, so no automatic pass changes it again. "Regenerate captions" (here and on the
video requests) times the spoken line to the clip's audio again, replacing corrections.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from ..caption_tracks import CaptionTrack
from ..editorial.captions import CaptionTrackForm, regenerate
from ..files import webvtt
from ..models import VideoRequest
from . import display


def cue_list(track: CaptionTrack | None) -> SafeString | str:
    """The cues of a track as a list (start, end, text): what review shows beside the player."""
    if track is None:
        return ""
    try:
        cues = webvtt.parse(track.webvtt)
    except webvtt.WebVTTError:
        return display.EMPTY
    rows = format_html_join("", '<li><span class="kling-cue-time">{} \u2013 {}</span> {}</li>',
                            ((webvtt.timestamp(c.start)[3:], webvtt.timestamp(c.end)[3:],
                              webvtt.plain_text([c])) for c in cues))
    flag = format_html(' <strong class="kling-untimed">{}</strong>', _(
        "untimed: no speech was found, check the times")) if track.is_untimed else ""
    return format_html('<div class="kling-captions" lang="{}"><p>{} ({}){}</p><ol>{}</ol></div>',
                       track.language, _("Captions"), track.get_timing_display(), flag, rows)


def captions_beside(job: VideoRequest, admin_site: Any, request: HttpRequest) -> SafeString | str:
    """The cue list of a clip for its review panel, with a link to correct it."""
    track = track_of(job)
    if track is None:
        return ""
    link = ""
    if may_edit_captions(request):
        url = reverse(f"{admin_site.name}:django_kling_captiontrack_change", args=[track.pk])
        link = format_html('<p><a class="kling-edit-captions" href="{}">{}</a></p>', url,
                           _("Correct the captions"))
    return format_html("{}{}", cue_list(track), link)


def track_of(job: VideoRequest) -> CaptionTrack | None:
    try:
        return job.caption_track
    except CaptionTrack.DoesNotExist:
        return None


def regenerate_for(model_admin: admin.ModelAdmin, request: HttpRequest,
                   jobs: list[VideoRequest]) -> None:
    made = skipped = 0
    for job in jobs:
        try:
            track = regenerate(job, user=request.user)
        except Exception as exc:  # noqa: BLE001  (one clip's trouble is reported, not raised)
            model_admin.message_user(request, f"{job.pk}: {type(exc).__name__}", messages.ERROR)
            continue
        made += track is not None
        skipped += track is None
    if made:
        model_admin.message_user(request, ngettext(
            "The captions of %(count)d clip were made again from its audio.",
            "The captions of %(count)d clips were made again from their audio.", made)
            % {"count": made}, messages.SUCCESS)
    if skipped:
        model_admin.message_user(request, ngettext(
            "%(count)d request has no stored clip with a spoken line: no captions.",
            "%(count)d requests have no stored clip with a spoken line: no captions.", skipped)
            % {"count": skipped}, messages.WARNING)


def may_edit_captions(request: HttpRequest) -> bool:
    return request.user.has_perm("django_kling.change_captiontrack")


@admin.action(description=_("Regenerate captions from the clip's audio (replaces corrections)"),
              permissions=["kling_captions"])
def regenerate_captions(model_admin: admin.ModelAdmin, request: HttpRequest,
                        queryset: QuerySet) -> None:
    if queryset.model is CaptionTrack:
        jobs = [track.request for track in queryset.select_related("request__video")]
    else:
        jobs = list(queryset.select_related("video"))
    regenerate_for(model_admin, request, jobs)


class CaptionTrackAdmin(admin.ModelAdmin):
    form = CaptionTrackForm
    list_display = ["__str__", "request_link", "timing", "updated_at"]
    list_filter = ["timing", "language"]
    list_select_related = ["request"]
    search_fields = ["transcript", "=request__id"]
    actions = [regenerate_captions]
    fields = ["player", "request_link", "timing", "transcript", "webvtt", "edited_by"]
    readonly_fields = ["player", "request_link", "timing", "transcript", "edited_by"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # tracks are made from clips (or by the regenerate action)

    def has_kling_captions_permission(self, request: HttpRequest) -> bool:
        return may_edit_captions(request)

    def save_form(self, request: HttpRequest, form: Any, change: bool) -> CaptionTrack:
        return form.instance  # stored by save_model, as a new file

    def save_model(self, request: HttpRequest, obj: CaptionTrack, form: Any,
                   change: bool) -> None:
        form.store(user=request.user)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any,
                     change: bool) -> None:
        pass  # a track has no related rows to save

    @admin.display(description=_("clip"))
    def player(self, track: CaptionTrack) -> SafeString | str:
        return display.video_player(track.request, width=480)

    @admin.display(description=_("request"))
    def request_link(self, track: CaptionTrack) -> SafeString:
        url = reverse(f"{self.admin_site.name}:django_kling_videorequest_change",
                      args=[track.request_id])
        return format_html('<a href="{}">{}</a>', url, track.request)
