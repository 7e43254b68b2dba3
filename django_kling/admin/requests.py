"""The admin of ``VideoRequest``: a list that follows the jobs live, a page per job laid out by
its state, retry and cancel.

Jobs are written by the workers only: editors get no add or change form, a job's page is a view
page, and retry and cancel are actions or buttons with their own permission.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from ..conf import kling_settings
from ..exceptions import InvalidInput
from ..jobs import cancel_video_request, retry_video_request
from ..models import ACTIVE, Status, VideoRequest
from . import display, progress
from .bounded_count import BoundedCountPaginator
from .captions import may_edit_captions, regenerate_captions
from .explanations import explain
from .list_filters import ModelFilter, ProviderFilter
from .permissions import may_use_source
from .posters import PosterAdminMixin, poster_url
from .review import ReviewAdminMixin, ReviewFilter, review_badges, review_buttons
from .shots_display import ShotsAdminMixin
from .sources import SourcesChangeList

RETRYABLE = (Status.FAILED, Status.CANCELED)
ERROR_FIELDSET = (_("Error"), {"fields": ["error_code", "error_message", "explanation"]})


class SourceTypeFilter(admin.SimpleListFilter):
    """Jobs of one kind of object (only the kinds that have jobs are offered)."""

    title = _("source type")
    parameter_name = "source_type"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        # One index probe per content type (a short list), not a pass over every job.
        used = Exists(VideoRequest.objects.filter(content_type=OuterRef("pk")))
        return [(str(ct.pk), capfirst(ct.name)) for ct in ContentType.objects.filter(used)]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if value and value.isdigit():
            return queryset.filter(content_type_id=int(value))
        return queryset


class VideoRequestAdmin(ShotsAdminMixin, PosterAdminMixin, ReviewAdminMixin, admin.ModelAdmin):
    list_display = ["short_id", "status_badge", "review", "source", "first_frame_thumb", "clip",
                    "provider", "cost", "age"]
    list_display_links = ["short_id"]
    list_filter = [ReviewFilter, "status", "language", ProviderFilter, ModelFilter, "created_at",
                   "generate_audio", SourceTypeFilter]
    list_select_related = ["first_frame", "content_type"]
    list_per_page = 50
    # Counts bounded (no "(N total)"; pages up to a limit): a COUNT of every job on each view.
    show_full_result_count, paginator = False, BoundedCountPaginator
    search_fields = ["prompt", "id", "operation_id", "generation_id"]
    actions = ["approve_clips", "reject_clips", "retry_requests", "cancel_requests",
               regenerate_captions]
    change_list_template = "django_kling/admin/videorequest/change_list.html"
    change_form_template = "django_kling/admin/videorequest/change_form.html"
    fieldsets = [
        (_("Request"), {"fields": [
            "source", "field_name", "created_by", "prompt", "shots_list", "negative_prompt",
            "model", ("duration", "aspect_ratio", "mode_shown", "generate_audio"),
            ("seed", "language"), ("first_frame_preview", "last_frame_preview"),
        ]}),
        (_("Result"), {"fields": [
            "video_link", "renditions_list", "poster_preview",
            ("estimated_cost_display", "reported_cost_display"),
            "generation_id", "warnings_list",  # generation_id: what its support asks for
        ]}),
        ERROR_FIELDSET,
        (_("Provider"), {"classes": ["collapse"], "fields": [
            ("provider", "protocol"), "attempts_list", "operation_id", "idempotency_key",
            ("submit_attempts", "poll_count", "fetch_attempts", "error_streak"),
            "result_url", "metadata_json",
        ]}),
        (_("Times"), {"fields": [
            ("created_at", "enqueued_at", "submitted_at"),
            ("next_check_at", "finished_at", "updated_at"),
        ]}),
    ]
    readonly_fields = ["source", "first_frame_preview", "last_frame_preview", "video_link",
                       "poster_preview", "estimated_cost_display", "reported_cost_display",
                       "warnings_list", "explanation", "metadata_json", "attempts_list",
                       "mode_shown", "renditions_list", "shots_list"]

    # -- permissions: the workers write, editors look (and retry or cancel) -------------------

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # jobs are created by the "Generate video" action, commands or the API

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # every field belongs to the job's history or to the worker

    def has_kling_retry_permission(self, request: HttpRequest) -> bool:
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.add_{opts.model_name}")

    def may_retry(self, request: HttpRequest, job: VideoRequest) -> bool:
        """Retry makes a new clip for the job's object: the add permission on requests, the
        view permission on this one, and what generating needs on the object (see
        ``permissions``)."""
        if not (self.has_kling_retry_permission(request)
                and self.has_view_permission(request, job)):
            return False
        model = job.content_type.model_class() if job.content_type_id else None
        if model is None:
            return True  # made from a file (a command or the API): no object to protect
        return may_use_source(request, self.admin_site, model, job.source_object)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return self.limit_to_permitted_sources(request, super().get_queryset(request))

    def limit_to_permitted_sources(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        """Every request by default; with ``ADMIN_SHOW_ALL_REQUESTS = False``, only those for
        objects the editor may change (and their own requests made without an object).

        The hook to override for object-level rules: this one decides per model, as Django's
        own permissions do.
        """
        if kling_settings.ADMIN_SHOW_ALL_REQUESTS or request.user.is_superuser:
            return queryset
        allowed = Q(content_type__isnull=True, created_by=request.user.pk)
        used = queryset.order_by().values("content_type")
        for content_type in ContentType.objects.filter(pk__in=used):
            model = content_type.model_class()
            if model is not None and may_use_source(request, self.admin_site, model,
                                                    permission="change"):
                allowed |= Q(content_type=content_type)
        return queryset.filter(allowed)

    def has_kling_captions_permission(self, request: HttpRequest) -> bool:
        return may_edit_captions(request)

    def has_kling_cancel_permission(self, request: HttpRequest) -> bool:
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}")

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> list:
        fieldsets = list(super().get_fieldsets(request, obj))
        if obj is None or obj.status != Status.FAILED:
            fieldsets.remove(ERROR_FIELDSET)  # only failed jobs have an error to show
        return fieldsets

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[SourcesChangeList]:
        return SourcesChangeList

    # -- URLs: live status, and retry/cancel buttons on a job's page ---------------------------

    def get_urls(self) -> list:
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        wrap = self.admin_site.admin_view
        # Before the default URLs: "<path:object_id>/" would swallow them otherwise.
        return [
            path("status/", wrap(self.status_view), name=f"{prefix}_status"),
            path("<path:object_id>/retry/", wrap(self.retry_view), name=f"{prefix}_retry"),
            path("<path:object_id>/cancel/", wrap(self.cancel_view), name=f"{prefix}_cancel"),
            *self.review_urls(), *self.poster_urls(),
            *super().get_urls(),
        ]

    def status_view(self, request: HttpRequest) -> JsonResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        return progress.status_response(self, request)

    @method_decorator(require_POST)
    def retry_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not self.has_kling_retry_permission(request):
            raise PermissionDenied
        job = self._get_job(request, object_id)
        if not self.may_retry(request, job):
            raise PermissionDenied
        try:
            retried = retry_video_request(job, user=request.user)
        except InvalidInput as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return HttpResponseRedirect(self._change_url(job))
        self.message_user(request, _("A new request was queued with the same inputs."),
                          messages.SUCCESS)
        return HttpResponseRedirect(self._change_url(retried))

    @method_decorator(require_POST)
    def cancel_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not self.has_kling_cancel_permission(request):
            raise PermissionDenied
        job = self._get_job(request, object_id)
        if cancel_video_request(job):
            self.message_user(request, _("The request was canceled."), messages.SUCCESS)
            job.refresh_from_db()
            if job.submit_attempts or job.operation is not None:
                self.message_user(request, _(
                    "It had already been sent to the provider, which cannot stop it: it is "
                    "still paid for and counts against the budget."), messages.WARNING)
        else:
            self.message_user(request, _("The request had already ended."), messages.WARNING)
        return HttpResponseRedirect(self._change_url(job))

    def _get_job(self, request: HttpRequest, object_id: str) -> VideoRequest:
        job = self.get_object(request, object_id)
        if job is None:
            raise Http404
        return job

    def _change_url(self, job: VideoRequest) -> str:
        opts = self.opts
        return reverse(f"{self.admin_site.name}:{opts.app_label}_{opts.model_name}_change",
                       args=[job.pk])

    # -- actions ---------------------------------------------------------------------------

    @admin.action(description=_("Retry the selected failed or canceled requests"),
                  permissions=["kling_retry"])
    def retry_requests(self, request: HttpRequest, queryset: QuerySet) -> None:
        retried = refused = denied = 0
        for job in queryset.filter(status__in=RETRYABLE):
            if not self.may_retry(request, job):
                denied += 1
                continue
            try:
                retry_video_request(job, user=request.user)
            except InvalidInput as exc:  # e.g. over the budget: say why, keep going
                self.message_user(request, f"{job.pk}: {exc.message}", messages.ERROR)
                refused += 1
            else:
                retried += 1
        skipped = queryset.count() - retried - refused - denied
        if denied:
            self.message_user(request, ngettext(
                "%(count)d request was not retried: retrying needs the permission to change "
                "its object.",
                "%(count)d requests were not retried: retrying needs the permission to change "
                "their objects.", denied) % {"count": denied}, messages.ERROR)
        if retried:
            self.message_user(request, ngettext(
                "%(count)d request was queued again.", "%(count)d requests were queued again.",
                retried) % {"count": retried}, messages.SUCCESS)
        if skipped:
            self.message_user(request, ngettext(
                "%(count)d request was skipped: only failed or canceled requests are retried.",
                "%(count)d requests were skipped: only failed or canceled requests are retried.",
                skipped) % {"count": skipped}, messages.WARNING)

    @admin.action(description=_("Cancel the selected queued or running requests"),
                  permissions=["kling_cancel"])
    def cancel_requests(self, request: HttpRequest, queryset: QuerySet) -> None:
        canceled = sum(cancel_video_request(job) for job in queryset.filter(status__in=ACTIVE))
        skipped = queryset.count() - canceled
        if canceled:
            self.message_user(request, ngettext(
                "%(count)d request was canceled.", "%(count)d requests were canceled.",
                canceled) % {"count": canceled}, messages.SUCCESS)
        if skipped:
            self.message_user(request, ngettext(
                "%(count)d request had already ended and was left as it was.",
                "%(count)d requests had already ended and were left as they were.",
                skipped) % {"count": skipped}, messages.WARNING)

    # -- the page of one job -----------------------------------------------------------------

    def render_change_form(self, request: HttpRequest, context: dict, add: bool = False,
                           change: bool = False, form_url: str = "", obj: Any = None) -> Any:
        if obj is not None:
            context["kling_panel"] = progress.render_panel(obj, self, request)
            context["kling_status_url"] = display.status_url(self.admin_site)
            context["kling_review"] = review_badges(obj)
            context["kling_review_buttons"] = review_buttons(
                request, self.admin_site, obj, next_url="", nested=False)
        return super().render_change_form(request, context, add, change, form_url, obj)

    # -- columns and read-only fields --------------------------------------------------------

    @admin.display(description=_("request"), ordering="created_at")
    def short_id(self, job: VideoRequest) -> str:
        return str(job.pk)[:8]

    @admin.display(description=_("status"), ordering="status")
    def status_badge(self, job: VideoRequest) -> SafeString:
        return display.status_badge(job, display.status_url(self.admin_site))

    @admin.display(description=_("review"), ordering="review_status")
    def review(self, job: VideoRequest) -> SafeString | str:
        # Marked for the progress script, which fills it in when the clip is done.
        return format_html('<span data-kling-review="{}">{}</span>', job.pk, review_badges(job)
                           if job.status == Status.SUCCEEDED else display.EMPTY)

    @admin.display(description=_("source"))
    def source(self, job: VideoRequest) -> SafeString | str:
        return display.source_link(job, self.admin_site)

    @admin.display(description=_("first frame"))
    def first_frame_thumb(self, job: VideoRequest) -> SafeString | str:
        return display.thumbnail(display.file_url(job.first_frame), _("First frame"), "small")

    @admin.display(description=_("clip"))
    def clip(self, job: VideoRequest) -> str:
        return display.clip_summary(job)

    @admin.display(description=_("mode"))
    def mode_shown(self, job: VideoRequest) -> str:
        return display.mode_text(job)  # a silent clip is not labelled "sound"

    @admin.display(description=_("cost"), ordering="estimated_cost")
    def cost(self, job: VideoRequest) -> str:
        if job.reported_cost is not None:
            return display.money(job.reported_cost)
        return "≈ " + display.money(job.estimated_cost)

    @admin.display(description=_("age"), ordering="created_at")
    def age(self, job: VideoRequest) -> str:
        return display.age(job.created_at)

    @admin.display(description=_("first frame"))
    def first_frame_preview(self, job: VideoRequest) -> SafeString | str:
        return _linked_thumbnail(display.file_url(job.first_frame), _("First frame"))

    @admin.display(description=_("last frame"))
    def last_frame_preview(self, job: VideoRequest) -> SafeString | str:
        return _linked_thumbnail(display.file_url(job.last_frame), _("Last frame"))

    @admin.display(description=_("video"))
    def video_link(self, job: VideoRequest) -> SafeString | str:
        url = display.file_url(job.video)
        return format_html('<a href="{}">{}</a> ({})', url, job.video.file.name,
                           display.human_size(job.video.size)) if url else display.EMPTY

    @admin.display(description=_("poster"))
    def poster_preview(self, job: VideoRequest) -> SafeString | str:
        thumb = _linked_thumbnail(display.file_url(job.poster), _("Poster"))
        url = poster_url(self.admin_site, job) if job.status == Status.SUCCEEDED else ""
        return format_html('{} <a href="{}">{}</a>', thumb, url, _("Choose another frame")) \
            if url and job.video_id else thumb

    @admin.display(description=_("estimated cost"))
    def estimated_cost_display(self, job: VideoRequest) -> str:
        return display.money(job.estimated_cost)

    @admin.display(description=_("reported cost"))
    def reported_cost_display(self, job: VideoRequest) -> str:
        return display.money(job.reported_cost)

    @admin.display(description=_("warnings"))
    def warnings_list(self, job: VideoRequest) -> SafeString | str:
        if not job.warnings:
            return display.EMPTY
        texts = dict.fromkeys(_warning_text(w) for w in job.warnings)  # once each, in order
        return format_html("<ul class=\"kling-warnings\">{}</ul>", format_html_join(
            "", "<li>{}</li>", ((text,) for text in texts)))

    @admin.display(description=_("what it means"))
    def explanation(self, job: VideoRequest) -> str:
        return explain(job.error_code) or display.EMPTY

    @admin.display(description=_("providers tried"))
    def attempts_list(self, job: VideoRequest) -> SafeString | str:
        if not job.provider_attempts:
            return display.EMPTY
        return format_html("<ul class=\"kling-attempts\">{}</ul>", format_html_join(
            "", "<li>{}: {} ({})</li>",
            ((a.get("provider", ""), a.get("reason", ""), a.get("code", ""))
             for a in job.provider_attempts if isinstance(a, dict))))

    @admin.display(description=_("provider metadata"))
    def metadata_json(self, job: VideoRequest) -> SafeString | str:
        if not job.provider_metadata:
            return display.EMPTY
        return format_html("<pre class=\"kling-json\">{}</pre>",
                           json.dumps(job.provider_metadata, indent=2, ensure_ascii=False))


def _linked_thumbnail(url: str, alt: str) -> SafeString | str:
    if not url:
        return display.EMPTY
    return format_html('<a href="{}">{}</a>', url, display.thumbnail(url, alt, "large"))


def _warning_text(warning: Any) -> str:
    if isinstance(warning, dict):
        return str(warning.get("message") or warning.get("details") or
                   json.dumps(warning, ensure_ascii=False))
    return str(warning)
