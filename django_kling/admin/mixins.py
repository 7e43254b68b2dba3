"""``KlingVideoAdminMixin``: "Generate video" on a host model's admin in one line::

    @admin.register(Product)
    class ProductAdmin(KlingVideoAdminMixin, admin.ModelAdmin):
        kling_image_field = "image"
        kling_prompt_field = "description"      # optional

gives the changelist action, a "Generate video" button on each product's page, and the
product's video requests (status and player) inline on that page.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.options import IS_POPUP_VAR
from django.contrib.admin.utils import quote, unquote
from django.core import checks
from django.core.exceptions import FieldDoesNotExist, PermissionDenied
from django.db import models
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import path, reverse

from .actions import ACTION_NAME, can_generate_videos, generate_video_action
from .generate import GenerateOptions, render_or_queue
from .inlines import VideoRequestInline
from .permissions import SOURCE_PERMISSIONS, may_use_source


class KlingVideoAdminMixin:
    """Put before ``admin.ModelAdmin`` in the bases of a host model's admin."""

    #: The image field clips start from.
    kling_image_field: str = "image"
    #: A field (or method) whose text prefills each prompt; None leaves prompts empty.
    kling_prompt_field: str | None = None
    #: Most objects shown as rows; more (or "all N matching") make a background batch.
    kling_max_objects: int = 50
    #: What an editor needs on an object to make (or retry) its clip: "change" (default; the
    #: clip becomes the object's public video) or "view".
    kling_source_permission: str = "change"
    #: Show the object's video requests on its change page.
    kling_inline: bool = True
    #: Adds the "Generate video" button to the object tools (set your own template to drop it).
    change_form_template = "django_kling/admin/change_form_with_video.html"

    # What the mixin needs from ModelAdmin (for type checkers).
    model: type[models.Model]
    admin_site: admin.AdminSite

    @property
    def kling_options(self) -> GenerateOptions:
        return GenerateOptions(image_field=self.kling_image_field,
                               prompt_field=self.kling_prompt_field,
                               max_objects=self.kling_max_objects,
                               source_permission=self.kling_source_permission)

    def has_kling_video_permission(self, request: HttpRequest) -> bool:
        return can_generate_videos(request)

    def _kling_source_permission(self) -> str:
        # A wrong value is reported by check() (E102); the safe default applies meanwhile.
        return self.kling_source_permission if self.kling_source_permission in \
            SOURCE_PERMISSIONS else "change"

    def _may_generate_for(self, request: HttpRequest, obj: models.Model) -> bool:
        return may_use_source(request, self.admin_site, self.model, obj, model_admin=self,
                              permission=self._kling_source_permission())

    def get_actions(self, request: HttpRequest, action_location: Any = None) -> dict[str, Any]:
        # Django 6.1 says where the actions are shown (list or change form); 5.2 never does.
        if action_location is None:
            actions = super().get_actions(request)  # type: ignore[misc]
        else:
            actions = super().get_actions(  # type: ignore[misc]
                request, action_location=action_location)
        if getattr(action_location, "name", "CHANGE_LIST") != "CHANGE_LIST":
            return actions  # the change form has its own "Generate video" button
        if self.actions is None or IS_POPUP_VAR in request.GET:  # type: ignore[attr-defined]
            return actions  # actions switched off, as Django does
        if ACTION_NAME not in actions and self.has_kling_video_permission(request):
            action = generate_video_action(
                self.kling_image_field, prompt_field=self.kling_prompt_field,
                max_objects=self.kling_max_objects,
                source_permission=self._kling_source_permission())
            actions[ACTION_NAME] = (action, ACTION_NAME, action.short_description)
        return actions

    def get_inlines(self, request: HttpRequest, obj: Any) -> list:
        inlines = list(super().get_inlines(request, obj))  # type: ignore[misc]
        if self.kling_inline and obj is not None and VideoRequestInline not in inlines:
            inlines.append(VideoRequestInline)
        return inlines

    def get_urls(self) -> list:
        opts = self.model._meta
        return [
            # Before the default URLs: "<path:object_id>/" would swallow it otherwise.
            path("<path:object_id>/generate-video/",
                 self.admin_site.admin_view(self.kling_generate_view),
                 name=f"{opts.app_label}_{opts.model_name}_generate_video"),
            *super().get_urls(),  # type: ignore[misc]
        ]

    def kling_generate_url(self, obj: models.Model) -> str:
        opts = self.model._meta
        return reverse(f"{self.admin_site.name}:{opts.app_label}_{opts.model_name}"
                       "_generate_video", args=[quote(obj.pk)])

    def kling_generate_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The "Generate video" page for one object, from the button on its change page."""
        if not self.has_kling_video_permission(request):
            raise PermissionDenied
        obj = self.get_object(request, unquote(object_id))  # type: ignore[attr-defined]
        if obj is None or not self.has_view_or_change_permission(  # type: ignore[attr-defined]
                request, obj):
            raise Http404
        if not self._may_generate_for(request, obj):
            raise PermissionDenied
        opts = self.model._meta
        change_url = reverse(f"{self.admin_site.name}:{opts.app_label}_{opts.model_name}"
                             "_change", args=[quote(obj.pk)])
        return render_or_queue(self, request, [obj], self.kling_options,  # type: ignore[arg-type]
                               post_back=lambda shown: [], form_url=request.get_full_path(),
                               done_url=change_url, single=True)

    def render_change_form(self, request: HttpRequest, context: dict, add: bool = False,
                           change: bool = False, form_url: str = "", obj: Any = None) -> Any:
        if obj is not None and self.has_kling_video_permission(request) \
                and self._may_generate_for(request, obj):
            context["kling_generate_url"] = self.kling_generate_url(obj)
        return super().render_change_form(  # type: ignore[misc]
            request, context, add, change, form_url, obj)

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        errors = super().check(**kwargs)  # type: ignore[misc]
        try:
            field = self.model._meta.get_field(self.kling_image_field)
        except FieldDoesNotExist:
            field = None
        if not isinstance(field, models.FileField):
            errors.append(checks.Error(
                f"kling_image_field {self.kling_image_field!r} is not an image field of "
                f"{self.model._meta.label}.",
                hint="Set kling_image_field to the name of the model's ImageField.",
                obj=self.__class__, id="django_kling.E101"))
        if self.kling_source_permission not in SOURCE_PERMISSIONS:
            errors.append(checks.Error(
                f"kling_source_permission {self.kling_source_permission!r} is not one of "
                f"{', '.join(SOURCE_PERMISSIONS)}.",
                hint='Use "change" (the default) or "view".',
                obj=self.__class__, id="django_kling.E102"))
        return errors
