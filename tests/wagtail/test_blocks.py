"""The clip chooser and the StreamField blocks, rendered as pages render them."""

from __future__ import annotations

import pytest

pytest.importorskip("wagtail", reason="Wagtail is not installed (the [wagtail] extra)")

from django.template import Context, Template  # noqa: E402
from django.urls import reverse  # noqa: E402

from django_kling.contrib.wagtail.blocks import KlingVideoBlock  # noqa: E402
from django_kling.jobs import create_video_request  # noqa: E402
from tests.test_templatetags import make_clip  # noqa: E402

from .helpers import make_wagtail_image  # noqa: E402


@pytest.fixture
def clip_job(image, sandbox):
    return make_clip(image, field_name="file", prompt="The jar turns.")



def test_the_video_block_renders_like_the_template_tag(clip_job, settings):
    block = KlingVideoBlock()
    value = block.to_python({"clip": clip_job.pk, "playback": "controls", "caption": ""})
    # The block's own <figure> carries the "AI-generated" label, in its caption.
    tag = Template("{% load kling %}{% kling_video job ai_label=False %}").render(
        Context({"job": clip_job}))
    html = block.render(value)
    assert "<video" in tag and tag.strip() in html  # the same markup, from the same template
    assert '<figcaption><small class="kling-ai-label">AI-generated</small> </figcaption>' in html
    assert html.count("<figure") == 1
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "AI_LABEL": False}
    html = block.render(value)
    assert "<figcaption>" not in html and "AI-generated" not in html


def test_loop_mode_poster_override_and_caption(clip_job, make_image):
    poster = make_wagtail_image(make_image, "Poster", color=(0, 0, 200))
    block = KlingVideoBlock()
    html = block.render(block.to_python({"clip": clip_job.pk, "playback": "loop",
                                         "poster": poster.pk, "caption": "Sea <salt>"}))
    video = html[html.index("<video"):html.index(">", html.index("<video"))]
    assert " autoplay" in video and " muted" in video and " loop" in video
    assert " controls" not in video
    assert "/images/" in video and clip_job.poster.file.name not in video  # the rendition
    assert ("<figcaption><small class=\"kling-ai-label\">AI-generated</small> Sea &lt;salt&gt;"
            "</figcaption>") in html


def test_a_clip_that_is_not_ready_renders_nothing(image, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        job = create_video_request(source=image, field_name="file", prompt="Soon.")
    block = KlingVideoBlock()
    assert block.render(block.to_python({"clip": job.pk})).strip() == ""


def test_the_chooser_offers_only_clips(admin_client, clip_job, image,
                                       django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        pending = create_video_request(source=image, field_name="file", prompt="Soon.")
    response = admin_client.get(reverse("kling_clip_chooser:choose"))
    assert response.status_code == 200
    page = response.json()["html"]
    assert reverse("kling_clip_chooser:chosen", args=(clip_job.pk,)) in page
    assert reverse("kling_clip_chooser:chosen", args=(pending.pk,)) not in page
    assert "Sea salt" in page
    chosen = admin_client.get(reverse("kling_clip_chooser:chosen", args=(clip_job.pk,))).json()
    assert chosen["result"]["title"] == "Sea salt"


def test_a_page_with_the_block_shows_the_clip(client, clip_job):
    from cms.models import HomePage
    from wagtail.models import Page, Site

    home = Page.get_first_root_node().add_child(instance=HomePage(
        title="Sale", slug="sale", body=[("video", {"clip": clip_job, "caption": "Turning"})]))
    Site.objects.update_or_create(is_default_site=True, defaults={
        "hostname": "localhost", "root_page": home})
    page = client.get("/").content.decode()
    assert "<figure class=\"kling-video-block\">" in page and clip_job.video.file.name in page
    assert '<figcaption><small class="kling-ai-label">AI-generated</small> Turning</figcaption>' \
        in page


def test_both_blocks_offer_the_renditions_smallest_first(image, sandbox):
    from django_kling.contrib.wagtail.blocks import FeaturedClipBlock
    from django_kling.editorial import review
    from django_kling.flow import renditions

    sandbox.render_scale = 0.5  # 960x540: the 480p rendition, no 720p one
    job = make_clip(image, field_name="file", prompt="The jar turns.")
    review.feature(job)
    [pk] = renditions.start(job.video)
    assert renditions.make(pk)
    small = job.video.renditions.get().asset
    blocks = [(KlingVideoBlock(), {"clip": job.pk}), (FeaturedClipBlock(), {"image": image.pk})]
    for block, value in blocks:
        html = block.render(block.to_python({**value, "playback": "controls", "caption": ""}))
        sources = [line.strip() for line in html.splitlines() if "<source" in line]
        assert sources == [
            f'<source src="{small.file.url}" type="video/mp4" media="(max-width: 640px)">',
            f'<source src="{job.video.file.url}" type="video/mp4">'], block
