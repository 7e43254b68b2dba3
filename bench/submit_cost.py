"""Issue 27, part 2: the CPU and SQL one submit costs (``pipeline.submit_step``, one core).

    python -m bench.submit_cost              # this tree and the old one (9df3ac5), side by side
    python -m bench.submit_cost --profile    # and where this tree's time goes (CPU profile)
    python -m bench.submit_cost --only new   # this tree alone

Each job is made by ``create_video_request`` (its frame checked and stored: not measured), then
``submit_step`` runs in the child's main thread against the sandbox (its own process); the
figure is that thread's CPU time per submit (``time.thread_time``, so waiting on the database
or the sandbox is not counted), median of the run, and the SQL statements per submit (counted
on submits of their own, ``COUNTED`` a run, since counting adds Django's debug cursor). Frames
travel two ways: **inline** (local storage, base64 in the body) and **url** (a private bucket
on moto's S3 server, a signed URL the sandbox fetches). Each (design, frames) pair runs in a
child process of its own, in its own tree (the old design is checked out into a temporary
``git worktree``, this file copied into it), alternated in ``--rounds`` so both designs see
the same load. "One core": on a machine with two or more CPUs the child runs on CPU 0 and the
servers that answer it (the sandbox, moto, the PostgreSQL process of its connection) on
CPU 1.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import harness
from bench.harness import median, say

OLD = "9df3ac5"
#: The goals of issue 27: URL frames, and a third of the old design's inline figure.
URL_GOAL_MS = 3.0
INLINE_GOAL_RATIO = 1 / 3
#: Submits of each run whose SQL statements are counted (and not timed).
COUNTED = 4
#: The measured child's core and the loopback servers' (where the machine has two or more).
MEASURED_CPU, SERVERS_CPU = 0, 1


def pin(pid: int, cpu: int) -> None:
    """Run ``pid`` (0: this process), all its threads and those they start, on ``cpu`` alone;
    nothing on a machine with one CPU."""
    if cpu >= (os.cpu_count() or 1) or not hasattr(os, "sched_setaffinity"):
        return
    tasks = Path(f"/proc/{pid or os.getpid()}/task")
    for tid in ([int(t.name) for t in tasks.iterdir()] if tasks.exists() else [pid]):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(tid, {cpu})


def measure(n: int, profile: bool) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from django_kling import jobs
    from django_kling.flow import pipeline

    saved = jobs.enqueue
    jobs.enqueue = lambda job: None  # no message: the step runs here
    try:
        # One picture for every job: the sandbox renders its clip once (its render cache), not
        # once a job on the other core while this one's submits are measured.
        picture = harness.photo(1920, 1080, seed=1)
        pks = [jobs.create_video_request(picture, prompt="Waves.").pk for _ in range(n)]
    finally:
        jobs.enqueue = saved
    # A CPU profile (thread time): a wall-clock one shows the waits on PostgreSQL and the
    # sandbox as the biggest items, which cost this process nothing.
    profiler = cProfile.Profile(time.thread_time) if profile else None
    costs, queries, statuses = [], [], []
    pipeline.submit_step(pks.pop())  # warm-up: connections, imports, caches
    if connection.vendor == "postgresql":  # the server process of this connection: a server
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pin(cursor.fetchone()[0], SERVERS_CPU)
    # The statements are counted on submits of their own: counting wraps every cursor in
    # Django's debug cursor (timing and logging each statement), which a site does not run.
    for pk in pks[:COUNTED]:
        with CaptureQueriesContext(connection) as captured:
            pipeline.submit_step(pk)
        queries.append(len(captured.captured_queries))
    for pk in pks[COUNTED:]:
        started = time.thread_time()
        if profiler:
            profiler.enable()
        pipeline.submit_step(pk)
        if profiler:
            profiler.disable()
        costs.append(time.thread_time() - started)
    from django_kling.models import VideoRequest

    statuses = sorted(set(VideoRequest.objects.filter(pk__in=pks)
                          .values_list("status", flat=True)))
    report = ""
    if profiler:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("cumulative").print_stats(r"django_kling|httpx|json|base64|query\.py", 30)
        stats.sort_stats("tottime").print_stats(15)
        report = out.getvalue()
    return {"costs": costs, "queries": queries, "statuses": statuses, "report": report}


def child(args: argparse.Namespace) -> None:
    """One (design, frames) run in this tree: prints one JSON line."""
    harness.ensure_database()
    harness.setup_django()
    harness.migrate()
    harness.clear_tables()
    result = measure(args.n, args.profile)
    print("RESULT " + json.dumps(result), flush=True)


def run(tree: Path, database: str, transfer: str, n: int, profile: bool, env: dict) -> dict:
    extra = {"BENCH_DATABASE_URL": database}
    if transfer == "url":
        extra.update(BENCH_STORAGE="s3", BENCH_KLING_EXTRA=json.dumps({"IMAGE_TRANSFER": "url"}))
    else:
        extra.update(BENCH_STORAGE="default", BENCH_KLING_EXTRA=json.dumps({}))
    command = [sys.executable, "-m", "bench.submit_cost", "--child", "--n", str(n)]
    if profile:
        command.append("--profile")
    done = subprocess.run(command, cwd=tree, env={**os.environ, **env, **extra},
                          capture_output=True, text=True, timeout=900, check=False,
                          preexec_fn=lambda: pin(0, MEASURED_CPU))
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError(f"the {tree} run failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=40, help="submits per run")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--only", choices=["new", "old"])
    parser.add_argument("--old", default=OLD, help="the commit of the old design")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    root = harness.ROOT
    base = os.environ.get("BENCH_DATABASE_URL", harness.DEFAULT_DB)
    busy, started = harness.machine_busy(), time.time()
    old_tree = Path(tempfile.mkdtemp(prefix="kling-bench-old-")) / "tree"
    designs = [d for d in ("old", "new") if args.only in (None, d)]
    sandbox = harness.SandboxProcess(render_scale=0.1, result="url")
    moto = harness.MotoProcess()
    # "One core": the measured submits get a core of their own; the sandbox and moto, which
    # answer them, share the other (PostgreSQL goes where the system puts it).
    for server in (sandbox.pid, moto.pid):
        pin(server, SERVERS_CPU)
    results: dict[tuple[str, str], dict] = {}
    try:
        with harness.temp_media() as media:
            env = {"BENCH_GATEWAY_URL": sandbox.v4_url, "BENCH_MEDIA_ROOT": media,
                   "BENCH_S3_ENDPOINT": moto.url, "BENCH_S3_BUCKET": moto.bucket,
                   "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                   "DJANGO_SETTINGS_MODULE": "bench.settings"}
            trees = {"new": (root, base), "old": (old_tree, f"{base}_old_{args.old[:7]}")}
            if "old" in designs:
                subprocess.run(["git", "worktree", "add", "--detach", str(old_tree), args.old],
                               cwd=root, check=True, capture_output=True)
                (old_tree / "bench" / "submit_cost.py").write_text(
                    (root / "bench" / "submit_cost.py").read_text())
            for _round in range(args.rounds):
                for transfer in ("inline", "url"):
                    for design in designs:
                        tree, database = trees[design]
                        got = run(tree, database, transfer, args.n,
                                  args.profile and design == "new" and _round == 0, env)
                        into = results.setdefault((design, transfer), {
                            "costs": [], "queries": [], "statuses": set(), "report": ""})
                        into["costs"] += got["costs"]
                        into["queries"] += got["queries"]
                        into["statuses"] |= set(got["statuses"])
                        into["report"] = into["report"] or got["report"]
    finally:
        moto.stop()
        sandbox.stop()
        if old_tree.exists():
            subprocess.run(["git", "worktree", "remove", "--force", str(old_tree)], cwd=root,
                           capture_output=True)
        shutil.rmtree(old_tree.parent, ignore_errors=True)
    report(results)
    say(harness.load_note(busy, time.time() - started))


def report(results: dict) -> None:
    figures = {}
    for (design, transfer), got in sorted(results.items()):
        cost = median(got["costs"]) * 1000
        figures[design, transfer] = cost
        say(f"{design:>3} design, {transfer:>6} frames (1920x1080 JPEG): submit CPU median "
            f"{cost:.1f} ms (min {min(got['costs']) * 1000:.1f}) over {len(got['costs'])}; "
            f"{median(got['queries']):.0f} SQL statements per submit; jobs ended "
            f"{'/'.join(sorted(got['statuses']))}")
    for (design, transfer), got in results.items():
        if got["report"]:
            say(f"\nWhere the CPU goes ({design} design, {transfer} frames, thread time):")
            say(got["report"])
    if ("new", "url") in figures:
        harness.verdict("submit CPU, URL frames", figures["new", "url"] <= URL_GOAL_MS,
                        f"{figures['new', 'url']:.1f} ms, goal <= {URL_GOAL_MS:.0f} ms")
    if ("new", "inline") in figures and ("old", "inline") in figures:
        goal = figures["old", "inline"] * INLINE_GOAL_RATIO
        harness.verdict("submit CPU, inline frames", figures["new", "inline"] <= goal,
                        f"{figures['new', 'inline']:.1f} ms against the old design's "
                        f"{figures['old', 'inline']:.1f} ms in the same run, goal <= {goal:.1f}")


if __name__ == "__main__":
    main()
