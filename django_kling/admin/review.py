"""Reviewing clips in the admin: the "awaiting review" filter, bulk approve / reject / feature,
the buttons on a request's page and on its object's page, and the page that compares variants.

Every decision goes through ``django_kling.editorial.review`` (the same functions as
``kling_review`` and the Wagtail app) and needs the ``review_videorequest`` permission ("Can
approve or reject video clips"). The buttons work without JavaScript: on an object's page they
are submit buttons with ``formaction`` (forms cannot nest), elsewhere small forms of their own.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from ..editorial import review
from ..exceptions import ReviewError
from ..models import ACTIVE, ReviewStatus, Status, VideoRequest
from . import display
from .captions import cue_list, track_of

PERMISSION = "review_videorequest"
DECISIONS = ("approve", "reject", "feature", "approve_feature")
ALL = "all"
#: The reviewers' default: clips awaiting review and jobs still being made.
OPEN = "open"


def may_review(request: HttpRequest) -> bool:
    return request.user.has_perm(f"{VideoRequest._meta.app_label}.{PERMISSION}")


def review_url(site: admin.AdminSite, job: VideoRequest, next_url: str = "") -> str:
    opts = VideoRequest._meta
    try:
        url = reverse(f"{site.name}:{opts.app_label}_{opts.model_name}_review", args=[job.pk])
    except NoReverseMatch:
        return ""
    return f"{url}?{urlencode({'next': next_url})}" if next_url else url


def compare_url(site: admin.AdminSite, job: VideoRequest) -> str:
    if job.variant_group is None:
        return ""
    opts = VideoRequest._meta
    try:
        return reverse(f"{site.name}:{opts.app_label}_{opts.model_name}_compare",
                       args=[job.variant_group])
    except NoReverseMatch:
        return ""


def review_badges(job: VideoRequest) -> SafeString:
    """The review state, and "featured" when it is: shown in lists, inlines and pages."""
    return render_to_string("django_kling/admin/videorequest/review_badges.html", {"job": job})


def review_buttons(request: HttpRequest, site: admin.AdminSite, job: VideoRequest, *,
                   next_url: str, nested: bool, compare: bool = True) -> SafeString | str:
    """Approve / reject / feature buttons for a succeeded job ("" without the permission).

    ``nested``: the buttons sit inside another form (an object's change form) and submit it
    to the review URL through ``formaction``; ``compare``: link to the variants' compare page.
    """
    if job.status != Status.SUCCEEDED or not may_review(request):
        return ""
    return render_to_string("django_kling/admin/videorequest/review_buttons.html", {
        "job": job, "action": review_url(site, job, next_url), "nested": nested,
        "compare_url": compare_url(site, job) if compare else "",
    }, request=request)


class ReviewFilter(admin.SimpleListFilter):
    """Succeeded clips by review state; reviewers land on "Awaiting review"."""

    title = _("review")
    parameter_name = "review"

    def __init__(self, request: HttpRequest, params: Any, model: Any, model_admin: Any) -> None:
        self.reviewer = may_review(request)
        super().__init__(request, params, model, model_admin)

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [(OPEN, _("Awaiting review or in progress")), *ReviewStatus.choices]

    def value(self) -> str | None:
        value = super().value()
        if value is None and self.reviewer:
            # The default view for reviewers: what to review, and what is still being made
            # (a job just queued must not look lost).
            return OPEN
        return None if value == ALL else value

    def choices(self, changelist: Any) -> Any:
        yield {"selected": self.value() is None,
               "query_string": changelist.get_query_string({self.parameter_name: ALL}),
               "display": _("All")}
        for value, label in self.lookup_choices:
            yield {"selected": self.value() == str(value),
                   "query_string": changelist.get_query_string({self.parameter_name: value}),
                   "display": label}

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if value in ReviewStatus.values:
            return queryset.filter(status=Status.SUCCEEDED, review_status=value)
        if value == OPEN:
            return queryset.filter(
                Q(status=Status.SUCCEEDED, review_status=ReviewStatus.PENDING)
                | Q(status__in=ACTIVE))
        return queryset


class ReviewAdminMixin:
    """What ``VideoRequestAdmin`` adds for reviewers (a mixin: its module stays short)."""

    admin_site: admin.AdminSite

    def has_kling_review_permission(self, request: HttpRequest) -> bool:
        return may_review(request)

    def review_urls(self) -> list:
        opts = VideoRequest._meta
        prefix = f"{opts.app_label}_{opts.model_name}"
        wrap = self.admin_site.admin_view
        return [
            path("<path:object_id>/review/", wrap(self.review_view), name=f"{prefix}_review"),
            path("compare/<uuid:group>/", wrap(self.compare_view), name=f"{prefix}_compare"),
        ]

    @method_decorator(require_POST)
    def review_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not may_review(request):
            raise PermissionDenied
        job = self.get_object(request, object_id)
        if job is None:
            raise Http404
        decision = request.POST.get("decision", "")
        note = request.POST.get("review_note", "")
        if decision not in DECISIONS:
            self.message_user(request, _("Unknown decision."), messages.ERROR)
        else:
            try:
                if decision in ("approve", "approve_feature"):
                    job = review.approve(job, by=request.user, note=note)
                if decision == "reject":
                    job = review.reject(job, by=request.user, note=note)
                if decision in ("feature", "approve_feature"):
                    job = review.feature(job, by=request.user)
            except ReviewError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                self.message_user(request, _("The clip is now %(state)s.") % {
                    "state": _("approved and featured") if job.featured
                    else job.get_review_status_display().lower()}, messages.SUCCESS)
        next_url = request.GET.get("next", "")
        if not url_has_allowed_host_and_scheme(next_url, {request.get_host()},
                                               require_https=request.is_secure()):
            next_url = self._change_url(job)
        return HttpResponseRedirect(next_url)

    def compare_view(self, request: HttpRequest, group: Any) -> HttpResponse:
        jobs = [job for job in self.get_queryset(request)
                .filter(variant_group=group)
                .select_related("video", "poster", "caption_track__asset")
                .order_by("created_at", "pk")]
        if not jobs or not self.has_view_permission(request, jobs[0]):
            raise Http404
        here = request.get_full_path()
        context = {
            **self.admin_site.each_context(request),
            "title": _("Compare variants"),
            "opts": VideoRequest._meta,
            "source": display.source_link(jobs[0], self.admin_site),
            "variants": [{"job": job, "player": display.video_player(job, width=360),
                          "captions": cue_list(track_of(job)),
                          "badges": review_badges(job),
                          "buttons": review_buttons(request, self.admin_site, job,
                                                    next_url=here, nested=False,
                                                    compare=False)}
                         for job in jobs],
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "django_kling/admin/videorequest/compare.html",
                                context)

    @admin.action(description=_("Approve the selected clips"), permissions=["kling_review"])
    def approve_clips(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._bulk(request, queryset, review.approve)

    @admin.action(description=_("Reject the selected clips"), permissions=["kling_review"])
    def reject_clips(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._bulk(request, queryset, review.reject)

    def _bulk(self, request: HttpRequest, queryset: QuerySet, decide: Any) -> None:
        done = 0
        skipped = queryset.exclude(status=Status.SUCCEEDED).count()
        for job in queryset.filter(status=Status.SUCCEEDED):
            decide(job, by=request.user)
            done += 1
        if done:
            self.message_user(request, ngettext(
                "%(count)d clip was reviewed.", "%(count)d clips were reviewed.", done)
                % {"count": done}, messages.SUCCESS)
        if skipped:
            self.message_user(request, ngettext(
                "%(count)d request was skipped: only finished clips are reviewed.",
                "%(count)d requests were skipped: only finished clips are reviewed.", skipped)
                % {"count": skipped}, messages.WARNING)
