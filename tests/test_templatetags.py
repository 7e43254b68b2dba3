"""``{% load kling %}``: every tag and option, on clips made by real jobs against the sandbox.

Clips come from real jobs whose steps run in the test's own thread (``make_clip``): the same
submit/poll/fetch code the Dramatiq actors run, without the broker, so each test stays inside
one rolled-back transaction and a clip costs about half a second.
"""

from __future__ import annotations

import html
import json
import pickle
import re
import time
import urllib.request
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

import html5lib
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.db import connection
from django.template import Context, Template, TemplateSyntaxError
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext

from django_kling.editorial import review
from django_kling.exceptions import ClipNotFound
from django_kling.jobs import create_video_request
from django_kling.models import Status, VideoRequest
from django_kling.site.clips import (
    SIGNED_URL_MIN_SECONDS,
    Clip,
    clips_of,
    latest_clip,
    prefetch_clips,
)
from django_kling.site.jsonld import iso_duration
from tests.shop.models import Product

from .conftest import run_steps

EVIL = '"><script>alert(1)</script>'
EVIL_PROMPT = 'The bottle turns"><script>alert("x")</script></script><!-- & waves'


# -- making clips -----------------------------------------------------------------------------


def make_clip(source: Product | None = None, *, image: bytes | None = None,
              field_name: str = "image", prompt: str = "The bottle turns; waves roll in.",
              approved: bool = True, **options: Any) -> VideoRequest:
    """A real job run to its end here: create_video_request, then each step the actors run;
    then approved by a reviewer (``approved=False`` leaves it awaiting review)."""
    job = create_video_request(image, source=source, field_name=field_name if source else "",
                               prompt=prompt, **options)
    run_steps(job.pk)
    job.refresh_from_db()
    assert job.status == Status.SUCCEEDED, (job.error_code, job.error_message)
    return review.approve(job) if approved else job


def make_product(make_image, name: str = "Sea Salt", **fields: Any) -> Product:
    product = Product(name=name, **fields)
    product.image.save("product.png", ContentFile(make_image(640, 360)), save=True)
    return product


@pytest.fixture
def product(db, sandbox, make_image) -> Product:
    return make_product(make_image, name=EVIL)


@pytest.fixture
def clip_job(product) -> VideoRequest:
    return make_clip(product, prompt=EVIL_PROMPT)


# -- reading HTML -----------------------------------------------------------------------------


class Elements(HTMLParser):
    """Start tags with their attributes, and the text, of an HTML fragment."""

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def first(self, tag: str) -> dict[str, str | None]:
        return next(attrs for name, attrs in self.elements if name == tag)

    def tags(self) -> list[str]:
        return [name for name, _attrs in self.elements]


def valid_fragment(markup: str) -> None:
    """Raise if the HTML5 parser finds any error in ``markup`` (put inside a <div>)."""
    html5lib.HTMLParser(strict=True).parseFragment(markup, container="div")


def render(source: str, **context: Any) -> str:
    return Template("{% load kling %}" + source).render(Context(context))


def json_ld(markup: str) -> dict[str, Any]:
    match = re.fullmatch(r'<script type="application/ld\+json">(.*)</script>', markup, re.S)
    assert match, markup
    return json.loads(match.group(1))


# -- no clip ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_no_clip_renders_nothing(make_image):
    product = make_product(make_image)
    unsaved = Product(name="draft")
    for target in (product, unsaved, None, "", "not a model"):
        for tag in ("kling_video", "kling_video_url", "kling_poster_url", "kling_video_jsonld"):
            assert render(f"{{% {tag} obj %}}", obj=target) == "", (tag, target)
        assert render("{{ obj|kling_clips|length }}", obj=target) == "0"
        assert render("{% kling_clip obj as clip %}{{ clip|default:'none' }}", obj=target) == "none"
    with CaptureQueriesContext(connection) as queries:
        assert render("{% kling_video obj %}", obj=unsaved) == ""
    assert len(queries) == 0


@pytest.mark.django_db
def test_strict_raises_without_a_clip(make_image):
    product = make_product(make_image)
    for source in ("{% kling_video obj strict=True %}", "{% kling_video_url obj strict=True %}",
                   "{% kling_poster_url obj strict=True %}", "{% kling_clip obj strict=True %}",
                   "{% kling_video_jsonld obj strict=True %}"):
        with pytest.raises(ClipNotFound):
            render(source, obj=product)
    assert render("{% kling_video obj strict=False %}", obj=product) == ""


def test_unfinished_requests_render_nothing(worker, sandbox, make_image,
                                            django_capture_on_commit_callbacks):
    sandbox.set_fault("generation_error", times=1)
    failed = create_video_request(make_image())
    from .conftest import wait_for_end

    assert wait_for_end(failed).status == Status.FAILED
    with django_capture_on_commit_callbacks(execute=False):
        queued = create_video_request(make_image())  # never enqueued: stays queued
    for job in (failed, queued):
        assert render("{% kling_video job %}{% kling_video_url job %}", job=job) == ""
        assert render("{{ job|kling_clips|length }}", job=job) == "0"


# -- the <video> element ------------------------------------------------------------------------


def test_video_markup_on_local_storage(clip_job, product, settings):
    markup = render("{% kling_video obj %}", obj=product)
    valid_fragment(markup)
    page = Elements(markup)
    assert page.tags() == ["figure", "video", "source", "a", "figcaption", "small"]
    video = page.first("video")
    clip = clip_job.video
    assert video == {"controls": None, "preload": "metadata", "playsinline": None,
                     "width": str(clip.width), "height": str(clip.height),
                     # Fits its container on a page without CSS, keeping the dimensions (issue 21).
                     "style": "max-width: 100%; height: auto",
                     "poster": clip_job.poster.file.url}
    assert (clip.width, clip.height) == (480, 270)  # probed (the sandbox renders at 1/4 scale)
    source = page.first("source")
    assert source == {"src": clip.file.url, "type": "video/mp4"}
    assert source["src"].startswith(settings.MEDIA_URL)  # local disk: a plain URL, no signing
    link = page.first("a")
    assert link == {"href": clip.file.url, "download": None}
    assert "cannot play this video" in "".join(page.text)
    with clip.file.open("rb") as fh:
        assert fh.read(12)[4:8] == b"ftyp"


def test_attributes_pass_through_after_the_dashes(clip_job, product):
    markup = render('{% kling_video obj -- autoplay muted loop class="hero" data-id=obj.pk '
                    'aria-label=obj.name preload="auto" controls=False x-on:click="play()" %}',
                    obj=product)
    valid_fragment(markup)
    video = Elements(markup).first("video")
    assert "controls" not in video  # False drops a default
    assert (video["autoplay"], video["muted"], video["loop"]) == (None, None, None)  # bare
    assert video["class"] == "hero" and video["preload"] == "auto"
    assert video["data-id"] == str(product.pk) and video["x-on:click"] == "play()"
    assert video["aria-label"] == EVIL
    assert re.search(r"<video[^>]* autoplay muted loop ", markup)


def test_hostile_values_are_escaped(clip_job, product):
    markup = render('{% kling_video obj -- title=evil class=evil data-x="a&b" %}',
                    obj=product, evil=EVIL)
    valid_fragment(markup)
    assert "<script>" not in markup
    assert 'title="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in markup
    video = Elements(markup).first("video")
    assert video["title"] == EVIL and video["class"] == EVIL and video["data-x"] == "a&b"


@pytest.mark.parametrize("source", [
    "{% kling_video %}",
    "{% kling_video obj size=3 %}",
    "{% kling_video obj field %}",
    "{% kling_video obj field=\"a\" field=\"b\" %}",
    '{% kling_video obj -- "onload"=1 %}',
    "{% kling_video obj -- a>b %}",
    "{% kling_video obj -- title= %}",
    "{% kling_video obj as clip -- autoplay %}",
])
def test_syntax_errors(source):
    with pytest.raises(TemplateSyntaxError):
        Template("{% load kling %}" + source)


def test_field_option(clip_job, product):
    assert "<video" in render('{% kling_video obj field="image" %}', obj=product)
    assert render('{% kling_video obj field="photo" %}', obj=product) == ""
    assert render('{% kling_video_url obj field="photo" %}', obj=product) == ""
    assert render('{{ obj|kling_clips:"photo"|length }}', obj=product) == "0"


def test_request_asset_and_clip_given_directly(clip_job, product):
    expected = render("{% kling_video obj %}", obj=product)
    assert render("{% kling_video job %}", job=clip_job) == expected
    assert render("{% kling_video asset %}", asset=clip_job.video) == expected
    assert render("{% kling_clip obj as clip %}{% kling_video clip %}", obj=product) == expected
    for not_a_clip in (clip_job.poster, clip_job.first_frame):
        assert render("{% kling_video asset %}", asset=not_a_clip) == ""


def test_assignment_forms_and_url_tags(clip_job, product):
    video_url, poster_url = clip_job.video.file.url, clip_job.poster.file.url
    assert render("{% kling_video_url obj %}|{% kling_poster_url obj %}", obj=product) == (
        f"{video_url}|{poster_url}")
    assert render("{% kling_video_url obj as v %}{% kling_poster_url obj as p %}[{{ v }}|{{ p }}]",
                  obj=product) == f"[{video_url}|{poster_url}]"
    markup = render('{% kling_clip obj as clip %}<img src="{{ clip.poster_url }}" '
                    'width="{{ clip.width }}" alt="">{{ clip.duration|floatformat:0 }}s'
                    '{% kling_video obj as same %}{{ same.url }}', obj=product)
    assert markup == (f'<img src="{poster_url}" width="{clip_job.video.width}" alt="">5s'
                      f"{video_url}")
    assert render('{% kling_clip obj field="image" %}', obj=product) == video_url  # str(clip)


def test_kling_clips_lists_newest_first(clip_job, product):
    newer = make_clip(product, prompt="Second take.")
    clips = clips_of(product)
    assert [c.request.pk for c in clips] == [newer.pk, clip_job.pk]
    assert latest_clip(product).request.pk == newer.pk
    markup = render("{% for clip in obj|kling_clips %}{{ clip.prompt }};{% endfor %}",
                    obj=product)
    assert markup == html.escape("Second take.;" + EVIL_PROMPT + ";")
    assert render("{{ job|kling_clips|length }}", job=clip_job) == "1"
    assert Elements(render("{% kling_video obj %}", obj=product)).first("source")["src"] == (
        newer.video.file.url)


def test_the_video_template_can_be_overridden(clip_job, product, settings, tmp_path):
    folder = tmp_path / "django_kling"
    folder.mkdir()
    (folder / "video.html").write_text(
        '<figure><video{{ attributes }} src="{{ clip.url }}"></video>'
        "<figcaption>{{ clip.prompt }}</figcaption></figure>")
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [str(tmp_path)]}]
    markup = render("{% kling_video obj -- muted %}", obj=product)
    assert markup.startswith("<figure><video controls preload") and " muted " in markup + " "
    assert "<script>" not in markup and html.escape(EVIL_PROMPT) in markup


# -- JSON-LD ------------------------------------------------------------------------------------


def test_json_ld_video_object(clip_job, product):
    request = RequestFactory().get("/products/1/", HTTP_HOST="shop.example.com", secure=True)
    markup = render("{% kling_video_jsonld obj %}", obj=product, request=request)
    valid_fragment(markup)
    assert "<script>" not in markup.removeprefix('<script type="application/ld+json">')
    assert "</script" not in markup[: -len("</script>")] and "<!--" not in markup
    data = json_ld(markup)
    assert data == {
        "@context": "https://schema.org",
        "@type": "VideoObject",
        "name": EVIL,
        "description": EVIL_PROMPT,
        "contentUrl": f"https://shop.example.com{clip_job.video.file.url}",
        "thumbnailUrl": f"https://shop.example.com{clip_job.poster.file.url}",
        "encodingFormat": "video/mp4",
        "uploadDate": clip_job.finished_at.isoformat(),
        "digitalSourceType": "https://schema.org/TrainedAlgorithmicMediaDigitalSource",
        "duration": "PT5S",
    }


def test_json_ld_options_and_targets(clip_job, product, make_image):
    data = json_ld(render('{% kling_video_jsonld obj name="Salt" description=d %}', obj=product,
                          d="A & B"))
    assert (data["name"], data["description"]) == ("Salt", "A & B")
    assert data["contentUrl"] == clip_job.video.file.url  # no request: left as the storage gave
    # Given the request: named after its source object.
    assert json_ld(render("{% kling_video_jsonld job %}", job=clip_job))["name"] == EVIL
    standalone = make_clip(image=make_image(), prompt="Waves.", duration=10)
    data = json_ld(render("{% kling_video_jsonld job %}", job=standalone))
    assert (data["name"], data["description"], data["duration"]) == ("Waves.", "Waves.", "PT10S")


def test_iso_durations():
    assert [iso_duration(s) for s in (5.0, 5.04, 9.6, 0.2, 65, 3600, 3725)] == [
        "PT5S", "PT5S", "PT10S", "PT1S", "PT1M5S", "PT1H", "PT1H2M5S"]


# -- storages -----------------------------------------------------------------------------------


def signed_for(url: str) -> float:
    """Seconds a signed S3 URL stays valid (signature v4 or v2); fails if it is not signed."""
    query = parse_qs(urlsplit(url).query)
    if "X-Amz-Signature" in query:
        return float(query["X-Amz-Expires"][0])
    assert "Signature" in query, url
    return float(query["Expires"][0]) - time.time()


def set_storage_options(settings, alias: str, **options: Any) -> None:
    backend = settings.STORAGES[alias]
    settings.STORAGES = {**settings.STORAGES,
                         alias: {**backend, "OPTIONS": {**backend["OPTIONS"], **options}}}


def test_private_s3_bucket_gets_signed_urls_that_play(sandbox, s3_storage, make_image, db,
                                                      settings):
    # A storage configured with a short expiry still gets URLs that outlive a visit.
    set_storage_options(settings, s3_storage, querystring_expire=60)
    product = make_product(make_image)
    job = make_clip(product)
    assert storages[s3_storage].exists(job.video.file.name)
    markup = render('{% kling_video obj %}{% kling_video_jsonld obj %}', obj=product)
    page = Elements(markup.split("<script")[0])
    src, poster = page.first("source")["src"], page.first("video")["poster"]
    for url in (src, poster):
        assert signed_for(url) >= SIGNED_URL_MIN_SECONDS - 5
    with urllib.request.urlopen(src) as response:  # noqa: S310  (loopback moto server)
        body = response.read()
    assert body[4:8] == b"ftyp" and len(body) == job.video.size
    with urllib.request.urlopen(poster) as response:  # noqa: S310
        assert response.read(3) == b"\xff\xd8\xff"  # JPEG
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(src.split("?")[0])  # noqa: S310  (unsigned: refused)
    # Already absolute: the request leaves the signed URL as it is, and it still plays.
    request = RequestFactory().get("/", HTTP_HOST="shop.example.com")
    data = json_ld(render("{% kling_video_jsonld obj %}", obj=product, request=request))
    assert data["contentUrl"].startswith(settings.STORAGES["videos"]["OPTIONS"]["endpoint_url"])
    with urllib.request.urlopen(data["contentUrl"]) as response:  # noqa: S310
        assert response.read(8)[4:8] == b"ftyp"

    # The same bucket made public: plain URLs.
    set_storage_options(settings, s3_storage, querystring_auth=False)
    assert "?" not in render("{% kling_video_url obj %}", obj=product)


# -- prefetching --------------------------------------------------------------------------------


def test_prefetch_clips_on_a_queryset_is_lazy_and_costs_one_query(clip_job, product,
                                                                  make_image):
    bare = make_product(make_image, name="No clip yet")
    with CaptureQueriesContext(connection) as queries:
        products = prefetch_clips(Product.objects.order_by("pk"))
        products = products.filter(pk__in=[product.pk, bare.pk])  # still lazy, still attaching
    assert len(queries) == 0
    with CaptureQueriesContext(connection) as queries:
        markup = render("{% for p in products %}{% kling_video p %}{% kling_video_jsonld p %}"
                        "{{ p|kling_clips|length }}{% endfor %}", products=products)
    assert len(queries) == 3  # the products, then every clip of them, then their renditions
    assert markup.count("<video") == 1 and markup.endswith("0")

    expected = [Clip(clip_job.video)]
    with CaptureQueriesContext(connection) as queries:
        one = prefetch_clips(Product.objects.all()).get(pk=product.pk)
        assert latest_clip(one).request.pk == clip_job.pk
        page = list(prefetch_clips(Product.objects.order_by("pk"))[:1])
        assert clips_of(page[0]) == expected
    assert len(queries) == 6  # each: the products, their clips, the clips' renditions


def test_a_prefetching_queryset_pickles_with_its_clips(clip_job, product):
    products = pickle.loads(pickle.dumps(prefetch_clips(Product.objects.filter(pk=product.pk))))
    assert type(products) is type(Product.objects.all())
    with CaptureQueriesContext(connection) as queries:
        assert "<video" in render("{% kling_video p %}", p=products[0])
    assert len(queries) == 0


def test_prefetch_clips_on_a_list_and_by_field(clip_job, product, make_image):
    other = make_product(make_image, name="Other")
    products = [Product.objects.get(pk=product.pk), other]
    with CaptureQueriesContext(connection) as queries:
        assert prefetch_clips(products, field="image") == products
        assert render("{% kling_video a field='image' %}{% kling_video b field='image' %}",
                      a=products[0], b=products[1]).count("<video") == 1
    assert len(queries) == 2  # their clips, then the clips' renditions
    with CaptureQueriesContext(connection) as queries:
        assert render("{% kling_video a field='photo' %}", a=products[0]) == ""
    assert len(queries) == 1  # prefetched for "image" only: "photo" is looked up
    prefetch_clips(products)  # every field: a superset the tags filter by field
    with CaptureQueriesContext(connection) as queries:
        assert render("{% kling_video a field='photo' %}", a=products[0]) == ""
        assert "<video" in render("{% kling_video a field='image' %}", a=products[0])
    assert len(queries) == 0
