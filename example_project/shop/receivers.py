"""The shop's reactions to django-kling's signals: a product goes live when a reviewer approves
its first clip (not when a clip is generated: AI output goes on the site after a person looked
at it)."""

from __future__ import annotations

from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.dispatch import receiver

from django_kling.models import VideoRequest
from django_kling.signals import video_approved

from .models import Product


@receiver(video_approved, sender=VideoRequest, dispatch_uid="shop.publish_with_first_clip")
def publish_with_first_clip(sender: type[VideoRequest], request: VideoRequest,
                            **kwargs: Any) -> None:
    # Sent once per request, after the commit: an UPDATE that only touches drafts is enough.
    if request.content_type_id == ContentType.objects.get_for_model(Product).pk:
        Product.objects.filter(pk=request.object_id, published=False).update(published=True)
