"""Issue 27, part 3: what jobs that wait cost. A cap of 20 in flight and 1,000 / 10,000 /
100,000 jobs queued behind it (a large catalogue queued at once).

    python -m bench.waiting            # ~3 min (most of it making 100,000 rows)
    python -m bench.waiting --quick    # 1,000 / 10,000

For each size, on the bench's PostgreSQL database, in this process (median of ``--reps``):
- the scheduler's round without due polls (``admission.admit_waiting``,
  ``batch_queue.resume_stalled``, ``polling.next_due_in``, ``polling.claim_due``): CPU, wall,
  queries;
- admission of one job when one slot frees (``admission.admit``): wall, queries;
- the admin's request list (``reverse("admin:django_kling_videorequest_changelist")``, a
  superuser, Django's test client): wall, queries.
Verdict: each figure within 20 % from the smallest size to the largest (queries equal).
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from bench import harness
from bench.harness import say

CAP = 20


def make_waiting(n: int) -> None:
    from django.utils import timezone

    from bench.scale_driver import make_rows
    from django_kling.models import Status, VideoRequest

    harness.clear_tables()
    make_rows(n + CAP)
    running = list(VideoRequest.objects.order_by("created_at").values_list("pk", flat=True)[:CAP])
    far = timezone.now() + timezone.timedelta(days=1)
    VideoRequest.objects.filter(pk__in=running).update(status=Status.RUNNING, next_check_at=far,
                                                       submitted_at=timezone.now())
    VideoRequest.objects.exclude(pk__in=running).update(next_check_at=None)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {VideoRequest._meta.db_table}")


def timed(call: Any, reps: int) -> tuple[float, float, int]:
    """(median CPU ms, median wall ms, queries of one call)."""
    # Counted at the cursor: Django's CaptureQueriesContext saw 0 for the admin's page, whose
    # request_started signal empties the connection's query log.
    from bench.scale_driver import counting_queries

    call()  # warm
    with counting_queries() as captured:
        call()
    cpu, wall = [], []
    for _ in range(reps):
        c, w = time.thread_time(), time.perf_counter()
        call()
        cpu.append(time.thread_time() - c)
        wall.append(time.perf_counter() - w)
    return 1000 * statistics.median(cpu), 1000 * statistics.median(wall), captured[0]


def slowest(call: Any, most: int) -> list[tuple[float, str]]:
    """The ``most`` slowest SQL statements of one call: (ms, statement), slowest first."""
    from django.db.backends.utils import CursorWrapper

    seen: list[tuple[float, str]] = []
    saved = CursorWrapper.execute

    def execute(self, sql, params=None):
        started = time.perf_counter()
        try:
            return saved(self, sql, params)
        finally:
            seen.append((1000 * (time.perf_counter() - started), sql))

    CursorWrapper.execute = execute
    try:
        call()
    finally:
        CursorWrapper.execute = saved
    return sorted(seen, reverse=True)[:most]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--slowest", type=int, default=0,
                        help="print the N slowest statements of each figure at each size")
    args = parser.parse_args()
    sizes = (1000, 10_000) if args.quick else (1000, 10_000, 100_000)
    with harness.temp_media() as media_root, harness.time_limit(1200, "waiting"):
        harness.ensure_database()
        harness.setup_django(BENCH_MEDIA_ROOT=media_root,
                             BENCH_KLING_EXTRA=f'{{"MAX_IN_FLIGHT": {CAP}}}')
        harness.migrate()
        from django.contrib.auth import get_user_model
        from django.test import Client
        from django.urls import reverse

        from django_kling.flow import admission, batch_queue, dispatch, polling
        from django_kling.models import Status, VideoRequest

        dispatch.send = lambda *args, **kwargs: None  # no broker: admission's messages dropped
        busy, started = harness.machine_busy(), time.time()
        User = get_user_model()  # noqa: N806
        User.objects.filter(username="bench-admin").delete()
        admin = User.objects.create_superuser("bench-admin", "bench@example.com", "x")
        client = Client()
        client.force_login(admin)
        changelist = reverse("admin:django_kling_videorequest_changelist")

        def round_() -> None:
            admission.admit_waiting()
            batch_queue.resume_stalled()
            polling.next_due_in(1.0)
            polling.claim_due(200)

        def admit_one() -> None:
            # One slot frees: the newest running job ends, admission starts one queued job.
            pk = (VideoRequest.objects.filter(status__in=admission.IN_FLIGHT)
                  .order_by("-created_at").values_list("pk", flat=True).first())
            VideoRequest.objects.filter(pk=pk).update(status=Status.SUCCEEDED)
            assert len(admission.admit(VideoRequest.objects.get(pk=pk).provider)) == 1

        rows: dict[str, dict[int, tuple[float, float, int]]] = {
            "scheduler round": {}, "admission of one job": {}, "admin request list": {}}
        for n in sizes:
            made = time.time()
            make_waiting(n)
            say(f"{n} waiting made in {time.time() - made:.0f} s")
            rows["scheduler round"][n] = timed(round_, args.reps)
            rows["admission of one job"][n] = timed(admit_one, args.reps)
            rows["admin request list"][n] = timed(lambda: client.get(changelist), args.reps)
            for name, by_size in rows.items():
                cpu, wall, queries = by_size[n]
                say(f"{name}, {n} waiting: {cpu:.1f} ms CPU, {wall:.1f} ms wall, {queries} "
                    "queries")
            for name, call in (("scheduler round", round_),
                               ("admin request list", lambda: client.get(changelist))):
                for ms, sql in slowest(call, args.slowest):
                    say(f"  {name}, {n} waiting: {ms:.1f} ms  {sql[:300]}")
        note = harness.load_note(busy, time.time() - started)
    verdicts = []
    for name, by_size in rows.items():
        small, large = by_size[sizes[0]], by_size[sizes[-1]]
        flat = large[1] <= 1.2 * small[1] + 1.0 and large[2] == small[2]
        verdicts.append(harness.verdict(
            f"27.3 {name}, {sizes[0]} -> {sizes[-1]} waiting", flat,
            f"wall {small[1]:.1f} -> {large[1]:.1f} ms, queries {small[2]} -> {large[2]}"))
    say(note)
    say("\n" + "\n".join(verdicts))


if __name__ == "__main__":
    main()
