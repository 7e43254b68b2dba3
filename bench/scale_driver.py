"""The worker side of ``bench.scale``: runs in the tree being measured (this one, or the tree
before the scheduler, checked out by ``bench.scale`` into a temporary worktree), so it only
uses what both trees have. Prints one ``RESULT {json}`` line.

    python -m bench.scale_driver poll --n 500 --spread 6 --timeout 90
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import sys
import threading
import time

from bench import harness


def make_rows(n: int) -> list[str]:
    from django.utils import timezone

    from django_kling import jobs
    from django_kling.models import VideoRequest

    saved = jobs.enqueue
    jobs.enqueue = lambda job: None
    try:
        template = jobs.create_video_request(harness.photo(640, 360), prompt="Waves.")
    finally:
        jobs.enqueue = saved
    now = timezone.now()
    rows = [VideoRequest(first_frame_id=template.first_frame_id, prompt="Waves.", duration=5,
                         aspect_ratio="16:9", mode="pro", generate_audio=True,
                         provider=template.provider, model=template.model, protocol="async",
                         estimated_cost=template.estimated_cost, enqueued_at=now,
                         next_check_at=now) for _ in range(n)]
    VideoRequest.objects.bulk_create(rows, batch_size=1000)
    VideoRequest.objects.filter(pk=template.pk).delete()
    return [str(row.pk) for row in rows]


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def end_without_download() -> None:
    """Detection is measured, not the download: a found clip ends its job at once (both trees
    call ``pipeline.deliver`` once the provider says it is done)."""
    try:
        from django_kling.flow import pipeline
    except ImportError:  # the old design's tree, from before the package had wings
        from django_kling import pipeline
    from django_kling.models import Status, VideoRequest

    def deliver(job, video):
        VideoRequest.objects.transition(job, Status.SUCCEEDED, expect=Status.FETCHING)

    pipeline.deliver = deliver


def poll(args: argparse.Namespace) -> dict:
    import dramatiq
    from django.db.models import Count

    from django_kling import tasks
    from django_kling.models import FINAL, VideoRequest

    broker = dramatiq.get_broker()
    broker.flush_all()
    harness.clear_tables()
    if getattr(args, "fresh_plan", False):  # bench.poll_plan: learn from no finished job
        from django_kling.models import CompletionTimes

        CompletionTimes.objects.all().delete()
    pks = make_rows(args.n)
    end_without_download()
    late = time_late_calls()
    # A consumer with nothing to do waits up to worker_timeout before it fetches again: 100 ms
    # (rundramatiq's default is 1000), so that the time scale does not magnify it tenfold.
    worker = dramatiq.Worker(broker, worker_threads=args.threads, worker_timeout=100)
    worker.start()
    for index, pk in enumerate(pks):
        tasks.submit.send_with_options(args=(pk,),
                                       delay=int(index * args.spread * 1000 / args.n) or None)
    started, cpu_start = time.time(), cpu()
    limit = started + args.timeout
    while time.time() < limit:
        time.sleep(1.0)
        if VideoRequest.objects.exclude(status__in=FINAL).count() == 0:
            break
    wall, used = time.time() - started, cpu() - cpu_start
    worker.stop()
    statuses = dict(VideoRequest.objects.values_list("status").annotate(n=Count("pk")))
    broker.flush_all()
    late.sort()
    return {"wall": wall, "cpu": used, "statuses": statuses,
            "max_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            **({"late_p50": late[len(late) // 2], "late_p99": late[int(0.99 * (len(late) - 1))],
                "late_n": len(late)} if late else {})}


def time_late_calls() -> list[float]:
    """Seconds each scheduled status call started after its job was due (``next_check_at``):
    the part of the detection lag the plan does not place (the scheduler's wake-up, the pool's
    queue, a loaded machine). Only the scheduler's tree has ``poll_claimed``."""
    late: list[float] = []
    try:
        from django_kling.flow import pipeline
    except ImportError:
        return late
    saved = getattr(pipeline, "poll_claimed", None)
    if saved is None:
        return late

    def poll_claimed(job, *args, **kwargs):
        if job.next_check_at is not None:
            late.append(time.time() - job.next_check_at.timestamp())
        return saved(job, *args, **kwargs)

    pipeline.poll_claimed = poll_claimed
    return late


@contextlib.contextmanager
def counting_queries():
    """Count the SQL statements of every thread (Django's own capture sees one connection)."""
    from django.db.backends.utils import CursorWrapper

    count = [0]
    lock = threading.Lock()
    saved = CursorWrapper.execute

    def execute(self, *args, **kwargs):
        with lock:
            count[0] += 1
        return saved(self, *args, **kwargs)

    CursorWrapper.execute = execute
    try:
        yield count
    finally:
        CursorWrapper.execute = saved


def click(args: argparse.Namespace) -> dict:
    """One click for ``n`` products: the admin request, then the batch actor's chunks."""
    import dramatiq
    from django.contrib.auth.models import User
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from django.test import Client
    from django.urls import reverse

    from django_kling.editorial import batches
    from django_kling.models import VideoBatch
    from tests.shop.models import Product

    broker = dramatiq.get_broker()
    broker.flush_all()
    harness.clear_tables()
    # One picture file shared by every product: each job still checks and stores its own frame.
    name = default_storage.save("products/bench.png", ContentFile(harness.photo(640, 360, "PNG")))
    Product.objects.bulk_create([Product(name=f"Product {i}", image=name)
                                 for i in range(args.n)], batch_size=1000)
    User.objects.filter(username="bench").delete()
    client = Client()
    client.force_login(User.objects.create_superuser("bench", "bench@example.com", "pw"))
    url = reverse("admin:shop_product_changelist")
    first = str(Product.objects.values_list("pk", flat=True).first())
    data = {"action": "generate_video", "select_across": "1", "_selected_action": [first],
            "kling_batch_confirm": "1", "batch-prompt": "The product turns.",
            "options-duration": "5", "options-aspect_ratio": "16:9", "options-mode": "pro",
            "options-sound": "on", "options-negative_prompt": ""}
    clicked = time.monotonic()
    response = client.post(url, data)
    request_s = time.monotonic() - clicked
    assert response.status_code == 302, response.status_code
    batch = VideoBatch.objects.get()
    per_chunk = []
    started = time.monotonic()
    more = True
    while more:  # what the kling_batch actor does, chunk after chunk
        before = batch.jobs.count()
        with counting_queries() as queries:  # in every thread the chunk uses
            more = batches.create_chunk(batch.pk)
        per_chunk.append((batch.jobs.count() - before, queries[0]))
    created_s = time.monotonic() - started
    broker.flush_all()
    per_job = [q / made for made, q in per_chunk if made]
    return {"request_s": request_s, "created_s": created_s, "jobs": batch.jobs.count(),
            "chunks": len(per_chunk), "queries_per_job_first": per_job[0],
            "queries_per_job_last": per_job[-1], "queries_per_job_min": min(per_job),
            "queries_per_job_max": max(per_job), "since_click_s": time.monotonic() - clicked}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["poll", "click"])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--spread", type=float, default=6.0)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--fresh-plan", action="store_true",
                        help="forget the learned check plans first (bench.poll_plan)")
    args = parser.parse_args()
    harness.ensure_database()
    harness.setup_django()
    harness.migrate()
    result = poll(args) if args.role == "poll" else click(args)
    print("RESULT " + json.dumps(result), flush=True)
    sys.stdout.flush()
    os._exit(0)  # the worker's threads and the scheduler: nothing to wait for


if __name__ == "__main__":
    main()
