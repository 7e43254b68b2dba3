"""Issue 27, part 2: the CPU one submit costs (``pipeline.submit_step``, one core, no queue).

    python -m bench.submit_cost              # 60 submits of a 1920x1080 JPEG frame
    python -m bench.submit_cost --profile    # and where the time goes (cProfile, top 25)

Each job is made by ``create_video_request`` (its frame checked and stored: not measured), then
``submit_step`` runs in this thread against the sandbox in its own process; the figure is the
thread's CPU time per submit (``time.thread_time``), median of the run.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import time

from bench import harness
from bench.harness import median, say


def measure(n: int, profile: bool) -> tuple[list[float], str]:
    from django_kling import jobs
    from django_kling.flow import pipeline

    saved = jobs.enqueue
    jobs.enqueue = lambda job: None  # no message: the step runs here
    try:
        pks = [jobs.create_video_request(harness.photo(1920, 1080, seed=i), prompt="Waves.").pk
               for i in range(n)]
    finally:
        jobs.enqueue = saved
    profiler = cProfile.Profile() if profile else None
    costs = []
    for pk in pks:
        started = time.thread_time()
        if profiler:
            profiler.enable()
        pipeline.submit_step(pk)
        if profiler:
            profiler.disable()
        costs.append(time.thread_time() - started)
    report = ""
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
        report = out.getvalue()
    return costs, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=60)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    busy, started = harness.machine_busy(), time.time()
    sandbox = harness.SandboxProcess(render_scale=0.1, result="url")
    try:
        with harness.temp_media() as media:
            harness.ensure_database()
            harness.setup_django(BENCH_GATEWAY_URL=sandbox.v4_url, BENCH_MEDIA_ROOT=media)
            harness.migrate()
            harness.clear_tables()
            costs, report = measure(args.n, args.profile)
    finally:
        sandbox.stop()
    say(f"submit_step CPU per job, inline frame (1920x1080 JPEG): median "
        f"{median(costs) * 1000:.1f} ms, min {min(costs) * 1000:.1f} ms over {len(costs)}")
    if report:
        say(report)
    say(harness.load_note(busy, time.time() - started))


if __name__ == "__main__":
    main()
