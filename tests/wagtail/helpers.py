"""Wagtail images and users for the integration's tests."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from django.contrib.auth.models import Group, Permission, User
from django.core.files.images import ImageFile


def make_wagtail_image(make_image: Callable[..., bytes], title: str = "Sea salt",
                       width: int = 640, height: int = 360, **colour: Any) -> Any:
    from wagtail.images import get_image_model

    image = get_image_model()(title=title)
    image.file = ImageFile(io.BytesIO(make_image(width, height, **colour)), name="sea.png")
    image.save()
    return image


def editor(name: str = "editor", *, kling: tuple[str, ...] = ("add", "change", "view"),
           images: tuple[str, ...] = ("add", "change")) -> User:
    """A non-superuser with Wagtail admin access, image permissions on the root collection and
    the app's permissions named in ``kling``."""
    from wagtail.models import Collection, GroupCollectionPermission

    user = User.objects.create_user(name, f"{name}@example.com", "pw")
    group = Group.objects.create(name=f"{name}s")
    group.permissions.add(Permission.objects.get(codename="access_admin"))
    for action in kling:
        group.permissions.add(Permission.objects.get(
            content_type__app_label="django_kling", codename=f"{action}_videorequest"))
    root = Collection.get_first_root_node()
    for action in images:
        GroupCollectionPermission.objects.create(
            group=group, collection=root,
            permission=Permission.objects.get(content_type__app_label="wagtailimages",
                                              codename=f"{action}_image"))
    user.groups.add(group)
    return user
