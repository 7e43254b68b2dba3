"""Status calls placed where jobs end: a check plan learned from the jobs that finished before.

A job's completion time is only seen through our own checks: it finished after the last
"still running" answer and before the "done" one. Each finished job leaves that interval on
its ``CompletionTimes`` row (one per provider, model, mode and duration; the last ``WINDOW``
intervals, so the plan follows a provider that gets faster or slower). Each interval counts as
a few evenly spread points of equal weight (the completion is anywhere inside it): an
interval-censored sample, which a wide early interval cannot turn into a confident guess.

The plan is the list of check times (seconds after submission) that minimizes the expected
detection lag plus ``price`` per status call made (a call at a time is made only if the job was
still running at the check before it), with no gap over ``MAX_POLL_INTERVAL``: a dynamic
programme over a grid of at most ``GRID`` times, O(grid x gap). ``price`` is searched so that the
expected number of calls stays within ``POLL_PLAN["CALLS"]``. Computed again only when the row
changed; until ``MIN_SAMPLES`` jobs were seen, ``polling`` keeps its fixed back-off. Past the
plan's last time (a job slower than any seen), the back-off takes over again.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

#: Seconds between candidate check times (at least; more for a wide spread, see ``GRID``).
STEP = 0.5
#: Most candidate times: bounds the programme's cost (~10 ms) whatever the spread.
GRID = 240
#: Prices of a call tried while searching the one that meets the call budget.
SEARCH_STEPS = 12
#: Points each observed interval is spread over.
SPREAD = 4


def spread(intervals: Sequence[Sequence[float]]) -> list[float]:
    """The completion times the intervals stand for, sorted: ``SPREAD`` points in each."""
    points: list[float] = []
    for low, high in intervals:
        low, high = max(0.0, float(low)), max(0.0, float(high))
        if high <= low:
            points.extend([high] * SPREAD)
        else:
            width = (high - low) / SPREAD
            points.extend(low + width * (k + 0.5) for k in range(SPREAD))
    return sorted(points)


def expected_cost(plan: Sequence[float], points: Sequence[float]) -> tuple[float, float]:
    """(mean lag, mean status calls) of ``plan`` over ``points`` (jobs past the plan's end are
    counted as found at its end: the back-off's share is not the plan's)."""
    if not points:
        return 0.0, 0.0
    lag = calls = 0.0
    for point in points:
        index = min(bisect.bisect_left(plan, point), len(plan) - 1)
        lag += max(plan[index] - point, 0.0)
        calls += index + 1
    return lag / len(points), calls / len(points)


def _optimal(points: Sequence[float], price: float, max_gap: float,
             end: float) -> list[float]:
    count = len(points)
    # The plan ends where the latest job was known to be done.
    first, last = points[0], max(points[-1], end)
    step = max(STEP, (last - first) / GRID)
    grid = [first + step * k for k in range(int((last - first) // step) + 1)]
    if grid[-1] < last:
        grid.append(last)
    done = [bisect.bisect_right(points, t) for t in grid]  # points at or before each time
    prefix = [0.0]
    for point in points:
        prefix.append(prefix[-1] + point)
    reach = max(1, int(max_gap // step))
    best = [0.0] * len(grid)
    before = [-1] * len(grid)
    for j, t in enumerate(grid):
        # First check at t: every point up to t waits until t.
        best[j] = (done[j] * t - prefix[done[j]]) / count + price
        for i in range(max(0, j - reach), j):
            if grid[j] - grid[i] > max_gap:
                continue
            found = done[j] - done[i]
            cost = (best[i] + (found * t - (prefix[done[j]] - prefix[done[i]])) / count
                    + price * (count - done[i]) / count)
            if cost < best[j]:
                best[j], before[j] = cost, i
    plan = []
    j = len(grid) - 1
    while j >= 0:
        plan.append(grid[j])
        j = before[j]
    return plan[::-1]


def make_plan(intervals: Sequence[Sequence[float]], *, calls: float,
              max_gap: float) -> list[float]:
    """The check times for jobs like those that left ``intervals``, expecting at most ``calls``
    status calls per job, no two checks more than ``max_gap`` apart."""
    points = spread(intervals)
    if not points:
        return []
    end = max(float(high) for _low, high in intervals)
    low, high = 0.0, 1000.0
    plan = _optimal(points, low, max_gap, end)
    if expected_cost(plan, points)[1] <= calls:
        return plan
    best = _optimal(points, high, max_gap, end)
    for _ in range(SEARCH_STEPS):  # bisection on the price of a call
        price = (low + high) / 2
        candidate = _optimal(points, price, max_gap, end)
        if expected_cost(candidate, points)[1] <= calls:
            best, high = candidate, price
        else:
            low = price
    return best


def next_check(plan: Sequence[float], elapsed: float, *, min_gap: float) -> float | None:
    """Seconds from now (``elapsed`` after submission) to the plan's next check at least
    ``min_gap`` away; None once the plan is spent."""
    index = bisect.bisect_left(plan, elapsed + min_gap)
    return plan[index] - elapsed if index < len(plan) else None
