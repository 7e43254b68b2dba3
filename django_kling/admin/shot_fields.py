"""The shots editor of the Generate pages (admin and Wagtail): one form field, ``shots``, shown
as up to six rows of a prompt and its seconds (``options.shots``).

One field rather than a formset, so both pages' loops over the batch options show it in its
place, it carries its errors like any option, and it needs no management form. Rows left
empty are dropped; what remains is checked by ``options.shots.validate_shots`` (the same
messages as the API and ``kling_generate``). The page's script hides and clears the rows for
a model that takes no shots; without JavaScript the server refuses them (``model_no_shots``).
Shot prompts may use the same placeholders as a spoken line; they are filled per object.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from ..options.shots import MAX_SHOTS, shot_parts


class ShotsWidget(forms.MultiWidget):
    """A prompt and a number of seconds per row."""

    template_name = "django_kling/admin/shots_widget.html"

    def __init__(self, rows: int = MAX_SHOTS) -> None:
        pair = []
        for _place in range(rows):
            pair += [forms.TextInput(attrs={"size": 60, "data-kling-shot": "prompt"}),
                     forms.NumberInput(attrs={"min": 1, "max": 15, "style": "width: 5em",
                                              "data-kling-shot": "duration"})]
        super().__init__(pair)

    def decompress(self, value: Any) -> list[Any]:
        values: list[Any] = []
        for shot in list(value or ())[:len(self.widgets) // 2]:
            prompt, seconds = shot_parts(shot)
            values += [prompt, seconds]
        return values + [None] * (len(self.widgets) - len(values))

    def get_context(self, name: str, value: Any, attrs: Any) -> dict[str, Any]:
        # MultiWidget decompresses only a value that is not a list; a preset's stored shots
        # are a list of shots, not the rows' flat values.
        if isinstance(value, (list, tuple)) and any(isinstance(v, (dict, list, tuple))
                                                    for v in value):
            value = self.decompress(value)
        context = super().get_context(name, value, attrs)
        subwidgets = context["widget"]["subwidgets"]
        context["widget"]["rows"] = [
            (place, subwidgets[2 * place - 2], subwidgets[2 * place - 1])
            for place in range(1, len(subwidgets) // 2 + 1)]
        return context


class ShotsField(forms.MultiValueField):
    """Up to ``MAX_SHOTS`` (prompt, seconds) rows; cleans to the filled rows, in order, as
    sent (checked by ``validate_shots`` once the duration is known)."""

    widget = ShotsWidget

    def __init__(self, **kwargs: Any) -> None:
        fields = []
        for _place in range(MAX_SHOTS):
            fields += [forms.CharField(required=False, strip=True),
                       forms.CharField(required=False, strip=True)]
        kwargs.setdefault("label", _("Shots"))
        kwargs.setdefault("help_text", _(
            "Optional, Kling v3.0 only: tell the clip as 2 to 6 shots, each with its own "
            "prompt and seconds, adding up to the duration (the prompt above is then not "
            "sent). Shot prompts may use {object} and the object's fields."))
        super().__init__(fields=fields, require_all_fields=False, required=False, **kwargs)

    def compress(self, data_list: list[Any]) -> tuple[tuple[str, str], ...]:
        values = list(data_list or ())
        pairs = zip(values[0::2], values[1::2], strict=False)
        return tuple((prompt or "", seconds or "") for prompt, seconds in pairs
                     if prompt or seconds)
