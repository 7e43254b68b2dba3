"""Status calls placed where jobs end: a check plan learned from the jobs that finished before.

A job's completion time is only seen through our own checks: it finished after the last
"still running" answer and by the "done" one. Each finished job leaves that interval on its
kind's ``CompletionTimes`` row (the last ``WINDOW`` of them, so the plan follows a provider that
gets faster or slower). From interval-censored data like this, the distribution of completion
times is estimated by Turnbull's self-consistency algorithm (the nonparametric maximum
likelihood estimate): five jobs first seen done at a 60 s check and one seen done at 7.5 s say
together that jobs end before 7.5 s, which no average of the intervals would say. Masses on
neighbouring slivers are pooled (``BLOCK``), and each mass is spread evenly over its interval.

The plan is the list of check times (seconds after submission) that minimizes the expected
detection lag plus ``price`` per status call made (the call at a time is made only if the job
was still running at the check before it), with no gap over ``max_gap``: a dynamic programme
over at most ``GRID`` candidate times, O(grid x gap). ``price`` is searched so that the
expected number of calls stays within the budget. Past the plan's last time (a job slower than
any seen), ``polling`` goes back to its back-off.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence

#: Seconds between the points ``spread`` puts in a wide interval; ``make_plan`` uses half
#: its ``min_gap`` for those and for its candidate times (more for a wide spread: ``GRID``).
STEP = 0.5
#: Most candidate times: bounds the programme's cost whatever the spread.
GRID = 240
#: Prices of a call tried while searching the one that meets the call budget.
SEARCH_STEPS = 20
#: Points each mass of the estimate is spread over, at least (one per ``STEP`` of its
#: interval, up to ``MOST_POINTS``).
SPREAD = 4
MOST_POINTS = 32
#: Rounds of the self-consistency algorithm (it converges in a few for windows this small).
ROUNDS = 50
#: How near apart an interval's ends may be and still be one exact time.
EXACT = 1e-6
#: Seconds past its left end over which an open-ended mass (jobs still running later than
#: any job seen done) is spread by ``spread``; ``make_plan`` uses its ``max_gap``: the plan
#: reaches one gap past the oldest running job, then ``polling.after_plan`` backs off.
TAIL = 10.0
#: While a kind's window is young (``make_plan(young=True)``: fewer finished jobs than the
#: window holds, most of a batch still running), an estimate past the ``THIN``-th latest
#: "still running" time rests on a handful of jobs when running jobs are among them:
#: Turnbull puts the running jobs' mass on the last finished one (9 jobs done by 97 s and
#: 263 running since 95 s gave a plan ending at 97 s, every job past it on the back-off).
#: Mass from there on is one open-ended mass ...
THIN = 5
#: ... spread past its start over ``OPEN`` times it, not one ``max_gap`` (a batch 75 s old is not
#: likely to end within 15 s). Replayed (``bench.poll_sim``, 8 seeds), from nothing: 11.6 ->
#: 9.4 calls per job; the steady state (a full window) is untouched.
OPEN = 0.5
#: While more than this share of a young window's estimate is open-ended (past the
#: ``THIN``-th latest "still running" time: the window cannot say where those jobs end), no
#: plan is made from it. The first plans of a batch (five quick jobs done, hundreds running)
#: put that mass within half the batch's age and checked every 3 s there: 13-15 calls per
#: job by the true distribution. Until the estimate places the median job, the plan is
#: ``learning_plan``: today's first check, then every ``max_gap`` (the fixed schedule, within
#: the plan's bound). Replayed (``bench.poll_sim``, 12 seeds), from nothing: 9.21 -> 7.85 calls
#: per job, lag p50 4.40 -> 5.04 s, p99 14.7 s. (Keeping the young plan's checks up to where
#: the window's knowledge ends, then every ``max_gap``: 8.13 calls, p99 15.2 s.)
RESOLVED = 0.5
#: How far a ``learning_plan`` reaches, in first checks: past its end a job backs off from
#: ``min_gap`` (``polling.after_plan``), which suits a plan that ends where the slowest job
#: ended, not one that ends where nothing is known.
SPAN = 3.0
#: A job off its plan's phase (the plan was made again since its last check, or the call
#: started late) skips a check nearer than this share of the plan's gap there: its gap then
#: averages the plan's (that one wait may be up to 1 + PHASE gaps, so past ``MAX_GAP``),
#: where taking the nearest check cost up to a call per new plan
#: (replayed: 8.15 -> 7.8 calls per job in the steady state, lag p50 +0.05 s).
PHASE = 0.5
#: Turnbull's estimate puts its masses on the innermost intervals, where jobs' intervals
#: overlap. Jobs checked under different plans (made again every ``REPLAN`` jobs, or
#: switched under running ones) leave slivers a fraction of a second wide holding several
#: percent each (6 % on 0.1 s at 135 s, say): an artefact of where two grids cross, not a
#: peak of the provider's times, yet the programme placed checks 2 s apart to catch it.
#: Neighbouring masses are pooled into blocks at least this share of ``max_gap`` wide and
#: spread evenly over them. Replayed (``bench.poll_sim``, 12 seeds x 2 steady batches):
#: lag p50 5.06 -> 4.84 s at 7.92 -> 7.84 calls per job.
BLOCK = 0.4

Weighted = list[tuple[float, float]]  # (completion time, probability), sorted by time


def _clean(intervals: Sequence[Sequence[float]]) -> list[tuple[float, float]]:
    found = []
    for low, high in intervals:
        high = max(0.0, float(high))
        low = min(max(0.0, float(low)), high - EXACT)  # (low, high]: an exact time is a sliver
        found.append((low, high))
    return found


def turnbull(intervals: Sequence[Sequence[float]]) -> list[tuple[float, float, float]]:
    """``(after, by, probability)``: the estimated distribution of completion times, as the
    masses of Turnbull's innermost intervals. An interval may be open-ended (``by`` infinite:
    a job still running, right-censored); mass past every finite end is on ``(after, inf)``."""
    observed = _clean(intervals)
    if not observed:
        return []
    # Innermost intervals: a left end followed by a right end with no end between them
    # (at equal values a right end comes first: (a, b] and (b, c] do not meet).
    ends = sorted([(low, 1) for low, _ in observed] + [(high, 0) for _, high in observed])
    inner = [(a, b) for (a, kind_a), (b, kind_b) in zip(ends, ends[1:], strict=False)
             if kind_a == 1 and kind_b == 0]
    starts, stops = [a for a, _ in inner], [b for _, b in inner]
    # Innermost intervals do not overlap: those inside (low, high] are one run of the list,
    # so a round of the algorithm is prefix sums over runs, linear in jobs plus intervals
    # (thousands of running jobs are as cheap as a window of finished ones).
    runs = [_inside(starts, stops, low, high) for low, high in observed]
    mass = [1.0 / len(inner)] * len(inner)
    for _ in range(ROUNDS):
        total = [0.0]
        for m in mass:
            total.append(total[-1] + m)
        share = [0.0] * (len(inner) + 1)
        for first, stop in runs:
            covered = total[stop] - total[first]
            if covered > 0:
                share[first] += 1.0 / covered
                share[stop] -= 1.0 / covered
        new, running = [], 0.0
        for j, m in enumerate(mass):
            running += share[j]
            new.append(m * running)
        size = sum(new) or 1.0
        mass = [m / size for m in new]
    return [(a, b, m) for (a, b), m in zip(inner, mass, strict=True) if m > 1e-9]


def _inside(starts: list[float], ends: list[float], low: float,
            high: float) -> tuple[int, int]:
    return bisect.bisect_left(starts, low), max(bisect.bisect_right(ends, high),
                                                 bisect.bisect_left(starts, low))


def pooled(intervals: Sequence[Sequence[float]], *, max_gap: float,
           young: bool = False) -> list[tuple[float, float, float]]:
    """``turnbull``'s estimate as the plan reads it: neighbouring masses pooled into blocks at
    least ``BLOCK`` x ``max_gap`` wide (and, ``young``, the thin tail as one open mass)."""
    estimate = turnbull(intervals)
    if young:
        estimate = _thin_tail(estimate, intervals)
    blocks: list[tuple[float, float, float]] = []
    for low, high, mass in estimate:
        if blocks and not math.isinf(high) and not math.isinf(blocks[-1][1]):
            start, end, held = blocks[-1]
            if end - start < BLOCK * max_gap:
                blocks[-1] = (start, high, held + mass)
                continue
        blocks.append((low, high, mass))
    return blocks


def spread(intervals: Sequence[Sequence[float]]) -> Weighted:
    """Completion times and their probabilities: each mass of ``turnbull`` in ``SPREAD``
    evenly spaced points of its interval."""
    return _spread(turnbull(intervals), TAIL, STEP)


def _open_end(low: float, tail: float, share: float) -> float:
    return low + max(tail, share * low)


def _thin_tail(estimate: list[tuple[float, float, float]],
               intervals: Sequence[Sequence[float]]) -> list[tuple[float, float, float]]:
    observed = _clean(intervals)
    lows = sorted(low for low, _high in observed)
    if len(lows) < THIN:
        return estimate
    horizon = lows[-THIN]
    # Nothing unseen if the latest known times are all of finished jobs; and at 0 (jobs not
    # asked yet, five sandbox jobs found at once) there is no tail to speak of.
    if horizon <= EXACT or not any(math.isinf(high) and low >= horizon
                                   for low, high in observed):
        return estimate
    kept = [(low, high, mass) for low, high, mass in estimate if low < horizon]
    beyond = sum(mass for low, _high, mass in estimate if low >= horizon)
    return kept + ([(horizon, math.inf, beyond)] if beyond > 0 else [])


def _spread(estimate: list[tuple[float, float, float]], tail: float,
            step: float, share: float = 0.0) -> Weighted:
    points: Weighted = []
    for low, high, mass in estimate:
        if math.isinf(high):  # past every job seen done: placed as if it ended soon after
            high = _open_end(low, tail, share)
        if high - low <= 2 * EXACT:
            points.append((high, mass))
            continue
        # At least SPREAD points, one per step of a wide interval: five jobs that only say
        # "done within 7.5 s" must not leave a plan of four checks 1.9 s apart.
        count = min(MOST_POINTS, max(SPREAD, math.ceil((high - low) / step)))
        width = (high - low) / count
        points.extend((low + width * (k + 0.5), mass / count) for k in range(count))
    return sorted(points)


def expected_cost(plan: Sequence[float], points: Weighted) -> tuple[float, float]:
    """(mean lag, mean status calls) of ``plan`` over weighted ``points`` (a job past the
    plan's end counts as found at its end: what the back-off does then is not the plan's)."""
    lag = calls = 0.0
    for point, weight in points:
        index = min(bisect.bisect_left(plan, point), len(plan) - 1)
        lag += weight * max(plan[index] - point, 0.0)
        calls += weight * (index + 1)
    return lag, calls


def _optimal(points: Weighted, price: float, max_gap: float, end: float,
             first_by: float, least: float) -> list[float]:
    times = [t for t, _ in points]
    first, last = min(times[0], first_by), max(times[-1], end)  # ends where the latest did
    step = max(least / 2, (last - first) / GRID)
    grid = [first + step * k for k in range(int((last - first) // step) + 1)]
    if grid[-1] < last:  # the plan ends where the latest job did, no nearer than ``least``
        grid[-1:] = [last] if last - grid[-1] < least and len(grid) > 1 else [grid[-1], last]
    done = [bisect.bisect_right(times, t) for t in grid]  # points at or before each time
    weight, moment = [0.0], [0.0]
    for t, w in points:
        weight.append(weight[-1] + w)
        moment.append(moment[-1] + w * t)
    total = weight[-1]
    reach = max(1, int(max_gap // step))
    best = [0.0] * len(grid)
    before = [-1] * len(grid)
    for j, t in enumerate(grid):
        dj = done[j]
        # The first check: no later than first_by, whatever the estimate says.
        best[j] = t * weight[dj] - moment[dj] + price * total if t <= first_by else math.inf
        for i in range(max(0, j - reach), j):
            if t - grid[i] > max_gap or t - grid[i] < least - EXACT:
                continue  # a check nearer than ``least`` would be skipped: not planned
            di = done[i]
            cost = (best[i] + t * (weight[dj] - weight[di]) - (moment[dj] - moment[di])
                    + price * (total - weight[di]))
            if cost <= best[j]:  # of equal plans, the later check (nearer the ends)
                best[j], before[j] = cost, i
    plan = []
    j = len(grid) - 1
    while j >= 0:
        plan.append(grid[j])
        j = before[j]
    return plan[::-1]


def make_plan(intervals: Sequence[Sequence[float]], *, calls: float, max_gap: float,
              first_by: float = math.inf, min_gap: float = 2 * STEP,
              young: bool = False) -> list[float]:
    """The check times for jobs like those that left ``intervals``, expecting at most ``calls``
    status calls per job, the first by ``first_by`` and no two more than ``max_gap`` apart
    (bounds that hold however wrong the estimate is: a window of the slowest jobs of a batch,
    say, must not leave the next batch's quick ones waiting). Candidate times are at least
    half ``min_gap`` apart, checks at least ``min_gap`` (those ``next_check`` would skip are
    not planned), and a wide interval is spread over points half ``min_gap`` apart.
    ``young``: most jobs of the kind are still running (see ``THIN``, ``OPEN`` and
    ``RESOLVED``)."""
    estimate = pooled(intervals, max_gap=max_gap, young=young)
    if not estimate:
        return []
    _low, high, mass = estimate[-1]  # an open-ended mass is the last
    if young and math.isinf(high) and mass > RESOLVED:
        return learning_plan(first_by, max_gap)
    return _planned(estimate, calls, max_gap, first_by, min_gap, young)


def learning_plan(first_by: float, max_gap: float) -> list[float]:
    """The plan of a kind whose young window cannot place most of its jobs (``RESOLVED``):
    today's first check (``first_by``, else ``max_gap``), then one every ``max_gap``, up to
    ``SPAN`` times the first."""
    first = first_by if math.isfinite(first_by) else max_gap
    gaps = max(1, math.ceil((SPAN - 1) * first / max_gap))
    return [first + max_gap * k for k in range(gaps + 1)]


def _planned(estimate: list[tuple[float, float, float]], calls: float, max_gap: float,
             first_by: float, min_gap: float, young: bool) -> list[float]:
    share = OPEN if young else 0.0
    points = _spread(estimate, max_gap, min_gap / 2, share)
    end = max(_open_end(low, max_gap, share) if math.isinf(high) else high
              for low, high, _mass in estimate)
    # Never free: within the budget a call that buys no lag is still not made.
    cheap, dear = 1e-6, 1000.0
    plan = _optimal(points, cheap, max_gap, end, first_by, min_gap)
    if expected_cost(plan, points)[1] <= calls:
        return plan
    best = _optimal(points, dear, max_gap, end, first_by, min_gap)
    for _ in range(SEARCH_STEPS):  # bisection on the price of a call
        price = (cheap + dear) / 2
        candidate = _optimal(points, price, max_gap, end, first_by, min_gap)
        if expected_cost(candidate, points)[1] <= calls:
            best, dear = candidate, price
        else:
            cheap = price
    return best


def next_check(plan: Sequence[float], elapsed: float, *, min_gap: float,
               phase: float = PHASE) -> float | None:
    """Seconds from now (``elapsed`` after submission) to the plan's next check at least
    ``min_gap`` away, and (``phase``) at least that share of the plan's gap there unless it
    is the plan's last; None once the plan is spent."""
    index = bisect.bisect_left(plan, elapsed + min_gap)
    if 0 < index < len(plan) - 1 and plan[index] - elapsed < phase * (plan[index]
                                                                        - plan[index - 1]):
        index += 1  # off the plan's phase: the gap averages the plan's, not less
    return plan[index] - elapsed if index < len(plan) else None


def ladder(first_by: float, shortest: float) -> list[float]:
    """Check times for the first jobs of a kind, while no plan exists: ``first_by`` halved
    down to no less than ``shortest`` (60 s and 5 s: 7.5, 15, 30, 60). A job is still found by
    ``first_by``, its interval is at most half as wide as one check there would leave (or
    narrower for a quick job), for at most ``log2(first_by / shortest)`` calls more."""
    times = [first_by]
    while times[0] / 2 >= max(shortest, 1e-3):
        times.insert(0, times[0] / 2)
    return times
