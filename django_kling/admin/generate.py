"""The "Generate video" page: the confirmation form shown for the selected objects, and what
happens when the editor confirms it.

The same page serves the changelist action (it posts back to the changelist with the action's
hidden fields, so it works on any ``ModelAdmin``) and the "Generate video" button of one
object's change page (it posts to its own URL).

Each row is sent to ``jobs.create_video_request``, which checks the image and every option
before anything is stored or queued. Rows it refuses stay on the page with the reason; the
others are queued at once. A refusal of an option shared by the batch (sound without the pro
mode, say) is shown on that option and stops the batch before anything is queued.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.contrib import admin, messages
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html, strip_tags
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from ..conf import kling_settings
from ..exceptions import InvalidInput
from ..jobs import estimate_cost
from ..models import VideoRequest
from ..options import MAX_PROMPT_LENGTH
from . import display
from .forms import BatchOptionsForm, VideoRowForm, VideoRowFormSet, field_for_error
from .object_clips import (
    apply_preset_values,
    chosen_preset,
    clip_plan,
    preset_templates,
    queue_object,
    unfilled,
    unfilled_message,
)
from .offers import offers

TEMPLATE = "django_kling/admin/generate_video.html"
ROWS_PREFIX = "rows"
CONFIRM = "kling_confirm"
#: The "Apply preset" button: fills the form from the preset instead of queueing.
APPLY_PRESET = "kling_apply_preset"


@dataclass
class Row:
    obj: models.Model
    form: VideoRowForm
    image_url: str
    change_url: str


@dataclass(frozen=True)
class GenerateOptions:
    """How a ModelAdmin offers the action: which field holds the image, which one the prompt."""

    image_field: str = "image"
    prompt_field: str | None = None
    max_objects: int = 50
    #: What the editor needs on each object: "change" (default) or "view".
    source_permission: str = "change"


def render_or_queue(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    objects: Sequence[models.Model],
    options: GenerateOptions,
    *,
    post_back: Callable[[Sequence[models.Model]], list[tuple[str, str]]],
    form_url: str,
    done_url: str,
    single: bool = False,
) -> HttpResponse:
    """Show the confirmation page for ``objects``, or queue the confirmed rows.

    ``post_back`` gives the hidden fields that bring the confirmation back to this view for
    some of the objects (the action's own fields on a changelist); ``done_url`` is where the
    editor lands once every row was queued.
    """
    by_id = {str(obj.pk): obj for obj in objects}
    if request.method == "POST" and APPLY_PRESET in request.POST:
        batch, formset = _apply_preset(request, by_id)
    elif request.method == "POST" and CONFIRM in request.POST:
        batch = BatchOptionsForm(request.POST)
        formset = VideoRowFormSet(request.POST, request.FILES, prefix=ROWS_PREFIX)
        if formset.is_valid() and formset.total_form_count() > len(by_id):
            # A tampered form: rows repeating an object would each queue (and bill) a clip.
            model_admin.message_user(request, _(
                "The form sent %(rows)d rows for %(objects)d selected objects; nothing was "
                "queued. Check the rows and confirm again.")
                % {"rows": formset.total_form_count(), "objects": len(by_id)}, messages.ERROR)
            formset = _initial_formset(objects, options)
        elif batch.is_valid() and formset.is_valid():
            forms = _one_row_per_object(formset, by_id)
            queued, remaining = _queue(request, batch, forms, by_id, options)
            if queued:
                _announce(model_admin, request, queued)
            if not remaining:
                return HttpResponseRedirect(done_url)
            formset = _rebound(remaining)
    else:
        batch = BatchOptionsForm()
        formset = _initial_formset(objects, options)
    rows = _rows(model_admin, formset, by_id, options)
    opts = model_admin.model._meta
    per_clip = estimate_per_clip(batch)
    plan = clip_plan(batch, len(rows), per_clip)
    context = {
        **model_admin.admin_site.each_context(request),
        "title": _("Generate video"),
        "opts": opts,
        "app_label": opts.app_label,
        "single_object": objects[0] if single and objects else None,
        "batch_form": batch,
        "formset": formset,
        "rows": rows,
        "hidden_fields": post_back([row.obj for row in rows]),
        "confirm_name": CONFIRM,
        "form_url": form_url,
        "cancel_url": done_url,
        "per_clip": display.money(per_clip),
        "total": plan["total"],
        "count": len(rows),
        "clip_count": plan["clips"],
        "clips_per_row": plan["per_object"],
        "plan": plan,
        "apply_preset_name": APPLY_PRESET,
        "prices": price_table(),
        "offers": offers(list(kling_settings.MODELS)),
        "currency": kling_settings.CURRENCY,
        "media": model_admin.media + batch.media + formset.media,
    }
    request.current_app = model_admin.admin_site.name
    return TemplateResponse(request, TEMPLATE, context)


def _initial_formset(objects: Sequence[models.Model], options: GenerateOptions) -> Any:
    return VideoRowFormSet(prefix=ROWS_PREFIX, initial=[
        {"object_id": str(obj.pk), "prompt": _prefill(obj, options.prompt_field)}
        for obj in objects
    ])


def _one_row_per_object(formset: Any, by_id: dict[str, models.Model]) -> list[VideoRowForm]:
    """The rows for selected objects, the first one only where an object repeats."""
    seen: set[str] = set()
    forms = []
    for form in formset:
        object_id = form.cleaned_data.get("object_id")
        if object_id in by_id and object_id not in seen:
            seen.add(object_id)
            forms.append(form)
    return forms


def _rows(model_admin: admin.ModelAdmin, formset: Any, by_id: dict[str, models.Model],
          options: GenerateOptions) -> list[Row]:
    rows = []
    for form in formset:
        obj = by_id.get(form["object_id"].value())
        if obj is None:  # not among the selected objects (a tampered form): never shown
            continue
        rows.append(Row(
            obj=obj, form=form,
            image_url=display.fieldfile_url(getattr(obj, options.image_field, None)),
            change_url=display.admin_change_url(model_admin.admin_site, obj),
        ))
    return rows


def _queue(request: HttpRequest, batch: BatchOptionsForm, forms: list[VideoRowForm],
           by_id: dict[str, models.Model], options: GenerateOptions) \
        -> tuple[list[VideoRequest], list[VideoRowForm]]:
    """Create a job per row; return the jobs and the rows left on the page (with errors)."""
    shared = batch.cleaned_data
    preset = shared.get("preset")
    queued: list[VideoRequest] = []
    remaining: list[VideoRowForm] = []
    for index, form in enumerate(forms):
        source = by_id[form.cleaned_data["object_id"]]
        try:
            prompt = form.cleaned_data["prompt"]
            if not prompt and preset is not None:  # chosen but not applied (no JavaScript)
                prompt = preset.options_for(source)["prompt"]
            queued.extend(queue_object(source, options.image_field, request.user, shared,
                                       prompt=prompt,
                                       last_frame=form.cleaned_data["last_frame"] or None))
        except InvalidInput as error:
            target, field = field_for_error(error, batch, form)
            target.add_error(field, error.message)
            if target is batch:  # the same for every row: nothing more can be queued
                remaining.extend(forms[index:])
                break
            remaining.append(form)
    return queued, remaining


def _apply_preset(request: HttpRequest, by_id: dict[str, models.Model]) -> tuple[Any, Any]:
    """The posted forms with the chosen preset's values filled in (nothing is queued).

    Plain form posts, so it works without JavaScript (the script only presses the button
    when the preset changes). A preset that cannot fill an object's prompt or lines is refused
    at once, naming every such object, and the editor's options and prompts stay as they were.
    """
    data = request.POST.copy()
    preset = chosen_preset(BatchOptionsForm(data))
    if preset is not None:
        total = int(data.get(f"{ROWS_PREFIX}-TOTAL_FORMS") or 0)
        rows = {index: by_id[object_id] for index in range(min(total, len(by_id)))
                if (object_id := data.get(f"{ROWS_PREFIX}-{index}-object_id", "")) in by_id}
        refused = unfilled(rows.values(), preset_templates(preset))
        if refused:
            batch = BatchOptionsForm(request.POST)
            batch.add_error("preset", unfilled_message(refused))
            return batch, VideoRowFormSet(request.POST, prefix=ROWS_PREFIX)
        apply_preset_values(data, preset)
        for index, obj in rows.items():
            if preset.prompt_template:
                data[f"{ROWS_PREFIX}-{index}-prompt"] = preset.options_for(obj)["prompt"]
    return BatchOptionsForm(data), VideoRowFormSet(data, prefix=ROWS_PREFIX)


def _rebound(forms: list[VideoRowForm]) -> Any:
    """A formset of just these rows, with what was typed and the errors they got.

    Uploaded files cannot be sent back to the browser, so a last frame must be chosen again.
    """
    data = {f"{ROWS_PREFIX}-TOTAL_FORMS": str(len(forms)),
            f"{ROWS_PREFIX}-INITIAL_FORMS": "0"}
    for index, form in enumerate(forms):
        for name in ("object_id", "prompt"):
            data[f"{ROWS_PREFIX}-{index}-{name}"] = form[name].value() or ""
    formset = VideoRowFormSet(data, prefix=ROWS_PREFIX)
    formset.is_valid()
    for new, old in zip(formset, forms, strict=True):
        for field, errors in old.errors.items():
            new.add_error(None if field == "__all__" else field, errors)
    return formset


def _announce(model_admin: admin.ModelAdmin, request: HttpRequest,
              jobs: list[VideoRequest]) -> None:
    count = len(jobs)
    text = ngettext("%(count)d video was queued.", "%(count)d videos were queued.", count) % {
        "count": count}
    url = _watch_url(model_admin, jobs)
    if url:
        message = format_html('{} <a href="{}">{}</a>', text, url, ngettext(
            "Follow its progress.", "Follow their progress in the video requests.", count))
    else:
        message = text
    model_admin.message_user(request, message, messages.SUCCESS)


def _watch_url(model_admin: admin.ModelAdmin, jobs: list[VideoRequest]) -> str:
    """The request's page for one job, else the request list filtered to their objects."""
    opts = VideoRequest._meta
    name = f"{model_admin.admin_site.name}:{opts.app_label}_{opts.model_name}"
    try:
        if len(jobs) == 1:
            return reverse(f"{name}_change", args=[jobs[0].pk])
        url = reverse(f"{name}_changelist")
    except NoReverseMatch:
        return ""
    content_type = ContentType.objects.get_for_model(model_admin.model)
    ids = sorted({job.object_id for job in jobs})
    # review=all: reviewers otherwise land on clips awaiting review, and these are not done.
    query = {"source_type": content_type.pk, "object_id__in": ",".join(ids), "review": "all"}
    return f"{url}?{urlencode(query)}"


def _prefill(obj: models.Model, field: str | None) -> str:
    if not field:
        return ""
    value = getattr(obj, field, "")
    text = " ".join(strip_tags(str(value() if callable(value) else value or "")).split())
    return text[:MAX_PROMPT_LENGTH]


def price_table() -> dict[str, dict[str, dict[str, str]]]:
    """``PRICES`` as strings, for the page's script that keeps the estimate current."""
    return {model: {mode: {k: str(v) for k, v in table.items() if v is not None}
                    for mode, table in modes.items()}
            for model, modes in kling_settings.PRICES.items()}


def estimate_per_clip(batch: BatchOptionsForm) -> Decimal:
    """Price of one clip with the options shown (typed ones, else the defaults)."""
    def value(name: str) -> Any:
        return batch[name].value() if batch.is_bound else batch.initial.get(name)

    try:
        duration = int(value("duration"))
    except (TypeError, ValueError):
        duration = int(kling_settings.DEFAULTS["duration"])
    mode = value("mode") or kling_settings.DEFAULTS["mode"]
    sound = bool(value("sound"))
    return estimate_cost(duration=duration, mode=mode, sound=sound, model=value("model") or "",
                         voice=sound and bool(value("voices")))
