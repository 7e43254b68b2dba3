"""The admins of ``VideoPreset`` (editors keep the shots their team reuses) and ``Voice`` (the
voices a preset or the Generate page may choose, with their id on each provider)."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from ..video_presets import VideoPreset


class VideoPresetAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "formats", "duration", "mode", "sound", "has_speech"]
    prepopulated_fields = {"slug": ["name"]}
    search_fields = ["name", "slug", "prompt_template"]
    fieldsets = [
        (None, {"fields": ["name", "slug", "content_type"]}),
        (_("What the clip shows"), {"fields": ["prompt_template", "negative_prompt", "shots"]}),
        (_("Options"), {"fields": [("duration", "formats"), ("mode", "sound"), "model"]}),
        (_("Speech"), {"fields": ["speaker", "voice", "spoken_line_en", "spoken_line_zh"]}),
    ]

    @admin.display(description=_("speech"), boolean=True)
    def has_speech(self, preset: VideoPreset) -> bool:
        return bool(preset.spoken_line_en or preset.spoken_line_zh)


class VoiceAdmin(admin.ModelAdmin):
    list_display = ["name", "language", "gateway_id", "kling_id", "fal_id"]
    list_filter = ["language"]
    search_fields = ["name", "gateway_id", "kling_id", "fal_id"]
