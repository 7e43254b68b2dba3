"""StreamField blocks that place a clip on a page.

Both render the clip through the same code as ``{% kling_video %}`` (``video_attributes``,
``render_attributes`` and the ``django_kling/video.html`` template, which a project may
override once for both), inside a ``<figure>`` with an optional caption, and the
"AI-generated" label in the figure's caption unless the ``AI_LABEL`` setting is off.

- ``KlingVideoBlock``: a chosen clip, an optional poster image, autoplay-muted-loop or
  controls, a caption.
- ``FeaturedClipBlock``: an image; shows the clip the editors featured for it
  (``clips.featured_clip``), so the page follows their choice without being edited again.
"""

from __future__ import annotations

from typing import Any

from django.template.loader import render_to_string
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _
from wagtail import blocks
from wagtail.images.blocks import ImageChooserBlock

from ...conf import kling_settings
from ...site.clips import Clip, featured_clip, resolve_clip
from ...templatetags.kling import VIDEO_TEMPLATE, render_attributes, video_attributes
from .bulk_actions import IMAGE_FIELD
from .choosers import ClipChooserBlock

PLAYBACK_CHOICES = [
    ("controls", _("With controls")),
    ("loop", _("Autoplay, muted, looping (no controls)")),
]
#: The <video> attributes of each playback choice, over the defaults of {% kling_video %}.
PLAYBACK_ATTRIBUTES: dict[str, dict[str, Any]] = {
    "controls": {},
    "loop": {"autoplay": True, "muted": True, "loop": True, "controls": False},
}
POSTER_RENDITION = "max-1920x1080"


def render_clip(clip: Clip, extra: dict[str, Any], request: Any = None) -> SafeString:
    """The clip's ``<video>`` exactly as ``{% kling_video clip -- extra %}`` renders it."""
    attributes = video_attributes(clip, extra, page=request)
    return render_to_string(VIDEO_TEMPLATE, {
        "clip": clip, "attributes": render_attributes(attributes), "attrs": attributes,
        "captions": clip.captions, "request": request,
        "ai_label": False}, request=request)  # the block's figure shows it


def clip_attributes(value: Any) -> dict[str, Any]:
    extra = dict(PLAYBACK_ATTRIBUTES.get(value.get("playback") or "controls", {}))
    poster = value.get("poster")
    if poster is not None:
        extra["poster"] = poster.get_rendition(POSTER_RENDITION).url
    return extra


def playback_block(default: str) -> blocks.ChoiceBlock:
    return blocks.ChoiceBlock(label=_("Playback"), choices=PLAYBACK_CHOICES, default=default)


def caption_block() -> blocks.CharBlock:
    return blocks.CharBlock(label=_("Caption"), required=False, max_length=250)


class ClipBlock(blocks.StructBlock):
    """What both blocks share: the rendering of ``clip_of(value)`` with playback and caption."""

    class Meta:
        icon = "media"
        template = "django_kling_wagtail/blocks/video.html"

    def clip_of(self, value: Any) -> Clip | None:
        raise NotImplementedError

    def get_context(self, value: Any, parent_context: dict[str, Any] | None = None) \
            -> dict[str, Any]:
        context = super().get_context(value, parent_context)
        clip = self.clip_of(value)
        request = (parent_context or {}).get("request")
        context["video"] = render_clip(clip, clip_attributes(value), request) if clip else ""
        context["clip"] = clip
        context["ai_label"] = kling_settings.AI_LABEL
        return context


class KlingVideoBlock(ClipBlock):
    clip = ClipChooserBlock(label=_("Clip"))
    poster = ImageChooserBlock(label=_("Poster"), required=False,
                               help_text=_("Shown before the clip plays; empty: its own frame."))
    playback = playback_block("controls")
    caption = caption_block()

    class Meta:
        label = _("Video clip")

    def clip_of(self, value: Any) -> Clip | None:
        job = value.get("clip")
        return resolve_clip(job) if job is not None else None


class FeaturedClipBlock(ClipBlock):
    image = ImageChooserBlock(label=_("Image"),
                              help_text=_("The page shows the clip featured for this image."))
    playback = playback_block("loop")
    caption = caption_block()

    class Meta:
        label = _("Featured clip of an image")

    def clip_of(self, value: Any) -> Clip | None:
        image = value.get("image")
        return featured_clip(image, IMAGE_FIELD) if image is not None else None
