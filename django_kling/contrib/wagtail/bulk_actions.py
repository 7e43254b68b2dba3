"""The "Generate video" bulk action of Wagtail's image listing.

Wagtail runs ``execute_action`` inside one transaction; ``create_video_request`` queues each
job with ``transaction.on_commit``, so no worker sees a job before the whole batch is saved.
Each image is linked to its job through the app's generic source link (content type, id and
the ``file`` field of ``get_image_model()``); the first frame is stored as the job's own Asset,
so the job and its clip survive the image's deletion.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import models
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from wagtail.admin import messages
from wagtail.images.views.bulk_actions.image_bulk_action import ImageBulkAction

from ...admin.display import money
from ...admin.generate import APPLY_PRESET, estimate_per_clip, price_table
from ...admin.object_clips import (
    apply_preset_values,
    chosen_preset,
    clip_plan,
    clips_per_object,
    preset_templates,
    queue_object,
    unfilled,
    unfilled_message,
)
from ...admin.offers import offers
from ...conf import kling_settings
from ...exceptions import InvalidInput
from ...jobs import check_budget
from ...models import VideoRequest
from .forms import GenerateVideoForm
from .permissions import may_generate

#: The image field of every Wagtail image model (``AbstractImage.file``).
IMAGE_FIELD = "file"
ACTION = "generate_video"
#: URL namespace of the Videos viewset (``viewsets.VideoRequestViewSet``).
VIDEOS = "kling_videos"


@dataclass
class Outcome:
    """What one run of the action did: the queued jobs and the images it could not use."""

    queued: list[VideoRequest] = field(default_factory=list)
    refused: list[tuple[models.Model, str]] = field(default_factory=list)


def generate_url(image_model: type[models.Model], ids: list[Any], next_url: str = "") -> str:
    """The action's confirmation page for these images (the image page's button uses it)."""
    opts = image_model._meta
    url = reverse("wagtail_bulk_action", args=(opts.app_label, opts.model_name, ACTION))
    query = [("id", str(pk)) for pk in ids] + ([("next", next_url)] if next_url else [])
    return f"{url}?{urlencode(query)}"


class GenerateVideoBulkAction(ImageBulkAction):
    display_name = _("Generate video")
    action_type = ACTION
    aria_label = _("Generate a video from each selected image")
    template_name = "django_kling_wagtail/confirm_generate.html"
    action_priority = 50
    form_class = GenerateVideoForm

    def check_perm(self, image: models.Model) -> bool:
        return may_generate(self.request.user, image)

    def get_form_kwargs(self) -> dict[str, Any]:
        # FormView passes an empty ``initial`` and no prefix: keep the form's own (the
        # DEFAULTS setting, and the "options-" names the estimate script reads).
        kwargs = super().get_form_kwargs()
        kwargs.pop("initial", None)
        kwargs.pop("prefix", None)
        return kwargs

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if APPLY_PRESET in request.POST:  # "Apply preset": fill the options, queue nothing
            data = request.POST.copy()
            preset = chosen_preset(self.form_class(data))
            refused = [] if preset is None else unfilled(self.get_actionable_objects()[0],
                                                         preset_templates(preset))
            if refused:  # said at once, and the editor's options stay as they were
                form = self.form_class(request.POST)
                form.add_error("preset", unfilled_message(refused))
                return self.render_to_response(self.get_context_data(form=form))
            if preset is not None:
                apply_preset_values(data, preset)
            return self.render_to_response(self.get_context_data(form=self.form_class(data)))
        return super().post(request, *args, **kwargs)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        form = context["form"]
        per_clip = estimate_per_clip(form)
        count = len(context["items"])
        plan = clip_plan(form, count, per_clip)
        return {**context, "count": count, "clips_per_object": plan["per_object"],
                "plan": plan, "per_clip": money(per_clip), "total": plan["total"],
                "prices": price_table(), "currency": kling_settings.CURRENCY,
                "offers": offers(list(kling_settings.MODELS)),
                "apply_preset_name": APPLY_PRESET}

    def form_valid(self, form: GenerateVideoForm) -> HttpResponse:
        images = self.get_actionable_objects()[0]
        # Every image's prompt and lines first: a refusal keeps the editor's options on the page.
        options, preset = form.cleaned_data, form.cleaned_data.get("preset")
        templates = [options.get(f"spoken_line_{language}") or ""
                     for language in options.get("languages") or ()]
        if preset is not None and not options.get("prompt"):
            templates.append(preset.prompt_template)
        templates += [prompt for prompt, _seconds in options.get("shots") or ()]
        if refused := unfilled(images, [text for text in templates if text]):
            form.add_error(None, unfilled_message(refused))
            return self.form_invalid(form)
        # The whole batch against the budget (each job is checked again, under the lock, when
        # it is created).
        count = len(images) * clips_per_object(form)
        try:
            check_budget(estimate_per_clip(form) * count, lock=False)
        except InvalidInput as error:
            form.add_error(None, error.message)
            return self.form_invalid(form)
        return super().form_valid(form)

    def get_execution_context(self) -> dict[str, Any]:
        self.outcome = Outcome()
        return {"options": self.cleaned_form.cleaned_data, "user": self.request.user,
                "outcome": self.outcome}

    @classmethod
    def execute_action(cls, objects: list[models.Model], options: dict[str, Any] | None = None,
                       user: Any = None, outcome: Outcome | None = None,
                       **kwargs: Any) -> tuple[int, int]:
        options = options or {}
        outcome = outcome if outcome is not None else Outcome()
        preset = options.get("preset")
        for index, image in enumerate(objects):
            try:
                prompt = options.get("prompt") or ""
                if not prompt and preset is not None and preset.prompt_template:
                    prompt = preset.options_for(image)["prompt"]
                outcome.queued.extend(queue_object(
                    image, IMAGE_FIELD, user, options,
                    prompt=prompt or getattr(image, "title", "")))
            except InvalidInput as error:
                if error.field not in (None, "image", "prompt", "last_frame"):
                    # An option or the budget: the same answer for every image left.
                    outcome.refused.extend((rest, error.message) for rest in objects[index:])
                    break
                outcome.refused.append((image, error.message))
        return len(outcome.queued), 0

    def get_success_message(self, num_parent_objects: int, num_child_objects: int) -> str | None:
        for image, reason in self.outcome.refused:
            messages.error(self.request, _("%(image)s: %(reason)s")
                           % {"image": getattr(image, "title", image), "reason": reason})
        if self.outcome.queued:
            queued = len(self.outcome.queued)  # with variants and formats, several per image
            text = ngettext("%(count)d video was queued.", "%(count)d videos were queued.",
                            queued) % {"count": queued}
            messages.success(self.request, text, buttons=[
                messages.button(reverse(f"{VIDEOS}:index"), _("Follow their progress"))])
        return None  # said above, with a link to the Videos listing
