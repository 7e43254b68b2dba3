"""Item 3: how many jobs in flight one worker process (8 threads, 2 cores) keeps polled on time.

    python -m bench.capacity                    # search: N = 2000, then up or down (~9 min)
    python -m bench.capacity --quick            # N = 2000 only (about 3 min)
    python -m bench.capacity --n 1000,1500      # these N, in order
    python -m bench.capacity --n 2000 --conn-max-age 0   # Django's default CONN_MAX_AGE

Real services: PostgreSQL (database ``kling_bench``) and Redis (db 5, namespace ``kling-bench``)
as the broker. The sandbox runs in its own process with delay 60 s (tiny renders: the clip size
is not what is measured here); POLL_INTERVAL is 5 s. The worker is a separate process running
``dramatiq.Worker(broker, worker_threads=8)`` (what ``rundramatiq --processes 1 --threads 8``
runs), on the bench settings (CONN_MAX_AGE 600 unless ``--conn-max-age``).

N rows are created directly (one shared first frame), and their ``submit`` messages are sent
with delays spread evenly over ``--spread`` seconds (20 by default), so polls are spread over the
interval as they would be in a steady state. From the sandbox's request log (its own process,
its own clock reads): the lag of a status call is its time minus the previous call's time for
the same job (start or status) minus the interval. "Steady" polls are the pending ones made
after the last job was submitted (all N in flight). The polls that find the clip ready (each
followed by the download, probe, poster and storage in the same step) are reported apart: in
this run they all come within ``--spread`` seconds, a burst no steady state has.

CPU per poll = worker CPU seconds in the steady window / status calls in it (sampled from /proc
once a second, so submit and fetch work is not counted). CPU use of the sandbox, PostgreSQL and
Redis in the same window shows whether one of them, rather than the worker, is the limit.
Verdict: every steady poll has lag < 1 interval at N >= 2000.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
from typing import Any

from bench import harness
from bench.harness import say

GOAL_N = 2000
INTERVAL = 5.0
DELAY = 60.0


# -- the worker process -----------------------------------------------------------------------


def worker_main(threads: int) -> None:
    harness.setup_django()
    import dramatiq

    from django_kling import tasks  # noqa: F401  (declares the actors)

    worker = dramatiq.Worker(dramatiq.get_broker(), worker_threads=threads)
    worker.start()
    print("READY", flush=True)
    peak_threads = [0]
    stop = threading.Event()

    def count_threads() -> None:
        while not stop.wait(1.0):
            peak_threads[0] = max(peak_threads[0], harness.status_kb("Threads"))

    threading.Thread(target=count_threads, daemon=True).start()
    sys.stdin.readline()
    stop.set()
    worker.stop()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print("RESULT " + json.dumps({"cpu": usage.ru_utime + usage.ru_stime,
                                  "peak_threads": peak_threads[0],
                                  "max_rss_mib": usage.ru_maxrss / 1024}), flush=True)


# -- one run ------------------------------------------------------------------------------------


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


def run(n: int, sandbox: harness.SandboxProcess, env: dict[str, str], args: Any) -> dict:
    import dramatiq

    from django_kling import tasks
    from django_kling.models import FINAL, VideoRequest

    broker = dramatiq.get_broker()
    broker.flush_all()
    harness.clear_tables()
    sandbox.reset()
    sandbox.set(delay=DELAY)
    pks = make_rows(n)
    command = [sys.executable, "-m", "bench.capacity", "--worker", "--threads", str(args.threads)]
    worker = subprocess.Popen(command, cwd=harness.ROOT, env={**os.environ, **env},
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    samples: list[tuple[float, float, float, float, float, int, float]] = []
    try:
        assert worker.stdout.readline().startswith("READY"), "the worker did not start"
        spread = args.spread
        for index, pk in enumerate(pks):
            tasks.submit.send_with_options(args=(pk,), delay=int(index * spread * 1000 / n) or None)
        started = time.time()
        deadline = started + spread + DELAY + args.drain
        done = 0
        profiler = None
        profiled_at = profiled_until = 0.0
        while time.time() < deadline:
            now = time.time()
            if args.profile and profiler is None and now > started + spread + INTERVAL:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(args.profile_out)
                profiler = harness.pyspy_record(worker.pid, args.profile_out)
                profiled_at = now
            if profiler is not None and profiled_until == 0.0 and (
                    now > profiled_at + args.profile or now > started + DELAY - 3):
                harness.pyspy_stop(profiler)
                profiled_until = now
            samples.append((time.time(), harness.cpu_seconds(worker.pid), sandbox.cpu(),
                            harness.postgres_cpu("kling_bench"), harness.cpu_of("redis-server"),
                            harness.status_kb("Threads", worker.pid), harness.machine_busy()))
            if len(samples) % 5 == 0:
                done = VideoRequest.objects.filter(status__in=FINAL).count()
                if done == n:
                    break
            time.sleep(1.0)
        worker.stdin.write("STOP\n")
        worker.stdin.flush()
        result = None
        for line in worker.stdout:
            if line.startswith("RESULT "):
                result = json.loads(line[7:])
        worker.wait(60)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        if profiler is not None:
            harness.pyspy_stop(profiler)
    statuses = _status_counts()
    calls = sandbox.calls()
    broker.flush_all()
    result = analyse(n, calls, samples, statuses, result or {})
    result["timeline"] = {name: value - started for name, value in result["timeline"].items()}
    if profiled_at:
        result["timeline"]["profile start"] = profiled_at - started
        result["timeline"]["profile end"] = profiled_until - started
    return result


def _status_counts() -> dict[str, int]:
    from django.db.models import Count

    from django_kling.models import VideoRequest

    return {row["status"]: row["n"] for row in
            VideoRequest.objects.values("status").annotate(n=Count("id"))}


def analyse(n: int, calls: list[tuple], samples: list[tuple], statuses: dict[str, int],
            worker: dict) -> dict:
    starts: dict[str, float] = {}
    job_of_key: dict[str, str] = {}
    polls: dict[str, list[float]] = {}
    start_by_key: dict[str, float] = {}
    for _method, path, key, job_id, when in calls:
        if path.endswith("/video-model/start") and key:
            start_by_key.setdefault(key, when)
        elif path.endswith("/video-model/status") and job_id:
            polls.setdefault(job_id, []).append(when)
    from django_kling.models import VideoRequest

    for key, job_id in VideoRequest.objects.values_list("idempotency_key", "operation_id"):
        if key in start_by_key and job_id:
            starts[job_id] = start_by_key[key]
            job_of_key[key] = job_id
    last_start = max(start_by_key.values()) if start_by_key else 0.0
    first_ready = min(starts.values()) + DELAY if starts else 0.0
    steady, after_first, completing = [], [], []
    steady_times = []
    for job_id, times in polls.items():
        if job_id not in starts:
            continue
        previous = starts[job_id]
        ready = starts[job_id] + DELAY
        for when in sorted(times):
            lag = when - previous - INTERVAL
            if when >= ready - 0.05:
                completing.append(lag)
            elif when >= first_ready:
                after_first.append(lag)
            elif previous >= last_start:
                steady.append(lag)
                steady_times.append(when)
            previous = when
    window = (min(steady_times), max(steady_times)) if steady_times else (0.0, 0.0)

    def rate(column: int) -> float:
        inside = [s for s in samples if window[0] <= s[0] <= window[1]]
        if len(inside) < 2:
            return float("nan")
        return (inside[-1][column] - inside[0][column]) / (inside[-1][0] - inside[0][0])

    inside = [s for s in samples if window[0] <= s[0] <= window[1]]
    polls_in_window = len(steady_times)
    window_cpu = (inside[-1][1] - inside[0][1]) if len(inside) >= 2 else float("nan")
    window_polls = sum(1 for t in steady_times if inside and inside[0][0] <= t <= inside[-1][0])

    def stats(values: list[float]) -> dict[str, float]:
        if not values:
            return {"count": 0}
        values = sorted(values)
        return {"count": len(values), "p50": statistics.median(values),
                "p99": values[int(0.99 * (len(values) - 1))], "max": values[-1]}

    return {
        "n": n,
        "submitted": len(start_by_key),
        "statuses": statuses,
        "steady": stats(steady),
        "after_first": stats(after_first),
        "completing": stats(completing),
        "window_s": window[1] - window[0],
        "polls_per_s": polls_in_window / (window[1] - window[0]) if window[1] > window[0]
        else float("nan"),
        "cpu_per_poll_ms": 1000 * window_cpu / window_polls if window_polls else float("nan"),
        "worker_cores": rate(1),
        "sandbox_cores": rate(2),
        "postgres_cores": rate(3),
        "redis_cores": rate(4),
        "machine_cores": rate(6),
        "worker_threads": max((s[5] for s in samples), default=0),
        "worker": worker,
        "calls": len(calls),
        "timeline": {"first start": min(starts.values(), default=0.0), "last start": last_start,
                     "first ready": first_ready,
                     "last ready": max(starts.values(), default=0.0) + DELAY},
    }


def report(result: dict) -> bool:
    steady = result["steady"]
    ok = bool(steady.get("count")) and steady["max"] < INTERVAL and \
        result["statuses"].get("succeeded", 0) == result["n"]
    say(f"\nN = {result['n']}: {result['submitted']} submitted, final states {result['statuses']}")
    labels = {"steady": "steady (all N in flight)",
              "after_first": "pending, once clips complete",
              "completing": "completing (+ fetch)"}
    for label, text in labels.items():
        s = result[label]
        if s.get("count"):
            say(f"  lag of {text:<30}: {s['count']:6d} polls, p50 {s['p50']:+.2f} s, "
                f"p99 {s['p99']:+.2f} s, max {s['max']:+.2f} s")
    say(f"  steady window {result['window_s']:.0f} s: {result['polls_per_s']:.0f} polls/s, "
        f"worker CPU {result['cpu_per_poll_ms']:.2f} ms per poll; cores used: worker "
        f"{result['worker_cores']:.2f}, sandbox {result['sandbox_cores']:.2f}, postgres "
        f"{result['postgres_cores']:.2f}, redis {result['redis_cores']:.2f}; whole machine "
        f"{result['machine_cores']:.2f} of {os.cpu_count()}")
    say(f"  worker: {result['worker_threads']} threads at most, "
        f"{result['worker'].get('cpu', float('nan')):.1f} CPU s in all, max RSS "
        f"{result['worker'].get('max_rss_mib', float('nan')):.0f} MiB; "
        f"{result['calls']} sandbox requests; on time: {'yes' if ok else 'NO'}")
    say("  timeline (s after the submits were sent): " + ", ".join(
        f"{name} {value:.1f}" for name, value in result["timeline"].items()))
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--n", default="", help="job counts to try, in order (instead of the "
                        "search: 2000 first, then up or down, --runs runs in all)")
    parser.add_argument("--runs", type=int, default=3, help="runs of the search")
    parser.add_argument("--quick", action="store_true", help="N = 2000 only")
    parser.add_argument("--spread", type=float, default=20.0,
                        help="seconds over which the submits are spread")
    parser.add_argument("--drain", type=float, default=90.0,
                        help="seconds allowed after the last job is due")
    parser.add_argument("--profile", type=float, default=0,
                        help="py-spy the worker for up to this many seconds of the steady "
                             "window (ends before the first clip is ready)")
    parser.add_argument("--profile-out", default="/tmp/kling-bench-capacity.pyspy")
    parser.add_argument("--conn-max-age", default="600",
                        help="CONN_MAX_AGE of the worker's database connections")
    args = parser.parse_args()
    if args.worker:
        worker_main(args.threads)
        return

    counts = [GOAL_N] if args.quick else [int(v) for v in args.n.split(",") if v]
    redis = harness.redis_url()
    if redis is None:
        raise SystemExit("Redis is needed (BENCH_REDIS_URL, default redis://127.0.0.1:6379/5)")
    harness.ensure_database()
    sandbox = harness.SandboxProcess(delay=DELAY, render_scale=0.1, result="url")
    results = []
    try:
        runs = len(counts) or args.runs
        limit = runs * (args.spread + DELAY + args.drain + 60)
        with harness.temp_media() as media_root, harness.time_limit(limit, "capacity"):
            env = harness.bench_env(BENCH_GATEWAY_URL=sandbox.v4_url, BENCH_MEDIA_ROOT=media_root,
                                    BENCH_POLL_INTERVAL=str(INTERVAL), BENCH_REDIS_URL=redis,
                                    BENCH_CONN_MAX_AGE=args.conn_max_age)
            harness.setup_django(**env)
            harness.migrate()
            say(f"worker: 1 process x {args.threads} threads, CONN_MAX_AGE {args.conn_max_age}; "
                f"sandbox pid {sandbox.pid}, delay "
                f"{DELAY:.0f} s, poll interval {INTERVAL:.0f} s, submits spread over "
                f"{args.spread:.0f} s")
            best, worst = 0, 0  # largest N on time, smallest N late
            for index in range(runs):
                if counts:
                    n = counts[index]
                elif index == 0:
                    n = GOAL_N
                elif not worst:
                    n = best * 3 // 2
                else:
                    n = max(250, round((best + worst) / 2 / 250) * 250)
                    if n in (best, worst):
                        break
                result = run(n, sandbox, env, args)
                ok = report(result)
                results.append((n, ok, result))
                if ok:
                    best = max(best, n)
                else:
                    worst = min(worst, n) if worst else n
                if args.profile:
                    say("\nworker profile (py-spy over the steady window, inclusive share of "
                        "active samples):")
                    say(harness.pyspy_summary(args.profile_out, top=45))
            harness.clear_tables()
    finally:
        sandbox.stop()

    on_time = [n for n, ok, _ in results if ok]
    late = [n for n, ok, _ in results if not ok]
    best = max(on_time, default=0)
    per_poll = [r["cpu_per_poll_ms"] for _, _, r in results]
    say("\nN on time: " + (", ".join(map(str, on_time)) or "none") +
        "; late: " + (", ".join(map(str, late)) or "none"))
    harness.verdict("3 in-flight capacity", best >= GOAL_N,
                    f"largest N on time {best} of those tried, goal >= {GOAL_N}; worker CPU per "
                    f"poll {statistics.median(per_poll):.2f} ms")


if __name__ == "__main__":
    main()
