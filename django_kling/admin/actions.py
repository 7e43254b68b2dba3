"""The "Generate video" action for any model with an image.

``generate_video_action(image_field="image")`` makes the action for ``ModelAdmin.actions``;
``KlingVideoAdminMixin`` (in ``mixins``) adds it for you, with a button on each object's page
and the object's clips inline.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db import models
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from ..models import VideoRequest
from .generate import GenerateOptions, render_or_queue
from .permissions import SOURCE_PERMISSIONS, may_use_source

ACTION_NAME = "generate_video"
#: Name used in ``allowed_permissions``: Django asks ``has_kling_video_permission(request)``.
PERMISSION = "kling_video"


def can_generate_videos(request: HttpRequest) -> bool:
    """Whether this user may queue video requests (the app's add permission)."""
    opts = VideoRequest._meta
    return request.user.has_perm(f"{opts.app_label}.add_{opts.model_name}")


def _has_kling_video_permission(self: admin.ModelAdmin, request: HttpRequest) -> bool:
    return can_generate_videos(request)


# Django shows an action only when ``has_<permission>_permission`` on the ModelAdmin holding
# it says yes. The factory's action can be put on any ModelAdmin, including ones that do not
# use our mixin, so every ModelAdmin gets that one method (unless it defines its own).
if not hasattr(admin.ModelAdmin, f"has_{PERMISSION}_permission"):
    setattr(admin.ModelAdmin, f"has_{PERMISSION}_permission", _has_kling_video_permission)


def generate_video_action(
    image_field: str = "image",
    *,
    prompt_field: str | None = None,
    max_objects: int = 50,
    description: str | None = None,
    source_permission: str = "change",
) -> Callable[[admin.ModelAdmin, HttpRequest, models.QuerySet], HttpResponse | None]:
    """An admin action that opens the "Generate video" page for the selected objects.

    ``image_field`` names the image field the clip starts from, ``prompt_field`` an optional
    field (or method) whose text prefills each prompt, ``max_objects`` the largest batch,
    ``source_permission`` what the editor needs on each object: ``"change"`` (the default: the
    clip becomes the object's video) or ``"view"``.
    """
    if source_permission not in SOURCE_PERMISSIONS:
        raise ValueError(f"source_permission must be one of {SOURCE_PERMISSIONS}")
    options = GenerateOptions(image_field=image_field, prompt_field=prompt_field,
                              max_objects=max_objects, source_permission=source_permission)

    @admin.action(description=description or _("Generate video"), permissions=[PERMISSION])
    def generate_video(model_admin: admin.ModelAdmin, request: HttpRequest,
                       queryset: models.QuerySet) -> HttpResponse | None:
        return run_action(model_admin, request, queryset, options)

    generate_video.kling_options = options  # type: ignore[attr-defined]
    return generate_video


def run_action(model_admin: admin.ModelAdmin, request: HttpRequest, queryset: models.QuerySet,
               options: GenerateOptions) -> HttpResponse | None:
    objects = list(queryset[: options.max_objects + 1])
    if len(objects) > options.max_objects:
        model_admin.message_user(request, ngettext(
            "Select at most %(count)d object at a time.",
            "Select at most %(count)d objects at a time.",
            options.max_objects) % {"count": options.max_objects}, messages.WARNING)
        return None
    denied = [obj for obj in objects if not may_use_source(
        request, model_admin.admin_site, type(obj), obj, model_admin=model_admin,
        permission=options.source_permission)]
    if denied:
        model_admin.message_user(request, ngettext(
            "You may not make a video for %(count)d of the selected objects: a clip becomes "
            "the object's video, so it needs the permission to change it.",
            "You may not make videos for %(count)d of the selected objects: a clip becomes "
            "the object's video, so it needs the permission to change it.",
            len(denied)) % {"count": len(denied)}, messages.ERROR)
        return None

    def post_back(shown: Sequence[models.Model]) -> list[tuple[str, str]]:
        # The changelist runs the action again for these rows when the page is confirmed.
        return [("action", ACTION_NAME), ("select_across", "0"),
                *((helpers.ACTION_CHECKBOX_NAME, str(obj.pk)) for obj in shown)]

    here = request.get_full_path()
    return render_or_queue(model_admin, request, objects, options, post_back=post_back,
                           form_url=here, done_url=here)


def action_options(action: Any) -> GenerateOptions | None:
    return getattr(action, "kling_options", None)
