"""The pages visitors see: what a list of clips costs; the example shop as `make demo` serves it.

The example shop is tested from outside, in its own processes (``manage.py`` and a
``runserver`` on a free port, fetched over HTTP): its app label ``shop`` is taken by the test
app in this process, and the point is to check what ``make demo`` really serves (settings,
URLs, media files, the signal receiver that publishes products). The query counts are
measured here in-process, on ``tests.shop`` with a list view written the same way.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import html5lib
import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from django_kling.models import Asset, AssetKind, ReviewStatus, Status, VideoRequest
from tests.shop.models import Product

from .conftest import free_port
from .example_shop import MANAGE, shop_environment
from .example_shop import manage as run_manage
from .test_templatetags import Elements, make_clip, make_product


def valid_document(markup: str | bytes) -> None:
    """Raise if the HTML5 parser reports any error in a whole document."""
    html5lib.HTMLParser(strict=True).parse(markup)


def json_ld_blocks(markup: str) -> list[dict[str, Any]]:
    blocks = []
    for part in markup.split('<script type="application/ld+json">')[1:]:
        blocks.append(json.loads(part.split("</script>")[0]))
    return blocks


# -- queries: constant for any number of products ----------------------------------------------


def copy_clip(job: VideoRequest, product: Product) -> VideoRequest:
    """Another succeeded request, for ``product``, reusing ``job``'s stored files in new rows."""
    link = {"content_type": ContentType.objects.get_for_model(product),
            "object_id": str(product.pk), "field_name": "image"}
    assets = {}
    for kind, asset in ((AssetKind.VIDEO, job.video), (AssetKind.POSTER, job.poster)):
        assets[kind] = Asset.objects.create(
            kind=kind, file=asset.file.name, mime=asset.mime, size=asset.size,
            width=asset.width, height=asset.height, duration=asset.duration, fps=asset.fps,
            has_audio=asset.has_audio, **link)
    return VideoRequest.objects.create(
        first_frame=job.first_frame, prompt=f"{product.name} turns.", provider=job.provider,
        model=job.model, status=Status.SUCCEEDED, finished_at=timezone.now(),
        review_status=ReviewStatus.APPROVED,
        video=assets[AssetKind.VIDEO], poster=assets[AssetKind.POSTER], **link)


@pytest.mark.django_db
def test_a_list_of_clips_costs_the_same_queries_for_3_and_30_products(client, sandbox,
                                                                       make_image):
    first = make_product(make_image, name="Product 0")
    job = make_clip(first)  # a real clip; the others share its files through their own rows

    def add_products(count: int) -> None:
        for _ in range(count):
            product = Product.objects.create(name=f"Product {Product.objects.count()}")
            copy_clip(job, product)

    def list_page() -> tuple[int, str]:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(reverse("product_list"))
        assert response.status_code == 200
        return len(queries), response.content.decode()

    add_products(2)
    few, markup = list_page()
    valid_document(markup)
    assert markup.count("<video") == 3 and len(json_ld_blocks(markup)) == 3
    assert markup.count("(1 clips)") == 3

    add_products(27)
    many, markup = list_page()
    valid_document(markup)
    assert markup.count("<video") == 30 and len(json_ld_blocks(markup)) == 30
    assert few == many <= 4  # count, page of products, their clips, the clips' renditions


# -- the example shop, served as `make demo` serves it -----------------------------------------


def manage(*args: str, env: dict[str, str]) -> str:
    result = run_manage(*args, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout


def fetch(url: str) -> tuple[int, bytes, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310  (loopback)
            return response.status, response.read(), response.headers.get_content_type()
    except urllib.error.HTTPError as error:
        return error.code, error.read(), ""


NEW_PRODUCTS = """
from django.core.files.base import ContentFile
from shop.management.commands.demo_setup import draw_product
from shop.models import Product

for name in ("Night <Lamp> & Co", "Hidden Draft"):
    product = Product(name=name, description="A lamp glows in the dark.")
    image = draw_product("mug", ((20, 20, 60), (250, 240, 200)))
    product.image.save("lamp.jpg", ContentFile(image), save=True)
    print("draft", product.pk, product.published)
"""


@pytest.fixture(scope="module")
def shop_site(tmp_path_factory) -> Iterator[dict[str, Any]]:
    """The example shop with the demo products plus two drafts, one of them given a clip.

    Yields the site's base URL and the drafts' ids; the server runs until the module ends.
    """
    folder = tmp_path_factory.mktemp("shop")
    env = shop_environment(folder, sandbox_delay=0.2)
    drafts = [line.split()[1:] for line in manage("shell", "-c", NEW_PRODUCTS, env=env).split("\n")
              if line.startswith("draft ")]
    assert [published for _pk, published in drafts] == ["False", "False"]
    lamp, hidden = (int(pk) for pk, _published in drafts)
    generated = manage("kling_generate", f"shop.Product:{lamp}", "--prompt",
                       'The lamp glows"><script>alert(1)</script>', "--wait", env=env)
    # A reviewer approves the clip: only then does the shop publish the lamp and show it.
    manage("kling_review", generated.split()[1], "--approve", env=env)

    port = free_port()
    with open(folder / "server.log", "wb") as log:
        server = subprocess.Popen(
            [sys.executable, str(MANAGE), "runserver",
             f"127.0.0.1:{port}", "--noreload"], env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        limit = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(base + "/", timeout=2).close()  # noqa: S310
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > limit:
                    pytest.fail((folder / "server.log").read_text())
                time.sleep(0.1)
        yield {"base": base, "lamp": lamp, "hidden": hidden}
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_product_page_is_valid_html5_with_video_poster_and_json_ld(shop_site):
    base = shop_site["base"]
    status, body, content_type = fetch(f"{base}/products/{shop_site['lamp']}/")
    assert (status, content_type) == (200, "text/html")
    valid_document(body)
    markup = body.decode()
    assert "<script>alert" not in markup

    page = Elements(markup)
    video = page.first("video")
    assert {"autoplay", "muted", "loop", "playsinline", "controls"} <= set(video)
    assert video["class"] == "hero" and video["aria-label"] == "Night <Lamp> & Co"
    assert (video["width"], video["height"]) == ("480", "270")
    source = page.first("source")
    assert source["type"] == "video/mp4"

    (data,) = json_ld_blocks(markup)
    assert data["@type"] == "VideoObject" and data["name"] == "Night <Lamp> & Co"
    assert data["description"] == "A lamp glows in the dark." and data["duration"] == "PT5S"
    assert data["contentUrl"] == base + source["src"]
    assert data["thumbnailUrl"] == base + video["poster"]

    status, clip, content_type = fetch(data["contentUrl"])
    assert status == 200 and clip[4:8] == b"ftyp"
    status, poster, content_type = fetch(data["thumbnailUrl"])
    assert (status, content_type, poster[:3]) == (200, "image/jpeg", b"\xff\xd8\xff")


def test_product_list_shows_products_published_by_their_clip(shop_site):
    status, body, _content_type = fetch(shop_site["base"] + "/")
    assert status == 200
    valid_document(body)
    markup = body.decode()
    # The lamp was a draft: the shop's video_approved receiver published it with its clip.
    assert f'href="/products/{shop_site["lamp"]}/"' in markup
    assert markup.count("<video") == 1 and markup.count('preload="none"') == 1
    assert markup.count('<img src="/media/products/') == 3  # the demo products, no clip yet
    assert "Hidden Draft" not in markup
    assert fetch(f"{shop_site['base']}/products/{shop_site['hidden']}/")[0] == 404
