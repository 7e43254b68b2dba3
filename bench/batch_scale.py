"""Issue 23, item 13: one batch chunk's queries and memory against the size of the batch.

    python -m bench.batch_scale            # batches of 1,000 / 10,000 / 100,000 objects
    python -m bench.batch_scale --quick    # 1,000 / 10,000

For each size the bench database gets 20 products with real photos and a batch of that many
places (the 20 products in turn, so every place's job is real work: image checks, stored
frame, row), started with ``batches.start_batch``. Its cursor is put in the middle, and one
chunk (``BATCH_CHUNK`` 20) is made with ``batches.create_chunk`` in this thread (inside a
transaction, so every query is counted on one connection), measured three ways: the queries it
sends, the bytes of their SQL, and the peak of Python memory (tracemalloc) while it runs. The
start of the batch (its selection stored) is timed too.

Verdict: PASS when the chunk's queries are the same at every size and its memory peak at the
largest size is within 25 % (+ 256 KiB) of the smallest: no work per chunk grows with the batch.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

from bench import harness
from bench.harness import say

PRODUCTS = 20
CHUNK = 20


def measure(size: int) -> dict[str, float]:
    from django.core.files.base import ContentFile
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from django_kling.conf import kling_settings
    from django_kling.editorial import batches
    from django_kling.models import VideoBatch
    from tests.shop.models import Product

    harness.clear_tables()
    products = []
    for index in range(PRODUCTS):
        product = Product(name=f"Jar {index}", description=f"Jar number {index}.")
        product.image.save(f"jar{index}.jpg",
                           ContentFile(harness.photo(800, 450, seed=index)), save=True)
        products.append(product)
    ids = [products[place % PRODUCTS].pk for place in range(size)]
    started = time.perf_counter()
    with CaptureQueriesContext(connection) as start_queries:
        batch = batches.start_batch(Product, ids, field_name="image",
                                    options={"prompt": "The jar turns."})
    start_seconds = time.perf_counter() - started
    VideoBatch.objects.filter(pk=batch.pk).update(next_index=size // 2)
    assert kling_settings.BATCH_CHUNK == CHUNK
    tracemalloc.start()
    started = time.perf_counter()
    with transaction.atomic(), CaptureQueriesContext(connection) as chunk_queries:
        batches.create_chunk(batch.pk)
    chunk_seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    made = batch.jobs.count()
    assert made == CHUNK, f"the chunk made {made} jobs, not {CHUNK}"
    return {"start_s": start_seconds, "start_queries": len(start_queries),
            "chunk_queries": len(chunk_queries),
            "chunk_sql_kib": sum(len(q["sql"]) for q in chunk_queries) / 1024,
            "chunk_peak_kib": peak / 1024, "chunk_s": chunk_seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 and 10,000 only")
    args = parser.parse_args()
    sizes = (1_000, 10_000) if args.quick else (1_000, 10_000, 100_000)

    with harness.temp_media() as media_root, harness.time_limit(900, "batch_scale"):
        harness.ensure_database()
        harness.setup_django(BENCH_MEDIA_ROOT=media_root)
        harness.migrate()
        from django.conf import settings
        from django.test.utils import override_settings

        import django_kling.tasks  # noqa: F401  (declares the actors start_batch sends to)

        busy = harness.machine_busy()
        began = time.monotonic()
        with override_settings(DJANGO_KLING={**settings.DJANGO_KLING, "BATCH_CHUNK": CHUNK,
                                             "BATCH_MAX_OBJECTS": None, "BUDGET": {}}):
            results = {size: measure(size) for size in sizes}
        harness.clear_tables()
        say(harness.load_note(busy, time.monotonic() - began))

    say(f"one chunk of {CHUNK} jobs in the middle of a batch "
        f"({settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]})")
    say(f"{'objects':>9} | {'start s':>8} {'start q':>8} | {'chunk q':>8} {'SQL KiB':>8} "
        f"{'peak KiB':>9} {'chunk s':>8}")
    for size, row in results.items():
        say(f"{size:>9,} | {row['start_s']:>8.2f} {row['start_queries']:>8} | "
            f"{row['chunk_queries']:>8} {row['chunk_sql_kib']:>8.1f} "
            f"{row['chunk_peak_kib']:>9.0f} {row['chunk_s']:>8.2f}")
    small, large = results[sizes[0]], results[sizes[-1]]
    flat = (small["chunk_queries"] == large["chunk_queries"]
            and large["chunk_peak_kib"] <= small["chunk_peak_kib"] * 1.25 + 256)
    harness.verdict("batch chunk", flat,
                    f"queries {small['chunk_queries']} -> {large['chunk_queries']}, peak "
                    f"{small['chunk_peak_kib']:.0f} -> {large['chunk_peak_kib']:.0f} KiB "
                    f"from {sizes[0]:,} to {sizes[-1]:,} objects")


if __name__ == "__main__":
    main()
