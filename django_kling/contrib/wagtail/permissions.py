"""Who may do what with clips in Wagtail's admin.

Wagtail's own permission policies decide about the images (``policy_registry``: collections
and image permissions), the app's model permissions about the requests:

- generating from an image needs ``django_kling.add_videorequest`` and the permission to
  change that image (a clip becomes the image's public video);
- seeing the Videos listing needs any permission on video requests, and shows only the
  requests for images the editor may see in Wagtail (``change``, ``delete`` or ``choose`` in
  the image's collection; ``visible_requests``); retrying needs ``add`` and the permission to
  change the image, as generating does; cancelling ``change``; approving, rejecting and
  featuring ``django_kling.review_videorequest`` (the review workflow's permission).
"""

from __future__ import annotations

from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import CharField, Q
from django.db.models.functions import Cast
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


#: The image actions that let an editor see an image in Wagtail's admin (its listing and
#: chooser), and so the requests made from it.
SEEING_IMAGES = ["change", "delete", "choose"]


def may_retry(user: Any, job: VideoRequest) -> bool:
    """Retry makes a new clip for the job's image: what generating from it needs (the image
    deleted: what generating from some image needs)."""
    image_type = ContentType.objects.get_for_model(get_image_model())
    if job.content_type_id != image_type.pk:
        return may_request(user, "add")  # not made from an image: the app's permission
    image = job.source_object
    return may_generate(user, image) if image is not None else may_generate(user)


def visible_requests(user: Any, queryset: models.QuerySet[VideoRequest]) \
        -> models.QuerySet[VideoRequest]:
    """``queryset`` limited to what ``user`` may see: a request made from an image only if the
    user may see that image in Wagtail (its collection's permissions; a deleted image's
    requests only for superusers); requests made from other objects or from files as the
    app's view permission decides (they have no collection)."""
    if user.is_superuser:
        return queryset
    image_model = get_image_model()
    image_type = ContentType.objects.get_for_model(image_model)
    seen = (image_policy().instances_user_has_any_permission_for(user, SEEING_IMAGES)
            .annotate(kling_pk=Cast("pk", CharField())).values("kling_pk"))
    return queryset.filter(~Q(content_type=image_type) | Q(content_type__isnull=True)
                           | Q(object_id__in=seen))
