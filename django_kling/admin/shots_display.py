"""A request's shots on its admin page (multi-shot prompts, Kling v3.0), in their order: what
was sent instead of the main prompt."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from ..request_shots import shots_of


class ShotsAdminMixin:
    @admin.display(description=_("shots"))
    def shots_list(self, obj: Any) -> SafeString | str:
        shots = shots_of(obj)
        if not shots:
            return "-"
        return format_html(
            '<ol class="kling-shots">{}</ol>',
            format_html_join("", "<li>{} <span>({})</span></li>", (
                (shot.prompt, gettext("%(seconds)d s") % {"seconds": shot.duration})
                for shot in shots)))
