"""``{% load kling %}``: show an object's clip in a page.

``{% kling_video obj [field="image"] [language="zh"] [aspect="9:16"] [strict=True]
[description="..."] [ai_label=False] [as clip] [-- attr attr="value" ...] %}``
renders the ``django_kling/video.html`` template (override it in your project) with the clip's
caption track, if it has one, ``description`` (a text description of the clip, for people
who cannot see it; WCAG's answer for a clip without speech) for screen readers, and a visible
"AI-generated" label unless ``ai_label=False`` or the ``AI_LABEL`` setting is off; the other tags
give the pieces for markup of your own:

- ``{% kling_clip obj as clip %}`` (``clip.url``, ``clip.poster_url``, ``clip.width`` ...),
- ``{% kling_video_url obj %}`` / ``{% kling_poster_url obj %}``,
- ``{% kling_video_jsonld obj [name=...] [description=...] %}``,
- ``{{ obj|kling_clips }}`` / ``{{ obj|kling_clips:"image" }}`` (newest first).

``obj`` is any model instance (its featured clip: ``clips.featured_clip``, in the active
language unless ``language`` is given, of the ``aspect`` ratio if given), a ``VideoRequest``, a
video ``Asset`` or a ``Clip``. With ``REQUIRE_APPROVAL`` only approved clips are shown. Without
a clip every tag renders nothing, unless ``strict=True``.
"""

from __future__ import annotations

import re
from typing import Any

from django import template
from django.db import models
from django.template.base import FilterExpression, Parser, Token
from django.template.context import Context
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import Truncator
from django.utils.translation import gettext

from ..conf import kling_settings
from ..exceptions import ClipNotFound
from ..models import Asset, VideoRequest
from ..site.captions import cross_origin
from ..site.clips import Clip, clips_of, resolve_clip
from ..site.jsonld import json_ld_script, video_object

register = template.Library()

VIDEO_TEMPLATE = "django_kling/video.html"

# HTML attribute names may hold almost anything (x-on:click, @click, :class, data-id) but
# never what would end the name or the tag.
_ATTRIBUTE_NAME = re.compile(r"^[^\s\"'<>/=`\x00-\x1f\x7f]+$")
_OPTIONS = ("field", "language", "aspect", "strict", "description", "ai_label")


def _clip_or_raise(target: Any, field: Any, strict: Any, language: Any = None,
                   aspect: Any = None) -> Clip | None:
    clip = resolve_clip(target, str(field) if field else None,
                        language=str(language) if language else None,
                        aspect=str(aspect) if aspect else None)
    if clip is None and strict:
        raise ClipNotFound(gettext("%(object)r has no video.") % {"object": target})
    return clip


def video_attributes(clip: Clip, extra: dict[str, Any], page: Any = None) -> dict[str, Any]:
    """The ``<video>`` element's attributes: our defaults, then ``extra`` over them.

    ``crossorigin="anonymous"`` when the captions come from another origin than ``page`` (the
    ``HttpRequest``; unknown: any absolute URL), or the browser would not load them
    (``site.captions``).

    ``width``/``height`` come from the probed file, so the page does not move when the video
    loads, and ``style`` lets it shrink to its container keeping that shape (a 1920 px clip
    must not overflow a page without CSS); ``preload="metadata"`` fetches a few kilobytes,
    not the clip.
    """
    attributes: dict[str, Any] = {
        "controls": True,
        "preload": "metadata",
        "playsinline": True,
        "width": clip.width,
        "height": clip.height,
        "style": "max-width: 100%; height: auto",
        "poster": clip.poster_url or None,
        "crossorigin": (cross_origin(clip.captions.url, page)
                        if clip.captions is not None else None),
    }
    attributes.update(extra)
    return attributes


def render_attributes(attributes: dict[str, Any]) -> SafeString:
    """`` name="value"`` pairs; True renders the bare name, False and None nothing.

    Values are always escaped, even those marked safe (string literals in a template are):
    an attribute value is text, never markup.
    """
    parts = []
    for name, value in attributes.items():
        if value is True:
            parts.append(format_html(" {}", name))
        elif value is not False and value is not None:
            parts.append(format_html(' {}="{}"', name, escape(str(value))))
    return mark_safe("".join(parts))  # noqa: S308  (every part went through format_html)


class VideoNode(template.Node):
    def __init__(self, target: FilterExpression, options: dict[str, FilterExpression],
                 attributes: list[tuple[str, FilterExpression | None]],
                 asvar: str | None) -> None:
        self.target = target
        self.options = options
        self.attributes = attributes
        self.asvar = asvar

    def render(self, context: Context) -> str:
        options = {name: expr.resolve(context) for name, expr in self.options.items()}
        clip = _clip_or_raise(self.target.resolve(context), options.get("field"),
                              options.get("strict"), options.get("language"),
                              options.get("aspect"))
        if self.asvar:
            context[self.asvar] = clip
            return ""
        if clip is None:
            return ""
        extra = {name: True if expr is None else expr.resolve(context)
                 for name, expr in self.attributes}
        page = getattr(context, "request", None) or context.get("request")
        description = str(options.get("description") or "")
        described = f"kling-description-{clip.video.pk}" if description else None
        if described:
            extra = {"aria-describedby": described, **extra}
        attributes = video_attributes(clip, extra, page=page)
        video_template = context.template.engine.get_template(VIDEO_TEMPLATE)
        # Pushed onto the page's context, so an overriding template also sees request etc.
        label = options.get("ai_label", kling_settings.AI_LABEL)
        with context.push(clip=clip, attributes=render_attributes(attributes),
                          attrs=attributes, captions=clip.captions,
                          description=description, description_id=described,
                          ai_label=bool(label)):
            return video_template.render(context)


@register.tag
def kling_video(parser: Parser, token: Token) -> VideoNode:
    """``{% kling_video obj [field=...] [language=...] [aspect=...] [strict=...] [ai_label=...]
    [as var] [-- attributes] %}``."""
    bits = token.split_contents()
    tag = bits.pop(0)
    attribute_bits: list[str] = []
    if "--" in bits:
        at = bits.index("--")
        bits, attribute_bits = bits[:at], bits[at + 1:]
    asvar = None
    if len(bits) >= 2 and bits[-2] == "as":
        asvar = bits[-1]
        bits = bits[:-2]
    if not bits:
        raise template.TemplateSyntaxError(f"{tag} needs the object to show: {{% {tag} obj %}}")
    target = parser.compile_filter(bits.pop(0))
    options: dict[str, FilterExpression] = {}
    for bit in bits:
        name, sep, value = bit.partition("=")
        if not sep or name not in _OPTIONS or not value:
            raise template.TemplateSyntaxError(
                f"{tag} takes the options {', '.join(_OPTIONS)} (name=value), then `as name` "
                f"or `-- attributes`; got {bit!r}")
        if name in options:
            raise template.TemplateSyntaxError(f"{tag} got the option {name} twice")
        options[name] = parser.compile_filter(value)
    if asvar and attribute_bits:
        raise template.TemplateSyntaxError(f"{tag} ... as {asvar} renders nothing, so it takes "
                                           "no attributes")
    attributes: list[tuple[str, FilterExpression | None]] = []
    for bit in attribute_bits:
        name, sep, value = bit.partition("=")
        if not _ATTRIBUTE_NAME.match(name) or (sep and not value):
            raise template.TemplateSyntaxError(f"{tag}: {bit!r} is not an HTML attribute")
        attributes.append((name, parser.compile_filter(value) if sep else None))
    return VideoNode(target, options, attributes, asvar)


@register.simple_tag
def kling_clip(target: Any, field: str | None = None, strict: bool = False,
               language: str | None = None, aspect: str | None = None) -> Clip | None:
    """``{% kling_clip obj [aspect="9:16"] as clip %}``: the clip, to build markup of your own."""
    return _clip_or_raise(target, field, strict, language, aspect)


@register.simple_tag
def kling_video_url(target: Any, field: str | None = None, strict: bool = False) -> str:
    clip = _clip_or_raise(target, field, strict)
    return clip.url if clip is not None else ""


@register.simple_tag
def kling_poster_url(target: Any, field: str | None = None, strict: bool = False) -> str:
    clip = _clip_or_raise(target, field, strict)
    return clip.poster_url if clip is not None else ""


@register.filter
def kling_clips(target: Any, field: str | None = None) -> list[Clip]:
    """``{{ obj|kling_clips }}``: every clip of an object that may be shown, newest first."""
    if isinstance(target, models.Model) and not isinstance(target, (VideoRequest, Asset)):
        return clips_of(target, field or None)
    clip = resolve_clip(target)
    return [clip] if clip is not None else []


@register.simple_tag(takes_context=True)
def kling_video_jsonld(context: Context, target: Any, field: str | None = None,
                       name: str | None = None, description: str | None = None,
                       strict: bool = False) -> str:
    """``<script type="application/ld+json">`` with the clip's schema.org ``VideoObject``.

    URLs are made absolute with the context's ``request`` (search engines need them so).
    """
    clip = _clip_or_raise(target, field, strict)
    if clip is None:
        return ""
    request = getattr(context, "request", None) or context.get("request")
    absolute = request.build_absolute_uri if request is not None else str
    data = video_object(clip, name=str(name or _default_name(target, clip)),
                        description=str(description or ""), absolute=absolute)
    return json_ld_script(data)


def _default_name(target: Any, clip: Clip) -> str:
    if isinstance(target, models.Model) and not isinstance(target, (VideoRequest, Asset)):
        return str(target)
    if clip.request is not None:
        source = clip.request.source_object  # None when the source was deleted
        if source is not None:
            return str(source)
        if clip.request.prompt:
            return Truncator(clip.request.prompt).chars(100)
    return gettext("Video")
