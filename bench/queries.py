"""Item 5: queries and server time of the admin changelist and of a product list with clips.

    python -m bench.queries            # 10 / 10,000 requests; 3 / 300 products (~1 min)
    python -m bench.queries --quick    # 10 / 2,000 requests; 3 / 100 products

Runs on the bench's PostgreSQL database with Django's test client (in-process: "server time"
is the time of ``client.get``, the median of ``--reps`` requests after one warm-up request).

- Admin: a superuser GETs ``reverse("admin:django_kling_videorequest_changelist")`` with 10
  and with 10,000 ``VideoRequest`` rows (mixed states; each with its own first frame, the
  succeeded ones with video and poster assets, linked to products).
- Product list: products that each have a succeeded clip (and an older one), shown with the
  ``kling`` template tags. Measured three ways when the app has them: the tests' host page
  ``reverse("product_list")`` (if it exists; paginated by the host), an unpaginated page of every
  product rendered through ``django_kling.site.clips.prefetch_clips``, and the same page without the
  prefetch (what the helper saves).

Verdict: the same number of queries at both sizes, for the admin and for the prefetched list.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import timedelta
from typing import Any

from bench import harness
from bench.harness import say

PAGE = """{% load kling %}<ul>{% for product in products %}
<li>{% kling_video product -- muted loop aria-label=product.name %}
{% kling_video_jsonld product %}
<a href="{% kling_video_url product %}">{{ product.name }}</a>
({{ product|kling_clips|length }} clips)</li>{% endfor %}</ul>"""

STATES = ["succeeded"] * 6 + ["running", "failed", "queued", "fetching"]


def make_rows(requests: int, products: int) -> None:
    """``products`` products, each with 2 succeeded clips; ``requests`` requests in all."""
    from django.contrib.contenttypes.models import ContentType
    from django.utils import timezone

    from django_kling.models import Asset, VideoRequest
    from tests.shop.models import Product

    harness.clear_tables()
    shop = Product.objects.bulk_create(
        [Product(name=f"Product {i}", image=f"products/{i}.jpg") for i in range(products)])
    product_type = ContentType.objects.get_for_model(Product)
    now = timezone.now()
    assets, rows = [], []
    total = max(requests, 2 * products)
    for index in range(total):
        product = shop[index % len(shop)] if shop else None
        link = {"content_type": product_type, "object_id": str(product.pk),
                "field_name": "image"} if product else {}
        status = "succeeded" if index < 2 * products else STATES[index % len(STATES)]
        first = Asset(kind="source_image", mime="image/jpeg", size=180_000, width=1920,
                      height=1080, file=f"kling/bench/source_image/{index}.jpg", **link)
        assets.append(first)
        video = poster = None
        if status == "succeeded":
            video = Asset(kind="video", mime="video/mp4", size=2_000_000, width=1920,
                          height=1080, duration=5.0, fps=30.0, has_audio=True,
                          file=f"kling/bench/video/{index}.mp4", **link)
            poster = Asset(kind="poster", mime="image/jpeg", size=90_000, width=1920,
                           height=1080, file=f"kling/bench/poster/{index}.jpg", **link)
            assets += [video, poster]
        created = now - timedelta(seconds=total - index)
        rows.append(VideoRequest(
            first_frame=first, video=video, poster=poster, status=status,
            prompt=f"Clip {index}: the bottle turns slowly.", duration=5, aspect_ratio="16:9",
            mode="pro", generate_audio=True, provider="gateway", model="klingai/kling-v2.6-i2v",
            protocol="async", estimated_cost="0.700",
            submitted_at=created, finished_at=created if status in ("succeeded", "failed")
            else None, operation_id=f"job_{index}", **link))
    Asset.objects.bulk_create(assets, batch_size=2000)
    VideoRequest.objects.bulk_create(rows, batch_size=2000)


def measure(get: Any, reps: int) -> tuple[int, float, int]:
    """(queries, median ms, response bytes) of ``get()``, after one warm-up call."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    response = get()
    assert response.status_code == 200, response.status_code
    with CaptureQueriesContext(connection) as captured:
        response = get()
    count = len(captured)  # now: the captured list is read from the connection's log
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        get()
        times.append(time.perf_counter() - start)
    return count, 1000 * statistics.median(times), len(response.content)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="smaller large sizes, 3 reps")
    args = parser.parse_args()
    reps = 3 if args.quick else args.reps
    request_sizes = (10, 2000 if args.quick else 10_000)
    product_sizes = (3, 100 if args.quick else 300)

    with harness.temp_media() as media_root, harness.time_limit(600, "queries"):
        harness.ensure_database()
        harness.setup_django(BENCH_MEDIA_ROOT=media_root)
        harness.migrate()
        from django.contrib.auth import get_user_model
        from django.template import engines
        from django.test import Client
        from django.urls import NoReverseMatch, reverse

        busy = harness.machine_busy()
        started = time.monotonic()
        User = get_user_model()  # noqa: N806
        User.objects.filter(username="bench-admin").delete()
        admin = User.objects.create_superuser("bench-admin", "bench@example.com", "x")
        client = Client()
        client.force_login(admin)
        results: dict[str, dict[int, tuple[int, float, int]]] = {}

        changelist = reverse("admin:django_kling_videorequest_changelist")
        results["admin changelist"] = {}
        for size in request_sizes:
            make_rows(size, products=min(size // 2, 50))
            results["admin changelist"][size] = measure(lambda: client.get(changelist), reps)

        try:
            from django_kling.site.clips import prefetch_clips
            engines["django"].from_string("{% load kling %}")
            tags = None
        except Exception as exc:  # noqa: BLE001
            prefetch_clips, tags = None, f"{type(exc).__name__}: {exc}"
        try:
            host_page = reverse("product_list")
        except NoReverseMatch:
            host_page = None
        if tags is None:
            from tests.shop.models import Product

            page = engines["django"].from_string(PAGE)
            lists = {
                "products, prefetch_clips": lambda: _Rendered(page.render(
                    {"products": prefetch_clips(Product.objects.order_by("pk"))})),
                "products, no prefetch": lambda: _Rendered(page.render(
                    {"products": Product.objects.order_by("pk")})),
            }
            if host_page:
                lists["host page /products/"] = lambda: client.get(host_page)
            for name in lists:
                results[name] = {}
            for size in product_sizes:
                make_rows(2 * size, products=size)
                for name, get in lists.items():
                    results[name][size] = measure(get, reps)
        harness.clear_tables()
        User.objects.filter(username="bench-admin").delete()
        note = harness.load_note(busy, time.monotonic() - started)

    say(f"queries and server time (median of {reps}; PostgreSQL, test client):")
    for name, by_size in results.items():
        cells = "; ".join(f"{size:>6} rows: {q:3d} queries, {ms:7.1f} ms, {kb // 1024} KiB"
                          for size, (q, ms, kb) in by_size.items())
        say(f"  {name:<26} {cells}")
    say("  " + note)
    admin_counts = {q for q, _ms, _kb in results["admin changelist"].values()}
    sizes = " / ".join(str(s) for s in request_sizes)
    harness.verdict("5 admin changelist queries", len(admin_counts) == 1,
                    f"{' / '.join(str(q) for q, _, _ in results['admin changelist'].values())} "
                    f"queries at {sizes} rows; goal: the same")
    if tags is not None:
        harness.verdict("5 product list queries", None,
                        f"not run: prefetch_clips / kling template tags missing ({tags})")
    else:
        counts = [q for q, _, _ in results["products, prefetch_clips"].values()]
        harness.verdict("5 product list queries", len(set(counts)) == 1,
                        f"{' / '.join(map(str, counts))} queries at "
                        f"{' / '.join(map(str, product_sizes))} products with prefetch_clips; "
                        "goal: the same")


class _Rendered:
    """A rendered template string, shaped like a response for ``measure``."""

    status_code = 200

    def __init__(self, text: str) -> None:
        self.content = text.encode()


if __name__ == "__main__":
    main()
