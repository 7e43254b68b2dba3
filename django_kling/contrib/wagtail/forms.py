"""The "Generate video" form of the image bulk action: the admin's batch options plus a prompt.

The options (preset, duration, aspect, model, mode, sound, variants, languages and spoken
lines, negative prompt) are the Django admin's ``BatchOptionsForm``, so both admins offer the
same choices with the same defaults; the rules are checked by ``jobs.create_video_request`` as
everywhere else, and a batch makes the same clips per image as the admin's
(``admin.object_clips.queue_object``).
"""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from ...admin.forms import BatchOptionsForm


class GenerateVideoForm(BatchOptionsForm):
    prompt = forms.CharField(
        label=_("Prompt"), required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": _("What happens in the clip")}),
        help_text=_("The same prompt for every selected image; empty: the image's title."))

    field_order = ["preset", "prompt", "negative_prompt", "duration", "aspect_ratio", "model",
                   "mode", "sound", "variants", "languages", "speaker", "spoken_line_en",
                   "spoken_line_zh"]
