"""The app's polling rules replayed without a worker, a sandbox or a database (load-independent).

``bench.poll_plan --only simulate`` judges a plan in its steady state; this replays a whole run
the way ``bench.poll_plan --only scale`` drives it (500 jobs submitted over 3 minutes, full
time), event by event, with the rules of ``flow.polling``, ``flow.exploration`` and
``flow.completions``: the ladder while a kind has no plan, the plan made again with each of the
first jobs and then every ``REPLAN``, the window of the last jobs submitted with the running
ones right-censored, the back-off past a plan's end. No processing time: a call is made when it
is due, so the figures are the plan's alone.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from django_kling.flow import poll_plan

#: The app's defaults at full time (``bench.scale.scaled_settings`` divides them by the scale).
SETTINGS = {"FIRST_CHECK": 60.0, "POLL_INTERVAL": 5.0, "MAX_POLL_INTERVAL": 25.0,
            "MIN_SAMPLES": 5, "WINDOW": 256, "CALLS": 8.0, "MIN_GAP": 1.0, "MAX_GAP": 15.0,
            "REPLAN": 64}


@dataclass
class Kind:
    """What a kind's ``CompletionTimes`` row holds: the window and the plan."""

    intervals: list[list[float]] = field(default_factory=list)
    plan: list[float] = field(default_factory=list)
    stale: int = 0


@dataclass
class Job:
    submitted: float
    ends: float
    calls: int = 0
    checked: float | None = None  # elapsed at the last "still running" answer
    found: float | None = None


def _pending(polls: int, s: dict) -> float:
    return min(s["POLL_INTERVAL"] * 2 ** max(polls - 1, 0),
               max(s["MAX_POLL_INTERVAL"], s["POLL_INTERVAL"]))


def replay(ends: Callable[[], float], *, n: int = 500, spread: float = 180.0,
           kind: Kind | None = None, settings: dict | None = None) -> tuple[list[Job], Kind]:
    """Submit ``n`` jobs evenly over ``spread`` seconds, each ending ``ends()`` seconds after
    its submission, and poll them as the app does; the jobs and what the kind learned."""
    s = {**SETTINGS, **(settings or {})}
    kind = kind or Kind()
    ladder = poll_plan.ladder(s["FIRST_CHECK"], s["POLL_INTERVAL"])
    jobs = [Job(spread * k / n, 0.0) for k in range(n)]
    for job in jobs:
        job.ends = job.submitted + ends()
    running: set[int] = set()
    queue: list[tuple[float, int, int]] = []  # (time, order, job): submissions first
    for index, job in enumerate(jobs):
        heapq.heappush(queue, (job.submitted, 0, index))
    while queue:
        now, order, index = heapq.heappop(queue)
        job = jobs[index]
        if order == 0:  # marked running: the first check (``first_check_delay``)
            delay = _planned(kind.plan, 0.0, s)
            if not kind.plan:
                few = len(running) < s["MIN_SAMPLES"]
                delay = ladder[0] if few else s["FIRST_CHECK"]
            elif delay is None:
                delay = s["FIRST_CHECK"]
            running.add(index)
            heapq.heappush(queue, (now + delay, 1, index))
            continue
        job.calls += 1
        elapsed = now - job.submitted
        if now >= job.ends:
            job.found = now
            running.discard(index)
            _record(kind, job, elapsed, jobs, running, s)
            continue
        job.checked = elapsed
        heapq.heappush(queue, (now + _after_pending(kind.plan, ladder, job, elapsed, s), 1,
                               index))
    return jobs, kind


def _planned(plan: list[float], elapsed: float, s: dict) -> float | None:
    return poll_plan.next_check(plan, elapsed, min_gap=s["MIN_GAP"])


def _after_pending(plan: list[float], ladder: list[float], job: Job, elapsed: float,
                   s: dict) -> float:
    if not plan and elapsed < ladder[-1] - 1e-3:
        return poll_plan.next_check(ladder, elapsed, min_gap=min(s["MIN_GAP"], ladder[0] / 2))
    planned = _planned(plan, elapsed, s)
    if planned is not None:
        return planned
    if plan:  # polling.after_plan
        return min(max(s["MIN_GAP"], elapsed - plan[-1]),
                   min(max(s["MAX_POLL_INTERVAL"], s["POLL_INTERVAL"]), s["MAX_GAP"]))
    return _pending(job.calls, s)


def _record(kind: Kind, job: Job, elapsed: float, jobs: list[Job], running: set[int],
            s: dict) -> None:
    from django_kling.flow import completions  # needs Django set up (harness.setup_django)

    after = job.checked or 0.0
    kind.intervals = completions.window(kind.intervals, [after, elapsed, job.submitted],
                                        int(s["WINDOW"]))
    kind.stale += 1
    seen, least = len(kind.intervals), int(s["MIN_SAMPLES"])
    if seen >= least and (seen <= 2 * least or kind.stale >= int(s["REPLAN"])):
        full = seen >= int(s["WINDOW"])
        oldest = kind.intervals[0][2] if full else -math.inf
        censored = [((jobs[k].checked or 0.0), math.inf) for k in running
                    if jobs[k].submitted >= oldest]
        kind.plan = poll_plan.make_plan(
            [entry[:2] for entry in kind.intervals] + censored, calls=s["CALLS"],
            max_gap=min(s["MAX_GAP"], s["MAX_POLL_INTERVAL"]), first_by=s["FIRST_CHECK"],
            min_gap=s["MIN_GAP"], young=not full)
        kind.stale = 0


def figures(jobs: list[Job]) -> tuple[float, float, float]:
    """(lag p50, lag p99, mean status calls) of a replayed run."""
    lag = sorted(job.found - job.ends for job in jobs)
    return (lag[len(lag) // 2], lag[int(0.99 * (len(lag) - 1))],
            sum(job.calls for job in jobs) / len(jobs))


def lognormal(seed: int, median: float = 120.0, sigma: float = 0.35, low: float = 60.0,
              high: float = 300.0) -> Callable[[], float]:
    draw = random.Random(seed)
    return lambda: min(high, max(low, math.exp(math.log(median) + sigma * draw.gauss(0, 1))))


if __name__ == "__main__":
    from bench import harness

    harness.setup_django()
    for seed in (1, 2, 3):
        ends = lognormal(seed)
        jobs, kind = replay(ends)
        fresh = figures(jobs)
        steady = figures(replay(ends, kind=kind)[0])
        print(f"seed {seed}: from nothing {fresh[0]:.1f} / {fresh[1]:.1f} s at {fresh[2]:.2f};"
              f" steady {steady[0]:.1f} / {steady[1]:.1f} s at {steady[2]:.2f}")
