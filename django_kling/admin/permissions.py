"""Who may make a clip for an object: the rule the "Generate video" action, its button and
retrying share.

A clip generated for an object becomes that object's public video, so by default it needs the
permission to change the object, as its ``ModelAdmin`` decides (``has_change_permission``, so
object-level rules of the host project apply). A ``ModelAdmin`` may relax it to the view
permission with ``kling_source_permission = "view"`` (the mixin's attribute, or the
``source_permission`` of ``generate_video_action``).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.sites import all_sites
from django.contrib.auth import get_permission_codename
from django.db import models
from django.http import HttpRequest

from ..models import VideoRequest

#: The values ``kling_source_permission`` may take.
SOURCE_PERMISSIONS = ("change", "view")
DEFAULT_SOURCE_PERMISSION = "change"


def can_generate_videos(request: HttpRequest) -> bool:
    """Whether this user may queue video requests (the app's add permission)."""
    opts = VideoRequest._meta
    return request.user.has_perm(f"{opts.app_label}.add_{opts.model_name}")


def source_admin(admin_site: admin.AdminSite, model: type[models.Model]) \
        -> admin.ModelAdmin | None:
    """The ``ModelAdmin`` of ``model`` on this site, if it is registered there."""
    registry = admin_site._registry  # noqa: SLF001  (Django offers no public lookup)
    return registry.get(model) or registry.get(model._meta.concrete_model)


def source_permission(model_admin: Any) -> str:
    """The permission generating needs on ``model_admin``'s objects ("change" or "view")."""
    if model_admin is None:
        return DEFAULT_SOURCE_PERMISSION
    permission = getattr(model_admin, "kling_source_permission", None)
    if permission is None:  # an admin with only the factory's action: its options say
        for action in getattr(model_admin, "actions", None) or ():
            options = getattr(action, "kling_options", None)  # set by generate_video_action
            if options is not None:
                permission = options.source_permission
                break
    return permission if permission in SOURCE_PERMISSIONS else DEFAULT_SOURCE_PERMISSION


def may_use_source(request: HttpRequest, admin_site: admin.AdminSite,
                   model: type[models.Model], obj: models.Model | None = None, *,
                   model_admin: Any = None, permission: str | None = None) -> bool:
    """Whether the user may make a clip from ``obj`` (or from objects of ``model``).

    ``model_admin`` and ``permission`` default to the model's admin on ``admin_site`` and what
    it asks for; a model without an admin there needs the model permission itself.
    """
    model_admin = model_admin or source_admin(admin_site, model)
    permission = permission or source_permission(model_admin)
    if model_admin is not None:
        if permission == "view":
            return model_admin.has_view_or_change_permission(request, obj)
        return model_admin.has_change_permission(request, obj)
    opts = model._meta
    actions = ("view", "change") if permission == "view" else ("change",)
    return any(request.user.has_perm(f"{opts.app_label}.{get_permission_codename(a, opts)}")
               for a in actions)


def batch_rule(user: Any, spec: str, objects: list[models.Model]) -> list[models.Model]:
    """The objects of a batch's chunk its creator may use: ``may_use_source`` on the admin
    site and with the permission ``spec`` names (``"site_name:change"``), object by object,
    as the "Generate video" page checks a small selection (``batches``' permission rule
    ``"admin"``)."""
    site_name, _sep, permission = spec.partition(":")
    site = next((s for s in list(all_sites) if s.name == site_name), None)
    if site is None or user is None or not user.is_active:
        return []
    request = HttpRequest()  # the rules of ModelAdmins read request.user
    request.user = user
    return [obj for obj in objects if may_use_source(
        request, site, type(obj), obj,
        permission=permission if permission in SOURCE_PERMISSIONS else None)]
