"""Who may do what with clips in Wagtail's admin.

Wagtail's own permission policies decide about the images (``policy_registry``: collections
and image permissions), the app's model permissions about the requests:

- generating from an image needs ``django_kling.add_videorequest`` and the permission to
  change that image (a clip becomes the image's public video);
- seeing the Videos listing needs any permission on video requests; retrying needs ``add``,
  cancelling ``change``; approving, rejecting and featuring
  ``django_kling.review_videorequest`` (the review workflow's permission).
"""

from __future__ import annotations

from typing import Any

from django.db import models
from wagtail.images import get_image_model

from ...models import VideoRequest

APP_LABEL = VideoRequest._meta.app_label


def image_policy() -> Any:
    """The permission policy of the image model (collections, owners)."""
    try:  # Wagtail 8: one registry of policies
        from wagtail.permissions import policy_registry
    except ImportError:  # Wagtail 7: a module attribute, set when wagtail.images is ready
        from wagtail.images import permissions

        return permissions.permission_policy
    return policy_registry.get_by_type(get_image_model())


def may_generate(user: Any, image: models.Model | None = None) -> bool:
    """Whether ``user`` may make clips (from ``image``, or from some image)."""
    if not user.has_perm(f"{APP_LABEL}.add_videorequest"):
        return False
    policy = image_policy()
    if image is None:
        # Owners of images may change their own with "add" alone (Wagtail's ownership policy).
        return policy.user_has_any_permission(user, ["add", "change"])
    return policy.user_has_permission_for_instance(user, "change", image)


def may_request(user: Any, action: str) -> bool:
    """``action`` is ``add`` (retry), ``change`` (cancel), ``view`` or ``review``."""
    return user.has_perm(f"{APP_LABEL}.{action}_videorequest")
