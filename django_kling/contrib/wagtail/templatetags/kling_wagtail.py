"""``{% kling_image_videos image as videos %}``: what the image page shows about its clips."""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import reverse

from ....site.clips import clips_of
from ..bulk_actions import IMAGE_FIELD, VIDEOS, generate_url
from ..permissions import may_generate, may_request

register = template.Library()


@register.simple_tag(takes_context=True)
def kling_image_videos(context: Any, image: Any) -> dict[str, Any]:
    request = context.get("request")
    user = getattr(request, "user", None)
    here = request.get_full_path() if request is not None else ""
    return {
        "count": len(clips_of(image, IMAGE_FIELD)),
        "list_url": reverse(f"{VIDEOS}:index")
        if user is not None and may_request(user, "view") else "",
        "generate_url": generate_url(type(image), [image.pk], here)
        if user is not None and may_generate(user, image) else "",
    }
