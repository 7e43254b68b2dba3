"""Issue 27, part 1: status calls placed where jobs end, against today's back-off, in one run.

    python -m bench.poll_plan                 # ~10 min
    python -m bench.poll_plan --batches 3     # ~5 min, the steady state on 1,500 jobs
    python -m bench.poll_plan --quick         # a fifth of the jobs

**Polling at scale, no webhooks** (time-scaled as ``bench.scale`` is: every interval divided by
``--scale``, lags multiplied back). Generation times are log-normal around 120 s (sigma 0.35,
clipped to 60-300 s); 5,000 in flight at full time (500 jobs at scale 10), submitted over
3 minutes, on one worker process. Runs on the same sandbox and database: today's
back-off (``POLL_PLAN["MIN_SAMPLES"]`` out of reach), the learned plan starting from no
finished job (the first jobs of the run teach it), and the learned plan again with what the
run before left (the steady state of a shop that has made clips before), ``--batches`` times
(10: 5,000 jobs), judged on those batches pooled.

**The sandbox, unscaled**: 5-second generations and the app's default timing (``FIRST_CHECK``
60 s, back-off 5 s to 25 s): five jobs at once, then five one after another; the detection lag
of each (the sandbox's "done" to our first status call after it).

**The plan alone** (``--only simulate``, no sandbox or database: independent of the machine's
load): the plan in its steady state over 20,000 draws of the same log-normal, three seeds, next
to the plan made knowing the distribution (the bound); and the scaled run's learned parts
replayed with the app's rules (``bench.poll_sim``: from nothing, then steady).

Each scaled run also prints when the scheduled status calls started after their job was due
(``next_check_at``): the part of the lag that the plan does not place.
"""

from __future__ import annotations

import argparse
import bisect
import math
import os
import random
import time

from bench import harness
from bench.harness import say
from bench.scale import drive, lag_quantiles, lags, scaled_settings

LOGNORMAL = (120.0, 0.35, 60.0, 300.0)  # median, sigma, low, high (seconds, full time)
GOAL = {"p50": 5.0, "p99": 15.0, "calls": 8.0}


def at_scale(sandbox, root, database, scale: float, quick: bool,
             batches: int = 10) -> list[str]:
    n = int(5000 / scale / (5 if quick else 1))
    median, sigma, low, high = LOGNORMAL
    learned = {"MIN_GAP": 1 / scale, "MAX_GAP": 15 / scale}
    # The steady state runs ``batches`` batches one after another, each on the plan the one
    # before left, and is judged on them pooled: one batch of 500 jobs moves its lag p50 by
    # +-0.3 s and its calls by +-0.2 from run to run even with the distribution known
    # exactly (bench.poll_sim), which alone decides a verdict this near the goal; ten
    # batches are the issue's 5,000 as jobs measured, not only as load.
    runs = [("today's back-off", {"MIN_SAMPLES": 10**9}, True),
            ("learned, from nothing", learned, True),
            *((f"learned, steady {k + 1}", learned, False) for k in range(batches))]
    rows = {}
    for label, plan, fresh in runs:
        sandbox.reset()
        # Silent, like the real providers: the sandbox's own "ends in" would be used instead.
        sandbox.set(delay_range=None, tells_end=False,
                    delay_lognormal=(median / scale, sigma, low / scale, high / scale))
        extra = {**scaled_settings("new", scale, None, None), "POLL_PLAN": plan}
        result = drive(root, database, "poll", extra, "--n", str(n), "--spread",
                       str(180 / scale), "--timeout", str(600 / scale + 60),
                       *(["--fresh-plan"] if fresh else []))
        result.update(lags(sandbox, scale))
        result["per_job"] = result["status_calls"] / n
        rows[label] = result
        say(f"{label}: {n} jobs (= {n * int(scale)} in flight at full time): lag p50 "
            f"{result['p50']:.1f} s, p99 {result['p99']:.1f} s, undetected "
            f"{result['undetected']}; {result['per_job']:.2f} status calls per job; worker "
            f"{result['cpu']:.1f} s CPU in {result['wall']:.0f} s "
            f"({result['cpu'] / result['wall']:.2f} cores); calls started after due: p50 "
            f"{result.get('late_p50', math.nan) * scale:.1f} s, p99 "
            f"{result.get('late_p99', math.nan) * scale:.1f} s (scaled); final "
            f"{result['statuses']}")
    steady = [rows[label] for label in rows if label.startswith("learned, steady")]
    rows["learned, steady"] = pooled_batches(steady)
    base = rows["today's back-off"]
    verdicts = []
    for label in ("learned, from nothing", "learned, steady"):
        row = rows[label]
        ok = (row["p50"] <= GOAL["p50"] and row["p99"] <= GOAL["p99"]
              and row["per_job"] <= GOAL["calls"] and row["undetected"] == 0)
        each = ("; batches " + ", ".join(
            f"{b['p50']:.1f} / {b['p99']:.1f} s at {b['per_job']:.2f}" for b in steady)
                if label == "learned, steady" else "")
        verdicts.append(harness.verdict(
            f"27.1 {n * int(scale)} in flight without webhooks ({label})", ok,
            f"lag p50 {row['p50']:.1f} / p99 {row['p99']:.1f} s at {row['per_job']:.2f} calls "
            f"per job (calls started after due{' in the worst batch' if each else ''} p50 "
            f"{row.get('late_p50', math.nan) * scale:.1f}"
            f" / p99 {row.get('late_p99', math.nan) * scale:.1f} s){each}; "
            f"today's back-off in the same run {base['p50']:.1f} / {base['p99']:.1f} s "
            f"at {base['per_job']:.2f}; goal <= 5 / 15 s at <= 8"))
    return verdicts


def pooled_batches(batches: list[dict]) -> dict:
    """The figures of ``batches`` as one run: every job's lag, every status call."""
    found = sorted(lag for batch in batches for lag in batch["found"])
    jobs = sum(batch["jobs"] for batch in batches)
    return {**lag_quantiles(found),
            "per_job": sum(batch["status_calls"] for batch in batches) / jobs,
            "undetected": sum(batch["undetected"] for batch in batches),
            "late_p50": max(batch.get("late_p50", math.nan) for batch in batches),
            "late_p99": max(batch.get("late_p99", math.nan) for batch in batches)}


def checks_of(plan: list[float], ends_at: float) -> tuple[float, int, float]:
    """(found at, status calls, last "still running" check) for a job ending at ``ends_at``
    checked at once at each of ``plan``'s times (at least MIN_GAP 1 s apart), then by
    ``polling.after_plan``'s back-off from the plan's end (1 s doubling to 25 s)."""
    at, calls, last = plan[0], 0, 0.0
    while True:
        calls += 1
        if at >= ends_at:
            return at, calls, last
        last = at
        index = bisect.bisect_left(plan, at + 1.0)
        at = plan[index] if index < len(plan) else at + min(max(1.0, at - plan[-1]), 25.0)


def judged(plan: list[float], ends: list[float]) -> tuple[float, float, float]:
    """(lag p50, lag p99, mean status calls) of ``plan`` over jobs ending at ``ends``."""
    found = [checks_of(plan, t) for t in ends]
    lag = sorted(at - t for (at, _calls, _last), t in zip(found, ends, strict=True))
    return (lag[len(lag) // 2], lag[int(0.99 * (len(lag) - 1))],
            sum(c for _at, c, _last in found) / len(found))


def simulated(rounds: int = 4, seed: int = 1) -> list[str]:
    """The plan alone, no processing time, so independent of the machine's load: 256 jobs
    of the log-normal checked by the plan the jobs before them left, ``rounds`` times over
    (the steady state: the intervals are the plan's own gaps), then the last plan over
    20,000 draws."""
    from django_kling.flow.poll_plan import make_plan

    median, sigma, low, high = LOGNORMAL
    draw = random.Random(seed)

    def sample(count: int) -> list[float]:
        return [min(high, max(low, math.exp(math.log(median) + sigma * draw.gauss(0, 1))))
                for _ in range(count)]

    plan = make_plan([(t - 2, t + 2) for t in sample(256)], calls=GOAL["calls"],
                     max_gap=15.0, first_by=60.0, min_gap=1.0)
    for _ in range(rounds):
        plan = make_plan([(last, at) for at, _calls, last in
                          (checks_of(plan, t) for t in sample(256))],
                         calls=GOAL["calls"], max_gap=15.0, first_by=60.0, min_gap=1.0)
    ends = sample(20000)
    p50, p99, calls = judged(plan, ends)
    # The bound no estimate can beat: the plan made from 4,000 exact completion times (the
    # distribution known), judged over the same draws. At 8 calls it is ~4.5 / ~13.5 s.
    known = make_plan([(t, t) for t in sample(4000)], calls=GOAL["calls"], max_gap=15.0,
                      first_by=60.0, min_gap=1.0)
    b50, b99, bcalls = judged(known, ends)
    say(f"simulated (seed {seed}): {len(plan)} planned checks; lag p50 {p50:.1f} s, "
        f"p99 {p99:.1f} s at {calls:.2f} calls per job (the distribution known: "
        f"{b50:.1f} / {b99:.1f} s at {bcalls:.2f})")
    ok = p50 <= GOAL["p50"] and p99 <= GOAL["p99"] and calls <= GOAL["calls"]
    return [harness.verdict(f"27.1 the plan alone, steady state, no processing (seed {seed})",
                            ok, f"lag p50 {p50:.1f} / p99 {p99:.1f} s at {calls:.2f} calls per "
                            f"job; goal <= 5 / 15 s at <= 8")]


def replayed(seed: int) -> list[str]:
    """``bench.poll_sim``: the scaled run's two learned parts replayed with the app's rules
    (the ladder, the young plans, replanning, switching plans), no processing time."""
    from bench import poll_sim

    ends = poll_sim.lognormal(seed, *LOGNORMAL)
    jobs, kind = poll_sim.replay(ends)
    verdicts = []
    for label, found in (("from nothing", jobs),
                         ("steady", poll_sim.replay(ends, kind=kind)[0])):
        p50, p99, calls = poll_sim.figures(found)
        say(f"replayed (seed {seed}), {label}: lag p50 {p50:.1f} s, p99 {p99:.1f} s at "
            f"{calls:.2f} calls per job")
        ok = p50 <= GOAL["p50"] and p99 <= GOAL["p99"] and calls <= GOAL["calls"]
        verdicts.append(harness.verdict(
            f"27.1 500 jobs replayed, no processing ({label}, seed {seed})", ok,
            f"lag p50 {p50:.1f} / p99 {p99:.1f} s at {calls:.2f} calls per job; goal <= 5 / "
            f"15 s at <= 8"))
    return verdicts


def unscaled(sandbox, root, database) -> list[str]:
    sandbox.reset()
    # Silent, like the real providers (the sandbox says when a job ends by default, and a
    # job is then asked at that time: the plan would not be measured).
    sandbox.set(delay_range=None, delay_lognormal=None, delay=5.0, tells_end=False)
    found = []
    for index, n in enumerate([5, 1, 1, 1, 1, 1]):
        before = len(sandbox.jobs())
        drive(root, database, "poll", {}, "--n", str(n), "--spread", "0", "--timeout", "120",
              *(["--fresh-plan"] if index == 0 else []))
        lag = lags_since(sandbox, before)
        found.append(lag)
        say(f"sandbox, 5 s jobs, round {index + 1} ({n} job{'s' if n > 1 else ''}): detection "
            f"lag {', '.join(f'{x:.2f}' for x in lag)} s")
    after_five = [x for round_ in found[1:] for x in round_]
    return [harness.verdict(
        "27.2 the sandbox, after 5 finished jobs, detects a job within 2 s", max(after_five) <= 2,
        f"jobs 6-10: {', '.join(f'{x:.2f}' for x in after_five)} s (the first five: "
        f"{', '.join(f'{x:.1f}' for x in found[0])} s, on the ladder below FIRST_CHECK)")]


def lags_since(sandbox, before: int) -> list[float]:
    polls: dict[str, list[float]] = {}
    for _method, path, _key, job_id, when in sandbox.calls():
        if path.endswith("/video-model/status") and job_id:
            polls.setdefault(job_id, []).append(when)
    found = []
    for job_id, _start, ready in sandbox.jobs()[before:]:
        after = sorted(t for t in polls.get(job_id, []) if t >= ready)
        found.append(after[0] - ready if after else float("inf"))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=10.0)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", choices=["scale", "sandbox", "simulate"])
    parser.add_argument("--batches", type=int, default=10,
                        help="steady batches of 500 jobs, judged pooled (default 10)")
    args = parser.parse_args()
    if args.only == "simulate":  # no sandbox, database or Redis: the plan alone
        harness.setup_django()
        for seed in (1, 2, 3):
            simulated(seed=seed)
            replayed(seed)
        return
    redis = harness.redis_url()
    if redis is None:
        raise SystemExit("Redis is needed (BENCH_REDIS_URL)")
    database = os.environ.get("BENCH_DATABASE_URL", harness.DEFAULT_DB)
    busy, started = harness.machine_busy(), time.time()
    sandbox = harness.SandboxProcess(render_scale=0.1, result="url")
    verdicts: list[str] = []
    try:
        with harness.temp_media() as media:
            os.environ.update(BENCH_MEDIA_ROOT=media, BENCH_GATEWAY_URL=sandbox.v4_url,
                              BENCH_REDIS_URL=redis)
            if args.only in (None, "scale"):
                verdicts += at_scale(sandbox, harness.ROOT, database, args.scale, args.quick,
                                     args.batches)
            if args.only is None:
                harness.setup_django()  # the replay reads and writes completion rows
                verdicts += [v for seed in (1, 2, 3)
                             for v in simulated(seed=seed) + replayed(seed)]
            if args.only in (None, "sandbox"):
                verdicts += unscaled(sandbox, harness.ROOT, database)
    finally:
        sandbox.stop()
    say(harness.load_note(busy, time.time() - started))
    say("\n" + "\n".join(verdicts))


if __name__ == "__main__":
    main()
