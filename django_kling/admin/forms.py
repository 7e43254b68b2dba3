"""The forms of the "Generate video" page: options for the whole batch, and one row per object.

The forms only collect what the editor typed; the model's rules are checked by
``jobs.create_video_request`` (the one place every entry point shares) and its
``InvalidInput`` errors are put back on the field they belong to (see ``field_for_error``).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from ..conf import kling_settings
from ..exceptions import InvalidInput
from ..options import MAX_VARIANTS, AspectRatio, Duration, Language, Mode, model_label
from ..options.routes import Wanted, validate_model
from ..options.shots import validate_shots, wanted_of
from ..video_presets import VideoPreset
from ..voices import Voice
from .offers import offer, refusal
from .shot_fields import ShotsField


class OfferedRadioSelect(forms.RadioSelect):
    """Radio buttons whose values outside ``offered`` are disabled (the model cannot)."""

    offered: frozenset[str] | None = None

    def create_option(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        option = super().create_option(*args, **kwargs)
        if self.offered is not None and str(option["value"]) not in self.offered:
            option["attrs"]["disabled"] = True
        return option


class BatchOptionsForm(forms.Form):
    """Options that apply to every clip of the batch."""

    preset = forms.ModelChoiceField(
        label=_("Preset"), queryset=VideoPreset.objects.all(), required=False,
        help_text=_("“Apply preset” fills the fields below from it (prompts from the "
                    "object's fields); you can still change them."))

    duration = forms.TypedChoiceField(label=_("Duration"), choices=Duration.choices, coerce=int,
                                      widget=OfferedRadioSelect)
    # Named for the option it fills; several formats make one clip each (a preset ticks its own).
    aspect_ratio = forms.MultipleChoiceField(
        label=_("Formats"), choices=AspectRatio.choices, widget=forms.CheckboxSelectMultiple,
        help_text=_("Aspect ratios: one clip is made per format ticked, e.g. 16:9 for the "
                    "product page and 9:16 for social posts."))
    model = forms.ChoiceField(
        label=_("Model"), widget=forms.RadioSelect, required=False,  # none: the default
        help_text=_("Kling v2.5 Turbo is faster and cheaper, for clips without sound."))
    mode = forms.ChoiceField(label=_("Mode"), choices=Mode.choices, widget=OfferedRadioSelect)
    sound = forms.BooleanField(
        label=_("Sound"), required=False,
        help_text=_("Sound that matches the picture (speech, music, ambience). Needs the pro "
                    "mode."))
    voices = forms.ModelChoiceField(
        label=_("Voice"), queryset=Voice.objects.all(), required=False,
        help_text=_("Who says the spoken line, where the model takes voices (see the feature "
                    "table); needs sound."))
    variants = forms.TypedChoiceField(
        label=_("Variants"), coerce=int, initial=1, required=False, empty_value=1,
        choices=[(n, str(n)) for n in range(1, MAX_VARIANTS + 1)],
        help_text=_("Several takes per object (the model varies each one), to compare and "
                    "pick the best."))
    languages = forms.MultipleChoiceField(
        label=_("One clip per language"), choices=Language.choices, required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("The language the clip speaks: one request per language chosen, with "
                    "its spoken line. None: a clip without a speech language."))
    speaker = forms.CharField(label=_("Speaker"), required=False, max_length=100,
                              help_text=_("Who says the line, e.g. “A young woman”. Lines may "
                                          "use {object} (the object itself) and its fields."))
    spoken_line_en = forms.CharField(label=_("Spoken line (English)"), required=False,
                                     widget=forms.Textarea(attrs={"rows": 2, "cols": 60}))
    spoken_line_zh = forms.CharField(label=_("Spoken line (Chinese)"), required=False,
                                     widget=forms.Textarea(attrs={"rows": 2, "cols": 60}))
    negative_prompt = forms.CharField(
        label=_("Negative prompt"), required=False,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text=_("What the clips should avoid, e.g. “blur, text, watermark”."))
    shots = ShotsField()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        defaults = kling_settings.DEFAULTS
        models = list(kling_settings.MODELS)
        default_model = str(kling_settings.provider_options().get("MODEL", ""))
        kwargs.setdefault("initial", {
            "duration": defaults["duration"], "aspect_ratio": [defaults["aspect_ratio"]],
            "mode": defaults["mode"], "sound": defaults["sound"],
            "model": default_model if default_model in models else next(iter(models), ""),
            "variants": 1,
        })
        kwargs.setdefault("prefix", "options")
        super().__init__(*args, **kwargs)
        # The MODELS setting, read per form: editors see what they may choose today.
        self.fields["model"].choices = [(model, model_label(model)) for model in models]
        self.offers_for(self.current_model())

    def current_model(self) -> str:
        """The model the page is for: the one sent, else the initial one."""
        chosen = self["model"].value() or self.initial.get("model") or ""
        return str(chosen) if chosen in kling_settings.MODELS else str(
            self.initial.get("model") or "")

    def offers_for(self, model: str) -> None:
        """Offer only what ``model`` can do (capability registry): other durations and modes
        are disabled, and so are sound and the voice on a model without them. The page's
        script does the same as the model changes; ``clean`` refuses the rest."""
        offered = offer(model)
        self.fields["duration"].widget.offered = frozenset(map(str, offered["durations"]))
        self.fields["mode"].widget.offered = frozenset(offered["modes"])
        for name, on in (("sound", offered["sound"]), ("voices", offered["voices"])):
            if not on:
                self.fields[name].widget.attrs["disabled"] = True
                self.initial[name] = False if name == "sound" else None
        if not offered["shots"]:
            for widget in self.fields["shots"].widget.widgets:
                widget.attrs["disabled"] = True
        if not offered["sound"]:
            # Shown off even when sent on (the error says why); clean still sees what was sent.
            self.fields["sound"].widget.check_test = lambda value: False

    def clean_voices(self) -> tuple[int, ...]:
        voice = self.cleaned_data.get("voices")
        return (voice.pk,) if voice is not None else ()

    def clean(self) -> dict[str, Any]:
        """Refuse, with the registry's message on its field, what no provider of the order
        can make with the chosen model (before any row is queued)."""
        data = super().clean()
        model = data.get("model") or self.current_model()
        if not model or self.errors:
            return data
        shots = data.get("shots") or ()
        try:  # the model first: "v2.6 takes no multi-shot prompts" says more than a count
            validate_model(model, allowed=kling_settings.MODELS, sound=False, shots=len(shots))
            shots = validate_shots(shots, duration=data.get("duration") or 5)
        except InvalidInput as exc:
            self.add_error("shots", exc.message)
            return data
        data["shots"] = shots
        wanted = Wanted(duration=data.get("duration") or 5, mode=data.get("mode") or "pro",
                        sound=bool(data.get("sound")), voices=len(data.get("voices") or ()),
                        **wanted_of(shots))
        refused = refusal(model, wanted)
        if refused is not None:
            field = refused.get("field")
            self.add_error(field if field in self.fields else None, refused["reason"])
        return data


class VideoRowForm(forms.Form):
    """One selected object: what its clip should show, and an optional last frame."""

    object_id = forms.CharField(widget=forms.HiddenInput)
    prompt = forms.CharField(
        label=_("Prompt"), required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 48,
                                     "placeholder": _("What happens in the clip")}))
    last_frame = forms.FileField(
        label=_("Last frame"), required=False,
        widget=forms.ClearableFileInput(attrs={"accept": "image/jpeg,image/png,image/webp"}),
        help_text=_("Optional: the picture the clip ends on (pro mode)."))


VideoRowFormSet = forms.formset_factory(VideoRowForm, extra=0)

#: Errors whose ``field`` is not where the editor can fix them.
ERROR_FIELDS = {
    "last_frame_needs_pro": "last_frame",  # raised on "mode", but only rows with a last frame
    "last_frame_sound_unsupported": "last_frame",  # raised on "sound", the same rows only
}


def field_for_error(error: InvalidInput, batch: BatchOptionsForm, row: VideoRowForm) -> \
        tuple[forms.Form, str | None]:
    """The form and field an ``InvalidInput`` from ``create_video_request`` belongs to.

    Options shared by the whole batch go to the batch form; the rest go to the row, on its
    field when it has one (prompt, last frame), else on the row as a whole (the object's image,
    the budget...).
    """
    field = ERROR_FIELDS.get(error.code, error.field)
    if field and field.startswith("shots"):  # "shots-2": the second row of the one field
        field = "shots"
    if field in batch.fields and field not in row.fields:
        return batch, field
    if field in row.fields and field != "object_id":
        return row, field
    return row, None
