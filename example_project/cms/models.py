"""The demo site's one page type: a home page whose body places generated clips."""

from wagtail import blocks
from wagtail.admin.panels import FieldPanel
from wagtail.fields import StreamField
from wagtail.models import Page

from django_kling.contrib.wagtail.blocks import FeaturedClipBlock, KlingVideoBlock


class HomePage(Page):
    body = StreamField([
        ("heading", blocks.CharBlock(form_classname="title")),
        ("paragraph", blocks.RichTextBlock()),
        ("video", KlingVideoBlock()),
        ("featured_video", FeaturedClipBlock()),
    ], blank=True)

    content_panels = [*Page.content_panels, FieldPanel("body")]
