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
from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from .generate import GenerateOptions, render_or_queue
from .permissions import SOURCE_PERMISSIONS, can_generate_videos, may_use_source

ACTION_NAME = "generate_video"
#: Name used in ``allowed_permissions``: Django asks ``has_kling_video_permission(request)``.
PERMISSION = "kling_video"


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
    field (or method) whose text prefills each prompt, ``max_objects`` the most objects shown
    as rows (more, or "all N matching", make a background batch with one set of options),
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
    select_across = request.POST.get("select_across") == "1"
    if select_across or len(objects) > options.max_objects:
        # Many objects: one set of options for a batch made in the background (batches.py).
        from .batches import post_back_fields, render_or_start

        if not may_use_source(request, model_admin.admin_site, model_admin.model,
                              model_admin=model_admin, permission=options.source_permission):
            raise PermissionDenied
        picked = objects[:1] if select_across else queryset.values_list("pk", flat=True)
        return render_or_start(
            model_admin, request, queryset, options, select_across=select_across,
            post_back=lambda: post_back_fields(ACTION_NAME, select_across,
                                               [getattr(o, "pk", o) for o in picked]))
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
