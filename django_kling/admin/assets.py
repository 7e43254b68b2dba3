"""The admin of ``Asset``: every stored image, clip and poster with a preview and what was
probed from it. Files are written by the app only, so the pages are view pages.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ..models import Asset, AssetKind
from . import display
from .sources import OwnersChangeList

IMAGE_KINDS = (AssetKind.SOURCE_IMAGE, AssetKind.LAST_FRAME, AssetKind.POSTER)


class AssetAdmin(admin.ModelAdmin):
    list_display = ["preview_thumb", "kind", "mime", "size_display", "dimensions",
                    "duration_display", "owner_link", "created_at"]
    list_display_links = ["preview_thumb", "kind"]
    list_filter = ["kind", "mime", "has_audio", "created_at"]
    search_fields = ["=id", "file", "sha256"]
    list_per_page = 50
    list_select_related = ["content_type"]
    fieldsets = [
        (None, {"fields": ["preview", "kind", "owner_link", "field_name"]}),
        (gettext_lazy("File"), {"fields": ["storage_path", "download", "mime", "size_display",
                                           "sha256", "created_at"]}),
        (gettext_lazy("Probed metadata"), {"fields": ["dimensions", "duration_display", "fps",
                                                      "has_audio"]}),
    ]
    readonly_fields = ["preview", "owner_link", "storage_path", "download", "size_display",
                       "dimensions", "duration_display"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # what a file is and holds was measured from it; editing would lie

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[OwnersChangeList]:
        return OwnersChangeList

    @admin.display(description=gettext_lazy("preview"))
    def preview_thumb(self, asset: Asset) -> SafeString | str:
        if asset.kind in IMAGE_KINDS:
            return display.thumbnail(display.file_url(asset), asset.get_kind_display(), "small")
        return format_html('<span class="kling-clip-icon" title="{}">▶</span>', _("Video"))

    @admin.display(description=gettext_lazy("preview"))
    def preview(self, asset: Asset) -> SafeString | str:
        if asset.kind == AssetKind.VIDEO:
            return display.video_player(asset)
        url = display.file_url(asset)
        return format_html('<a href="{}">{}</a>', url, display.thumbnail(url, "", "preview")) \
            if url else display.EMPTY

    @admin.display(description=gettext_lazy("belongs to"))
    def owner_link(self, asset: Asset) -> SafeString | str:
        return display.source_link(asset, self.admin_site)

    @admin.display(description=gettext_lazy("storage path"))
    def storage_path(self, asset: Asset) -> str:
        return asset.file.name or display.EMPTY

    @admin.display(description=gettext_lazy("file"))
    def download(self, asset: Asset) -> SafeString | str:
        url = display.file_url(asset)
        return format_html('<a href="{}" download>{}</a>', url, _("Download")) if url \
            else display.EMPTY

    @admin.display(description=gettext_lazy("size"), ordering="size")
    def size_display(self, asset: Asset) -> str:
        return display.human_size(asset.size)

    @admin.display(description=gettext_lazy("dimensions"))
    def dimensions(self, asset: Asset) -> str:
        if not asset.width or not asset.height:
            return display.EMPTY
        return f"{asset.width} × {asset.height}"

    @admin.display(description=gettext_lazy("duration"), ordering="duration")
    def duration_display(self, asset: Asset) -> str:
        if asset.duration is None:
            return display.EMPTY
        return _("%(seconds).2f s") % {"seconds": asset.duration}
