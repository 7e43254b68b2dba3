"""Choosing a clip for a page: a ``ChooserViewSet`` over the succeeded requests.

Only requests with a stored clip that the site may show are offered (``clips.shown()``: the
approved ones under ``REQUIRE_APPROVAL``, else any not rejected). The chooser's widget and
its StreamField block (``ClipChooserBlock``) come from the viewset, as Wagtail generates them.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _
from wagtail.admin.ui.tables import Column
from wagtail.admin.views.generic.chooser import ChooseResultsView, ChooseView, ChosenView
from wagtail.admin.viewsets.chooser import ChooserViewSet
from wagtail.admin.widgets import BaseChooser

from ...models import Status, VideoRequest
from ...site.clips import shown
from .viewsets import PosterColumn, source_title


def clip_queryset() -> QuerySet[VideoRequest]:
    """The requests a page may show: succeeded, with a clip, and reviewed as the site needs."""
    return (VideoRequest.objects.filter(shown(), status=Status.SUCCEEDED, video__isnull=False)
            .select_related("video", "poster").prefetch_related("source_object")
            .order_by("-created_at"))


class _ClipColumns:
    @property
    def columns(self) -> list[Any]:
        title = self.title_column  # type: ignore[attr-defined]
        title.accessor = source_title  # the image's title, not the request's status and id
        return [title, PosterColumn(label=_("Poster")),
                Column("duration", label=_("Duration"))]


class ClipChooseView(_ClipColumns, ChooseView):
    pass


class ClipChooseResultsView(_ClipColumns, ChooseResultsView):
    pass


class ClipChosenView(ChosenView):
    def get_display_title(self, instance: VideoRequest) -> str:
        return source_title(instance)


class ClipChooserWidget(BaseChooser):
    def get_display_title(self, instance: VideoRequest) -> str:
        return source_title(instance)


class ClipChooserViewSet(ChooserViewSet):
    model = VideoRequest
    icon = "media"
    choose_one_text = _("Choose a clip")
    choose_another_text = _("Choose another clip")
    edit_item_text = _("Inspect")
    choose_view_class = ClipChooseView
    choose_results_view_class = ClipChooseResultsView
    chosen_view_class = ClipChosenView
    base_widget_class = ClipChooserWidget
    per_page = 12

    def get_object_list(self) -> QuerySet[VideoRequest]:
        return clip_queryset()


clip_chooser_viewset = ClipChooserViewSet("kling_clip_chooser", url_prefix="kling/clips")
_BaseClipChooserBlock = clip_chooser_viewset.get_block_class(
    name="ClipChooserBlock", module_path="django_kling.contrib.wagtail.choosers")


class ClipChooserBlock(_BaseClipChooserBlock):
    """The chooser's block; a stored value is the request's UUID as text."""

    def bulk_to_python(self, values: list[Any]) -> list[VideoRequest | None]:
        # Wagtail looks the ids up in ``in_bulk()``'s dict, whose keys are UUID objects, with
        # the text ids JSON gave back: no clip would ever be found.
        return super().bulk_to_python([_as_uuid(value) for value in values])


def _as_uuid(value: Any) -> Any:
    try:
        return uuid.UUID(str(value)) if value not in (None, "") else value
    except ValueError:
        return None  # not a request id (a hand-edited value): no clip, as for a deleted one
