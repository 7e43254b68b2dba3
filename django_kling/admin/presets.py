"""The admins of ``VideoPreset`` (editors keep the shots their team reuses) and ``Voice`` (the
voices a preset or the Generate page may choose, with their id on each provider)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from ..video_presets import VideoPreset
from .shot_fields import ShotsField


class VideoPresetForm(forms.ModelForm):
    """The preset's shots in the Generate page's rows, not as raw JSON; stored as the JSON
    list the model keeps and checks (``VideoPreset.clean``)."""

    shots = ShotsField(help_text=_(
        "Optional, Kling v3.0 only: 2 to 6 shots, each with its own prompt and seconds, adding "
        "up to the duration (the prompt is then not sent). Shot prompts may use {object} and "
        "the object's fields."))

    class Meta:
        model = VideoPreset
        fields = ["name", "slug", "content_type", "prompt_template", "negative_prompt",
                  "shots", "duration", "formats", "mode", "sound", "model", "speaker", "voice",
                  "spoken_line_en", "spoken_line_zh"]

    def clean_shots(self) -> list[dict[str, Any]]:
        return [{"prompt": prompt, "duration": int(seconds) if seconds.isdigit() else seconds}
                for prompt, seconds in self.cleaned_data["shots"]]


class VideoPresetAdmin(admin.ModelAdmin):
    form = VideoPresetForm
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
