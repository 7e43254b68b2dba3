from __future__ import annotations

from django.contrib import admin

from ..models import Asset, VideoRequest


@admin.register(VideoRequest)
class VideoRequestAdmin(admin.ModelAdmin):
    list_display = ["id", "status", "duration", "aspect_ratio", "generate_audio", "provider",
                    "estimated_cost", "created_at"]
    list_filter = ["status", "provider", "generate_audio", "created_at"]
    search_fields = ["prompt", "id", "operation_id"]
    list_select_related = ["first_frame"]
    exclude = ["operation"]
    readonly_fields = [f.name for f in VideoRequest._meta.fields if f.name != "operation"]

    def has_add_permission(self, request) -> bool:
        return False  # jobs are created by the action, the commands or the API


@admin.register(Asset)
class AssetAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "mime", "size", "width", "height", "duration", "created_at"]
    list_filter = ["kind", "mime"]
    readonly_fields = [f.name for f in Asset._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False
