"""The "Videos" menu item: a ``ModelViewSet`` over ``VideoRequest``.

Requests are made from images (the bulk action), never typed in, so the viewset offers no add
or edit form: its listing (status and review filters, poster, source) links to an inspect page
with the player and the actions. The actions call the app's own functions (``jobs`` for retry
and cancel, ``review`` for the editors' workflow): there is no second implementation here.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.functional import cached_property
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _
from wagtail.admin.admin_url_finder import ModelAdminURLFinder
from wagtail.admin.ui.tables import Column, DateColumn, TitleColumn
from wagtail.admin.views import generic
from wagtail.admin.views.generic import history, usage
from wagtail.admin.viewsets.model import ModelViewSet

from ...admin import display
from ...admin.captions import cue_list, track_of
from ...editorial import posters
from ...models import FINAL, Status, VideoRequest
from ...site.clips import Clip
from .actions import available_actions
from .bulk_actions import VIDEOS
from .captions import PERMISSION as CAPTIONS_PERMISSION
from .captions import CaptionEditView
from .permissions import may_request, visible_requests
from .views import VideoActionView, VideoPosterView


def source_title(job: VideoRequest) -> str:
    """What the clip was made from: the image's title, else (a deleted image) the prompt."""
    source = job.source_object
    if source is not None:
        return str(source)
    return Truncator(job.prompt).chars(60) or str(job.pk)


def poster_url(job: VideoRequest) -> str:
    return display.file_url(job.poster)


class PosterColumn(Column):
    """The request's own poster, whether or not its clip may be shown on the site yet."""

    cell_template_name = "django_kling_wagtail/poster_cell.html"

    def __init__(self, name: str = "poster", **kwargs: Any) -> None:
        super().__init__(name, accessor=poster_url, **kwargs)


class StateColumn(Column):
    """A status tag coloured by its state (``kling-status--failed``, ``kling-review--approved``:
    ``static/django_kling/wagtail/kling.css``), where Wagtail's own tags are all one grey."""

    cell_template_name = "django_kling_wagtail/state_cell.html"

    def __init__(self, name: str, kind: str = "status", **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self.kind = kind

    def get_cell_context_data(self, instance: Any, parent_context: Any) -> dict[str, Any]:
        context = super().get_cell_context_data(instance, parent_context)
        context.update(kind=self.kind, state=getattr(instance, self.name))
        return context


class VideoIndexView(generic.IndexView):
    @cached_property
    def columns(self) -> list[Any]:
        # The source's title leads to the inspect page (there is no edit form).
        columns = super().columns
        title = self._get_title_column_class(TitleColumn)
        columns[0] = title("source", label=_("Source"), accessor=source_title,
                           get_url=self.get_inspect_url)
        return columns

    def get_base_queryset(self) -> QuerySet[VideoRequest]:
        queryset = visible_requests(self.request.user, super().get_base_queryset())
        return queryset.select_related("poster", "video").prefetch_related("source_object")


class VideoInspectView(generic.InspectView):
    template_name = "django_kling_wagtail/inspect_video.html"
    action_url_name: str = ""
    poster_url_name: str = ""

    def get_object(self, queryset: Any = None) -> VideoRequest:
        return visible_object(self)

    def get_field_display_value(self, field_name: str, field: Any) -> Any:
        value = super().get_field_display_value(field_name, field)
        if isinstance(value, bool):  # not Python's False / True / None on the page
            return _("Yes") if value else _("No")
        return display.EMPTY if value is None or value == "" else value

    def get_mode_display_value(self) -> str:
        return display.mode_text(self.object)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        job = self.object
        # The request's own clip: reviewers must see it before the site may show it.
        clip = (Clip(job.video, job.poster, job)
                if job.status == Status.SUCCEEDED and job.video_id else None)
        context.update(
            clip=clip, source_title=source_title(job), final=job.status in FINAL,
            actions=available_actions(self.request.user, job),
            action_url_name=self.action_url_name,
            captions=cue_list(track_of(job)) if clip else "",
            captions_url=reverse(self.action_url_name.replace("action", "captions"),
                                 args=(job.pk,))
            if clip and self.request.user.has_perm(CAPTIONS_PERMISSION) else "",
            poster_url_name=self.poster_url_name,
            strip=posters.frame_strip(job) if clip is not None
            and may_request(self.request.user, "review") else None,
        )
        return context


def visible_object(view: Any) -> VideoRequest:
    """The view's request if the editor may see its image (collections), else not found."""
    return get_object_or_404(visible_requests(view.request.user, VideoRequest.objects.all()),
                             pk=view.pk)


class VideoHistoryView(history.HistoryView):
    def get_object(self) -> VideoRequest:
        return visible_object(self)


class VideoUsageView(usage.UsageView):
    def get_object(self) -> VideoRequest:
        return visible_object(self)


class VideoRequestViewSet(ModelViewSet):
    model = VideoRequest
    name = VIDEOS
    url_prefix = "kling/videos"
    icon = "media"
    menu_label = _("Videos")
    menu_order = 350  # next to Images (300) and Documents (400)
    add_to_admin_menu = True
    copy_view_enabled = False
    inspect_view_enabled = True
    index_view_class = VideoIndexView
    inspect_view_class = VideoInspectView
    history_view_class = VideoHistoryView
    usage_view_class = VideoUsageView
    list_filter = ["status", "review_status", "featured", "provider", "model"]
    list_per_page = 25
    ordering = ["-created_at"]
    inspect_view_fields = ["status", "review_status", "featured", "reviewed_by", "reviewed_at",
                           "review_note", "language", "prompt", "duration", "aspect_ratio", "mode",
                           "generate_audio", "model", "provider", "estimated_cost",
                           "reported_cost", "error_message", "created_at", "finished_at"]

    @property
    def list_display(self) -> list[Any]:
        return [
            Column("source", label=_("Source"), accessor=source_title),
            PosterColumn(label=_("Poster")),
            StateColumn("status", label=_("Status"), accessor="get_status_display"),
            # Only a clip is reviewed: a job still being made (or failed) has no review state.
            StateColumn("review_status", label=_("Review"), kind="review",
                        accessor=lambda job: job.get_review_status_display()
                        if job.status == Status.SUCCEEDED else ""),
            Column("featured", label=_("Featured"),
                   accessor=lambda job: "★" if job.featured else ""),
            DateColumn("created_at", label=_("Created")),
        ]

    @property
    def url_finder_class(self) -> type:
        # "Edit" links elsewhere in the admin (the chooser, reference listings) lead to the
        # inspect page, for whoever may view requests.
        inspect = self.get_url_name("inspect")

        class VideoURLFinder(ModelAdminURLFinder):
            edit_url_name = inspect

            def get_edit_url(self, instance: VideoRequest) -> str | None:
                if self.user is None or may_request(self.user, "view"):
                    return self.construct_edit_url(instance)
                return None

        return VideoURLFinder

    def get_common_view_kwargs(self, **kwargs: Any) -> dict[str, Any]:
        # No add or edit form: requests come from images, and change only through actions.
        return super().get_common_view_kwargs(
            **{"add_url_name": None, "edit_url_name": None, "delete_url_name": None, **kwargs})

    def get_inspect_view_kwargs(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_inspect_view_kwargs(action_url_name=self.get_url_name("action"),
                                               poster_url_name=self.get_url_name("poster"),
                                               **kwargs)

    def get_urlpatterns(self) -> list[Any]:
        # Wagtail's own list, minus the add, edit, copy and delete forms.
        view = VideoActionView.as_view(inspect_url_name=self.get_url_name("inspect"))
        captions = CaptionEditView.as_view(inspect_url_name=self.get_url_name("inspect"))
        return [
            path("", self.index_view, name="index"),
            path("results/", self.index_results_view, name="index_results"),
            path("inspect/<uuid:pk>/", self.inspect_view, name="inspect"),
            path("history/<uuid:pk>/", self.history_view, name="history"),
            path("history-results/<uuid:pk>/", self.history_results_view,
                 name="history_results"),
            path("usage/<uuid:pk>/", self.usage_view, name="usage"),
            path("captions/<uuid:pk>/", captions, name="captions"),
            path("<uuid:pk>/poster/", VideoPosterView.as_view(
                inspect_url_name=self.get_url_name("inspect")), name="poster"),
            path("<uuid:pk>/<slug:action>/", view, name="action"),
        ]
