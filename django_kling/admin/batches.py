"""Batches in the admin: the one-form confirmation for many objects, and the batch's page.

Above ``max_objects`` selected objects (or with Django's "select all N matching"), the
"Generate video" action shows one set of options and the batch's total estimated cost instead
of a row per object; confirming stores a ``VideoBatch`` (refused by the budget before anything
exists) and returns at once, while a background actor makes the jobs (``batches``). The
batch's page shows its progress live, the clips as they arrive, and offers to retry the failed
jobs or cancel the rest.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from ..conf import kling_settings
from ..editorial import batches
from ..exceptions import BudgetExceeded, InvalidInput
from ..jobs import check_budget
from ..models import Status, VideoBatch, VideoRequest
from ..options import MAX_PROMPT_LENGTH
from . import display
from .forms import BatchOptionsForm
from .generate import estimate_per_clip
from .permissions import batch_rule, can_generate_videos, may_use_source

# Each chunk of a batch started here checks its objects as this page checks a few.
batches.register_permission_rule("admin", batch_rule)

TEMPLATE = "django_kling/admin/generate_batch.html"
PANEL_TEMPLATE = "django_kling/admin/videobatch/panel.html"
CONFIRM = "kling_batch_confirm"
#: Clips and failures shown on a batch's page (the newest).
SHOWN = 24


class BatchPromptForm(forms.Form):
    prompt = forms.CharField(
        label=gettext_lazy("Prompt"), required=False, max_length=MAX_PROMPT_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=gettext_lazy("The same for every clip; left empty, each object's own text "
                               "is used where the admin names a prompt field."))


def render_or_start(model_admin: admin.ModelAdmin, request: HttpRequest,
                    queryset: models.QuerySet, options: Any, *, select_across: bool,
                    post_back: Callable[[], list[tuple[str, str]]]) -> HttpResponse | None:
    """The batch confirmation page for ``queryset``, or the started batch on confirm."""
    count = queryset.count()
    shared = BatchOptionsForm(request.POST if CONFIRM in request.POST else None)
    prompt = BatchPromptForm(request.POST if CONFIRM in request.POST else None,
                             prefix="batch")
    per_clip = estimate_per_clip(shared)
    total = per_clip * count
    budget_error = ""
    try:
        batches.check_size(count)
        check_budget(total, lock=False)
    except InvalidInput as exc:  # too many objects, or over the budget
        budget_error = exc.message
    if (CONFIRM in request.POST and shared.is_valid() and _one_clip_per_object(shared)
            and prompt.is_valid() and not budget_error):
        data = shared.cleaned_data
        language = (data.get("languages") or [""])[0]
        chosen = {"prompt": prompt.cleaned_data["prompt"],
                  "negative_prompt": data["negative_prompt"], "duration": data["duration"],
                  "aspect_ratio": data["aspect_ratio"][0], "mode": data["mode"],
                  "sound": data["sound"], "model": data["model"] or None, "language": language,
                  "spoken_line": data.get(f"spoken_line_{language}", "") if language else "",
                  "speaker": data.get("speaker", "")}
        if data.get("shots"):  # none: a preset's shots stand
            chosen["shots"] = [list(shot) for shot in data["shots"]]
        if data.get("preset") is not None:  # the page's values win; the preset adds the rest
            chosen = batches.preset_options(data["preset"], language=language, overrides=chosen)
        try:
            batch = batches.start_batch(
                model_admin.model, list(queryset.values_list("pk", flat=True)),
                field_name=options.image_field, user=request.user,
                prompt_field="" if chosen.get("prompt") else options.prompt_field or "",
                selection=request.get_full_path() if select_across else "",
                options=chosen, permission_rule=(
                    f"admin:{model_admin.admin_site.name}:{options.source_permission}"))
        except InvalidInput as exc:  # spent meanwhile: checked again under the lock
            budget_error = exc.message
        else:
            model_admin.message_user(request, _(
                "The batch of %(count)d videos was started; its jobs are being created.")
                % {"count": count}, messages.SUCCESS)
            return HttpResponseRedirect(batch_url(model_admin.admin_site, batch))
    opts = model_admin.model._meta
    context = {
        **model_admin.admin_site.each_context(request),
        "title": _("Generate video"), "opts": opts, "count": count,
        "batch_form": shared, "prompt_form": prompt, "hidden_fields": post_back(),
        "confirm_name": CONFIRM, "form_url": request.get_full_path(),
        "per_clip": display.money(per_clip), "total": display.money(total),
        "currency": kling_settings.CURRENCY, "budget_error": budget_error,
        "media": model_admin.media + shared.media,
    }
    request.current_app = model_admin.admin_site.name
    return TemplateResponse(request, TEMPLATE, context)


def _one_clip_per_object(shared: BatchOptionsForm) -> bool:
    """A batch makes one job per object: more variants or languages are refused on the form."""
    data = shared.cleaned_data
    if int(data.get("variants") or 1) > 1:
        shared.add_error("variants", _("A batch makes one clip per object; make variants from "
                                       "an object's own page."))
    if len(data.get("aspect_ratio") or ()) > 1:
        shared.add_error("aspect_ratio", _("A batch makes one clip per object: choose one "
                                           "format."))
    if len(data.get("languages") or ()) > 1:
        shared.add_error("languages", _("A batch makes one clip per object: choose one "
                                        "language."))
    return not shared.errors


def post_back_fields(action: str, select_across: bool, pks: list[Any]) -> list[tuple[str, str]]:
    """The fields that run the action again on confirm: Django needs one selected pk even
    when "all matching" is chosen."""
    return [("action", action), ("select_across", "1" if select_across else "0"),
            *((helpers.ACTION_CHECKBOX_NAME, str(pk)) for pk in pks)]


def batch_url(site: admin.AdminSite, batch: VideoBatch, view: str = "change") -> str:
    opts = VideoBatch._meta
    return reverse(f"{site.name}:{opts.app_label}_{opts.model_name}_{view}", args=[batch.pk])


def sees_all_batches(request: HttpRequest) -> bool:
    """Whether the user sees every batch, not only their own: superusers, holders of
    ``django_kling.view_all_batches``, and, with ``ADMIN_SHOW_ALL_REQUESTS`` (the default),
    whoever may view video requests (they see the batches' jobs anyway)."""
    user = request.user
    opts = VideoBatch._meta
    if user.is_superuser or user.has_perm(f"{opts.app_label}.view_all_batches"):
        return True
    return bool(kling_settings.ADMIN_SHOW_ALL_REQUESTS) and user.has_perm(
        f"{opts.app_label}.view_{VideoRequest._meta.model_name}")


def may_act_on(request: HttpRequest, batch: VideoBatch) -> bool:
    """Retry and Cancel: the batch's creator, or one who sees every batch and may cancel
    requests (``change_videorequest``, as cancelling one request needs)."""
    if batch.created_by_id is not None and batch.created_by_id == request.user.pk:
        return True
    opts = VideoRequest._meta
    return sees_all_batches(request) and request.user.has_perm(
        f"{opts.app_label}.change_{opts.model_name}")


class VideoBatchAdmin(admin.ModelAdmin):
    list_display = ["created_at", "created_by", "content_type", "size", "status"]
    list_filter = ["status"]
    change_form_template = "django_kling/admin/videobatch/change_form.html"

    @admin.display(description=gettext_lazy("objects"))
    def size(self, batch: VideoBatch) -> int:
        return batch.size

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # made by the "Generate video" action and kling_generate --all

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return (super().has_view_permission(request, obj) or can_generate_videos(request)
                or sees_all_batches(request))

    def get_queryset(self, request: HttpRequest) -> models.QuerySet:
        """A batch shows what was made for its objects (prompts, pictures, clips): its
        creator sees it, and those who see all requests (``sees_all_batches``)."""
        queryset = super().get_queryset(request)
        if sees_all_batches(request):
            return queryset
        return queryset.filter(created_by=request.user.pk)

    def get_urls(self) -> list:
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        wrap = self.admin_site.admin_view
        return [
            path("<path:object_id>/progress/", wrap(self.progress_view),
                 name=f"{prefix}_progress"),
            path("<path:object_id>/retry/", wrap(self.retry_view), name=f"{prefix}_retry"),
            path("<path:object_id>/cancel/", wrap(self.cancel_view), name=f"{prefix}_cancel"),
            *super().get_urls(),
        ]

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict | None = None) -> HttpResponse:
        batch = self._batch(request, object_id)
        extra = {**(extra_context or {}), "panel": self.render_panel(request, batch),
                 "progress_url": batch_url(self.admin_site, batch, "progress")}
        return super().change_view(request, object_id, form_url, extra)

    def render_panel(self, request: HttpRequest, batch: VideoBatch) -> str:
        state = batches.progress(batch)
        jobs = batch.jobs.select_related("poster", "video")
        failed = list(jobs.filter(status=Status.FAILED).order_by("-finished_at")[:SHOWN])
        clips = list(jobs.filter(status=Status.SUCCEEDED).order_by("-finished_at")[:SHOWN])
        context = {
            "batch": batch, "state": state, "counts": [
                (Status(value).label, number) for value, number in state["counts"].items()],
            "estimated": display.money(state["estimated"]),
            "reported": display.money(state["reported"]),
            "refused": list(batch.items.exclude(error_code="").order_by("-index")[:SHOWN]),
            "failed": failed,
            "clips": [(job, display.file_url(job.poster), display.file_url(job.video))
                      for job in clips],
            "done": batch.status != VideoBatch.Status.CREATING
            and not any(state["counts"][s] for s in (Status.QUEUED, Status.SUBMITTING,
                                                     Status.RUNNING, Status.FETCHING)),
            "may_act": can_generate_videos(request) and may_act_on(request, batch),
            "retry_url": batch_url(self.admin_site, batch, "retry"),
            "cancel_url": batch_url(self.admin_site, batch, "cancel"),
        }
        return render_to_string(PANEL_TEMPLATE, context, request)

    def progress_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return HttpResponse(self.render_panel(request, self._batch(request, object_id)))

    def retry_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        batch = self._acting_on(request, object_id)
        try:
            retried, denied = batches.retry_failed(
                batch, user=request.user, permitted=self._retry_rule(request))
        except BudgetExceeded as exc:
            self.message_user(request, exc.message, messages.ERROR)
        else:
            self.message_user(request, _("%(count)d failed job(s) queued again.")
                              % {"count": len(retried)}, messages.SUCCESS)
            if denied:
                self.message_user(request, ngettext(
                    "%(count)d job was not retried: retrying needs the permission to change "
                    "its object.",
                    "%(count)d jobs were not retried: retrying needs the permission to change "
                    "their objects.", denied) % {"count": denied}, messages.ERROR)
        return HttpResponseRedirect(batch_url(self.admin_site, batch))

    def cancel_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        batch = self._acting_on(request, object_id)
        count = batches.cancel_rest(batch)
        self.message_user(request, _("The batch was stopped; %(count)d queued job(s) canceled.")
                          % {"count": count}, messages.SUCCESS)
        return HttpResponseRedirect(batch_url(self.admin_site, batch))

    def _retry_rule(self, request: HttpRequest) -> Callable[[VideoRequest], bool]:
        """Retrying a batch's job needs what retrying that request alone needs: the request
        admin's ``may_retry`` on this site (its object-level rules included)."""
        requests_admin = self.admin_site._registry.get(VideoRequest)  # noqa: SLF001
        if requests_admin is not None and hasattr(requests_admin, "may_retry"):
            return lambda job: requests_admin.may_retry(request, job)

        def rule(job: VideoRequest) -> bool:
            model = job.content_type.model_class() if job.content_type_id else None
            return model is None or may_use_source(request, self.admin_site, model,
                                                   job.source_object)
        return rule

    def _batch(self, request: HttpRequest, object_id: str) -> VideoBatch:
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            pk = uuid.UUID(object_id)
        except ValueError:
            raise Http404(_("There is no such batch.")) from None
        return get_object_or_404(self.get_queryset(request), pk=pk)

    def _acting_on(self, request: HttpRequest, object_id: str) -> VideoBatch:
        if request.method != "POST" or not can_generate_videos(request):
            raise PermissionDenied
        batch = self._batch(request, object_id)
        if not may_act_on(request, batch):
            raise PermissionDenied
        return batch
