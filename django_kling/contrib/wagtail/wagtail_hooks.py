"""Wagtail's hooks: the image bulk action, the Videos viewset and the clip chooser."""

from __future__ import annotations

from django.templatetags.static import static
from django.utils.html import format_html
from wagtail import hooks

from .bulk_actions import GenerateVideoBulkAction
from .choosers import clip_chooser_viewset
from .viewsets import VideoRequestViewSet

hooks.register("register_bulk_action", GenerateVideoBulkAction)


@hooks.register("register_admin_viewset")
def register_videos() -> list:
    return [VideoRequestViewSet(), clip_chooser_viewset]


@hooks.register("insert_global_admin_css")
def kling_css() -> str:
    # Colours of the Videos list's status and review tags.
    return format_html('<link rel="stylesheet" href="{}">',
                       static("django_kling/wagtail/kling.css"))
