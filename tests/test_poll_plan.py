"""Status calls placed where jobs end (issue 27): the plan, its learning, and the scheduler
using it against the sandbox."""

from __future__ import annotations

import math
import random
from datetime import timedelta

import pytest
from django.utils import timezone

from django_kling.flow import completions, polling
from django_kling.flow.poll_plan import (
    expected_cost,
    ladder,
    learning_plan,
    make_plan,
    next_check,
    pooled,
    spread,
    turnbull,
)
from django_kling.jobs import create_video_request
from django_kling.models import CompletionTimes, Status, VideoRequest

from .conftest import wait_for_end


def lognormal(count: int, seed: int = 7) -> list[float]:
    draw = random.Random(seed)
    return [min(300.0, max(60.0, math.exp(math.log(120) + 0.35 * draw.gauss(0, 1))))
            for _ in range(count)]


def test_an_interval_counts_as_points_spread_inside_it():
    assert spread([(0, 1)]) == [(0.125, 0.25), (0.375, 0.25), (0.625, 0.25), (0.875, 0.25)]
    assert spread([(5, 5)]) == [(5.0, 1.0)]
    # A wide interval: a point every half second (STEP), so a plan can place checks as finely.
    wide = spread([(0, 8)])
    assert len(wide) == 16 and wide[0] == (0.25, 1 / 16) and wide[-1] == (7.75, 1 / 16)


def test_five_wide_intervals_leave_checks_about_a_second_apart():
    """Five 5 s jobs first seen done at a 7.5 s check: the plan's eight calls cover the 7.5 s
    about a second apart (four points per interval left gaps of 1.9 s)."""
    plan = make_plan([(0, 7.5)] * 5, calls=8, max_gap=15, first_by=60, min_gap=1.0)
    assert plan[-1] == 7.5 and len(plan) >= 6, plan
    gaps = [b - a for a, b in zip(plan, plan[1:], strict=False)]
    assert max(gaps) <= 1.6 and min(gaps) >= 1.0 - 1e-9, plan


def test_narrow_intervals_tell_where_wide_ones_ended():
    """Five jobs first seen done at a 60 s check, one seen done by 7.5 s: all six fit jobs
    that end before 7.5 s, and that is the most likely reading (Turnbull's estimate)."""
    estimate = turnbull([(0, 60)] * 5 + [(0, 7.5)])
    assert [(low, high) for low, high, _ in estimate] == [(0, 7.5)]
    assert sum(mass for *_, mass in estimate) == pytest.approx(1.0)
    halves = turnbull([(10, 20), (10, 20), (30, 40), (15, 35)])
    assert [(a, b) for a, b, _ in halves] == [(15, 20), (30, 35)]
    # Two jobs can only have ended in the first, one only in the second: 2/3 and 1/3.
    assert [round(m, 2) for *_, m in halves] == [0.67, 0.33]


def test_where_two_plans_checks_cross_is_not_taken_for_a_peak():
    """Half the jobs checked every 10 s from 60 s, half from 69.9 s (a plan made again under
    running jobs): Turnbull's masses sit on the 0.1 s slivers where the grids cross, several
    percent each. The plan reads them pooled into blocks of at least 0.4 x max_gap."""
    a, b = [60.0 + 10 * k for k in range(26)], [69.9 + 10 * k for k in range(26)]

    def checked(end: float, grid: list[float]) -> tuple[float, float]:
        done = next(k for k, t in enumerate(grid) if t >= end)
        return (grid[done - 1] if done else 0.0, grid[done])

    intervals = [checked(t, a if n % 2 else b) for n, t in enumerate(lognormal(256))]
    slivers = [m for low, high, m in turnbull(intervals) if high - low < 0.2]
    assert max(slivers) > 0.04 and sum(slivers) > 0.3
    blocks = pooled(intervals, max_gap=15)
    assert sum(m for *_, m in blocks) == pytest.approx(1.0)
    assert all(high - low >= 6 for low, high, _ in blocks[:-1]), blocks
    assert max(m for *_, m in blocks) < 2 * max(slivers)


def test_the_plan_keeps_the_call_budget_and_the_largest_gap():
    ends = lognormal(64)
    plan = make_plan([(t - 2, t + 2) for t in ends], calls=8, max_gap=25)
    assert plan == sorted(plan) and plan[-1] >= max(ends)
    assert max(b - a for a, b in zip(plan, plan[1:], strict=False)) <= 25 + 1e-9
    lag, calls = expected_cost(plan, spread([(t - 2, t + 2) for t in ends]))
    assert calls <= 8 and lag < 5
    # Today's back-off from 60 s (5 s doubling to 25 s) over the same jobs, for contrast.
    backoff = [60.0]
    while backoff[-1] < 300:
        backoff.append(backoff[-1] + min(5 * 2 ** (len(backoff) - 1), 25))
    assert lag < expected_cost(backoff, spread([(t - 2, t + 2) for t in ends]))[0] / 2


def test_jobs_that_end_at_the_same_time_are_checked_right_there():
    plan = make_plan([(4.8, 5.3)] * 5, calls=8, max_gap=25)
    assert 4.8 <= plan[0] <= 5.3 and plan[-1] <= 5.3
    assert next_check(plan, 0.0, min_gap=1.0) == plan[0]
    assert next_check(plan, plan[-1], min_gap=1.0) is None  # spent: the back-off takes over


def test_a_wide_first_interval_spreads_the_checks_rather_than_guessing():
    plan = make_plan([(0, 60)] * 5, calls=8, max_gap=25)
    assert plan[0] < 15 and plan[-1] == 60
    # One job seen done early moves every check there.
    assert make_plan([(0, 60)] * 5 + [(0, 7.5)], calls=8, max_gap=25)[-1] == 7.5


@pytest.fixture
def learning(settings):
    settings.DJANGO_KLING = {**settings.DJANGO_KLING,
                             "POLL_PLAN": {"MIN_SAMPLES": 5, "MIN_GAP": 0.3}}


@pytest.fixture
def first_check_later(settings, learning):
    """FIRST_CHECK bounds a plan's first check: the suite's 0.1 s would pin it there."""
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "FIRST_CHECK": {"*": 5.0}}


def finished(db, job, *, took: float, checked: float | None):
    now = timezone.now()
    job.submitted_at = now - timedelta(seconds=took + 0.1)
    job.checked_at = job.submitted_at + timedelta(seconds=checked) if checked else None
    completions.record(job, job.submitted_at + timedelta(seconds=took))


def test_the_plan_is_learned_after_enough_jobs(db, first_check_later, make_image):
    job = create_video_request(make_image())
    # No plan yet: the first jobs climb the ladder from FIRST_CHECK (5 s) down to 0.2 s.
    assert polling.first_check_delay(job, webhook=False) == pytest.approx(ladder(5.0, 0.2)[0])
    for _ in range(4):
        finished(db, job, took=3.0, checked=2.5)
    assert CompletionTimes.objects.get().plan == []  # four jobs are not enough
    finished(db, job, took=3.0, checked=2.5)
    row = CompletionTimes.objects.get()
    assert (row.provider, row.mode, row.duration) == (job.provider, job.mode, job.duration)
    assert len(row.intervals) == 5 and 2.5 <= row.plan[0] <= 3.0
    assert 2.5 <= polling.first_check_delay(job, webhook=False) <= 3.0
    # A webhook on its way keeps the fallback schedule; the plan is for polling alone.
    assert polling.first_check_delay(job, webhook=True) >= 5.0
    now = job.submitted_at + timedelta(seconds=row.plan[-1] + 1)
    # Past the plan, a back-off that starts at the plan's end (MIN_GAP 0.3 s, doubling to
    # MAX_POLL_INTERVAL 1 s), not at the job's first call (9 calls: 1 s at once).
    late = job.submitted_at + timedelta(seconds=row.plan[-1] + 0.05)
    assert polling.after_pending(job, 9, webhook=False, now=late) == pytest.approx(0.3)
    late = job.submitted_at + timedelta(seconds=row.plan[-1] + 0.6)
    assert polling.after_pending(job, 9, webhook=False, now=late) == pytest.approx(0.6)
    assert polling.after_pending(job, 9, webhook=False, now=now) == 1.0  # MAX_POLL_INTERVAL


def test_the_window_keeps_the_last_submitted_jobs(db, settings, make_image):
    """After a batch, the last jobs to finish are its slowest: the window keeps the jobs
    submitted last, whatever order they finished in."""
    settings.DJANGO_KLING = {**settings.DJANGO_KLING,
                             "POLL_PLAN": {"MIN_SAMPLES": 2, "WINDOW": 3}}
    job = create_video_request(make_image())
    start = timezone.now() - timedelta(seconds=100)
    # (submitted after start, took): finished in the order 30, 40, 50, 60 s after start.
    for submitted, took in ((20, 10.0), (0, 40.0), (10, 40.0), (5, 55.0)):
        job.submitted_at = start + timedelta(seconds=submitted)
        job.checked_at = job.submitted_at + timedelta(seconds=took - 1)
        completions.record(job, job.submitted_at + timedelta(seconds=took))
    kept = CompletionTimes.objects.get().intervals
    assert [b for _a, b, _at in kept] == [55.0, 40.0, 10.0]  # submitted at 5, 10, 20 s


def running_batch(make_image, count: int = 10, age: float = 80.0, checked: float = 50.0) -> None:
    """``count`` jobs of one batch submitted ``age`` seconds ago, still running at a check
    ``checked`` seconds after their submission."""
    for _ in range(count):
        create_video_request(make_image())
    submitted = timezone.now() - timedelta(seconds=age)
    VideoRequest.objects.update(status=Status.RUNNING, submitted_at=submitted,
                                checked_at=submitted + timedelta(seconds=checked))


def test_jobs_still_running_count_as_ending_later(db, settings, make_image):
    """Five quick jobs done, ten of the same batch still running at a check 50 s after their
    submission: those count as ending after 50 s (their last "still running" answer, not
    their age, 80 s: a job may have ended since, unseen), so the plan reaches past 50 s (the
    quick ones alone would end it at 3 s, leaving the rest to the back-off)."""
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "FIRST_CHECK": {"*": 60.0},
                             "MAX_POLL_INTERVAL": 25.0,
                             "POLL_PLAN": {"MIN_SAMPLES": 5, "REPLAN": 1}}
    running_batch(make_image)
    job = create_video_request(make_image())
    assert completions.still_running(job, None) == [(50.0, math.inf)] * 10
    for _ in range(5):
        finished(db, job, took=3.0, checked=2.5)
    # Two thirds of the window end past 50 s, where nothing is known yet (RESOLVED): today's
    # first check, then one every MAX_GAP, not a guess that they all end soon.
    assert CompletionTimes.objects.get().plan == learning_plan(60.0, 15.0) == [
        60.0, 75.0, 90.0, 105.0, 120.0, 135.0, 150.0, 165.0, 180.0]
    # Two finished for each running one: planned, and past 50 s.
    done = VideoRequest.objects.filter(status=Status.RUNNING).values_list("pk", flat=True)[:5]
    VideoRequest.objects.filter(pk__in=list(done)).update(status=Status.SUCCEEDED)
    for _ in range(5):
        finished(db, job, took=3.0, checked=2.5)
    plan = CompletionTimes.objects.get().plan
    assert plan[0] <= 3.5 and 50 < plan[-1] < 80, plan
    assert max(b - a for a, b in zip(plan, plan[1:], strict=False)) <= 15 + 1e-6, plan
    # Never asked yet, a running job says nothing.
    VideoRequest.objects.filter(status=Status.RUNNING).update(checked_at=None)
    finished(db, job, took=3.0, checked=2.5)
    assert CompletionTimes.objects.get().plan[-1] <= 3.0
    # Without them (all finished), the same five intervals give a plan that ends at 3 s.
    VideoRequest.objects.filter(status=Status.RUNNING).update(status=Status.SUCCEEDED)
    finished(db, job, took=3.0, checked=2.5)
    assert CompletionTimes.objects.get().plan[-1] <= 3.0


def test_an_open_ended_interval_extends_the_plan():
    estimate = turnbull([(2.5, 3.0)] * 5 + [(50.0, math.inf)] * 10)
    assert estimate[-1][:2] == (50.0, math.inf)
    assert estimate[-1][2] == pytest.approx(10 / 15)
    plan = make_plan([(2.5, 3.0)] * 5 + [(50.0, math.inf)] * 10, calls=8, max_gap=15,
                     first_by=60)
    assert plan[-1] == pytest.approx(50.0 + 15)  # one MAX_GAP past the oldest running job


def test_the_scheduler_checks_where_the_sandbox_jobs_end(worker, sandbox, learning, make_image):
    sandbox.delay = 2.0
    sandbox.tells_end = False  # the plan is for providers that do not say when jobs end
    for _ in range(5):
        job = wait_for_end(create_video_request(make_image()), timeout=30)
        assert job.status == Status.SUCCEEDED, job.error_message
    # The first check stays at FIRST_CHECK (0.1 s here), the next ones where the jobs ended,
    # at most MAX_POLL_INTERVAL (1 s here) apart.
    plan = CompletionTimes.objects.get().plan
    assert plan[0] == pytest.approx(0.1) and 1.5 <= plan[-1] <= 3.0, plan
    before = len(sandbox.calls)
    job = wait_for_end(create_video_request(make_image()), timeout=30)
    calls = sandbox.calls[before:]
    submitted = next(c.time for c in calls if c.path.endswith("/start"))
    asked = [round(c.time - submitted, 2) for c in calls if c.path.endswith("/status")]
    # The back-off would ask at 0.1, 0.3, 0.7, 1.5 and 2.5 s: the plan skips what it knows.
    assert job.status == Status.SUCCEEDED and len(asked) <= 4, asked
    assert not [t for t in asked if 0.3 <= t <= 0.8], asked
    assert job.poll_count == len(asked)


def test_the_ladder_halves_the_first_check_down_to_the_poll_interval():
    assert ladder(60.0, 5.0) == [7.5, 15.0, 30.0, 60.0]
    assert ladder(0.1, 0.2) == [0.1]  # nothing to explore below the poll interval


@pytest.fixture
def exploring(settings):
    """No plan yet; FIRST_CHECK 8 s and POLL_INTERVAL 1 s: the ladder is 1, 2, 4, 8 s."""
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "FIRST_CHECK": {"*": 8.0},
                             "POLL_INTERVAL": 1.0, "MAX_POLL_INTERVAL": 5.0,
                             "POLL_PLAN": {"MIN_SAMPLES": 5, "MIN_GAP": 0.3}}


def test_the_first_jobs_of_a_kind_climb_the_ladder(db, exploring, make_image):
    job = create_video_request(make_image())
    assert polling.first_check_delay(job, webhook=False) == pytest.approx(1.0)
    job.submitted_at = timezone.now()
    at = job.submitted_at
    assert polling.after_pending(job, 1, webhook=False, now=at + timedelta(seconds=1.05)) \
        == pytest.approx(0.95)
    assert polling.after_pending(job, 3, webhook=False, now=at + timedelta(seconds=4.2)) \
        == pytest.approx(3.8)
    # Past the ladder's end (FIRST_CHECK) the back-off takes over, as for any job.
    assert polling.after_pending(job, 4, webhook=False, now=at + timedelta(seconds=8.1)) == 5.0
    # A webhook on its way keeps its fallback schedule.
    assert polling.first_check_delay(job, webhook=True) >= 8.0


def test_only_a_few_jobs_at_once_explore(db, settings, exploring, make_image):
    """A batch submitted before any job of its kind ended: MIN_SAMPLES of them climb the
    ladder, the others are first asked at FIRST_CHECK (the ladder's calls stay bounded)."""
    for _ in range(5):
        create_video_request(make_image())
    VideoRequest.objects.update(status=Status.RUNNING, submitted_at=timezone.now())
    job = create_video_request(make_image())
    assert polling.first_check_delay(job, webhook=False) == pytest.approx(8.0)
    job.submitted_at = timezone.now()
    # MIN_SAMPLES over WINDOW: no plan can be made, the fixed schedule is kept for all.
    VideoRequest.objects.update(status=Status.SUCCEEDED)
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "POLL_PLAN": {"MIN_SAMPLES": 10**9}}
    assert polling.first_check_delay(job, webhook=False) == pytest.approx(8.0)
    # A job first asked at FIRST_CHECK is past the ladder: the back-off follows.
    assert polling.after_pending(job, 1, webhook=False,
                                 now=job.submitted_at + timedelta(seconds=8.05)) == 1.0


def test_the_first_jobs_are_asked_before_first_check(worker, sandbox, exploring, make_image):
    """2 s jobs on the sandbox: the first five are asked on the ladder (1, 2, 4, 8 s), not
    first at FIRST_CHECK (8 s), so their intervals do not all start at 0."""
    sandbox.delay = 2.0
    sandbox.tells_end = False
    jobs = [create_video_request(make_image()) for _ in range(5)]
    for job in jobs:
        job = wait_for_end(job, timeout=60)
        assert job.status == Status.SUCCEEDED, job.error_message
        assert job.poll_count >= 2, job.poll_count
    started = [c.time for c in sandbox.calls if c.path.endswith("/start")]
    early = [c for c in sandbox.calls
             if c.path.endswith("/status") and c.time < max(started) + 6.0]
    assert len(started) == 5 and len(early) >= 5, (started, [c.time for c in early])
    intervals = CompletionTimes.objects.get().intervals
    assert len(intervals) == 5 and all(a > 0 for a, _b, _at in intervals), intervals


def test_a_job_off_the_plans_phase_keeps_the_plans_gap():
    plan = [10.0, 20.0, 30.0, 40.0]
    assert next_check(plan, 20.0, min_gap=1.0) == 10.0  # on the plan: its next check
    # Last asked at 18 s (a plan made since, or a late call): 20 s is nearer than half the
    # gap there, so 30 s (12 s on); the nearest check would cost a call more per new plan.
    assert next_check(plan, 18.0, min_gap=1.0) == 12.0
    assert next_check(plan, 14.0, min_gap=1.0) == 6.0  # 6 s >= half of 10 s: kept
    assert next_check(plan, 18.0, min_gap=1.0, phase=0.0) == 2.0  # the ladder's way
    assert next_check(plan, 38.0, min_gap=1.0) == 2.0  # the plan's last check is never skipped
    assert next_check(plan, 40.0, min_gap=1.0) is None


def test_a_young_window_does_not_end_the_plan_at_the_last_finished_job():
    """Nine jobs done by 97 s, 263 of the same batch still running at 95 s: Turnbull puts the
    running jobs' mass by 97 s (no job is known to run past it), so the plan ended there and
    sent the batch to the back-off. While the window is young, the mass past the fifth latest
    "still running" time is open-ended and spread over half as long again."""
    data = [(85.0, 97.0)] * 9 + [(95.0, math.inf)] * 263
    assert make_plan(data, calls=8, max_gap=15, first_by=60)[-1] <= 97.0 + 1e-6
    plan = make_plan(data, calls=8, max_gap=15, first_by=60, young=True)
    assert plan[-1] >= 95.0 * 1.5 - 1e-6, plan
    assert max(b - a for a, b in zip(plan, plan[1:], strict=False)) <= 15 + 1e-6, plan
    # The latest known times all of finished jobs (the sandbox's first five): nothing unseen,
    # the plan ends where they did, young or not.
    done = [(3.75, 5.0)] * 5
    assert make_plan(done, calls=8, max_gap=15, first_by=60, young=True) == make_plan(
        done, calls=8, max_gap=15, first_by=60)


def test_the_plan_is_young_until_the_window_is_full(db, settings, make_image):
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "FIRST_CHECK": {"*": 60.0},
                             "MAX_POLL_INTERVAL": 25.0,
                             "POLL_PLAN": {"MIN_SAMPLES": 5, "WINDOW": 8, "REPLAN": 1}}
    running_batch(make_image, count=5)
    job = create_video_request(make_image())
    for _ in range(6):
        finished(db, job, took=40.0, checked=38.0)
    # Young: the running jobs' open mass (5 of 11) from 50 s spread to 75 s, not one MAX_GAP
    # (65 s).
    assert CompletionTimes.objects.get().plan[-1] == pytest.approx(75.0), \
        CompletionTimes.objects.get().plan
    for _ in range(2):
        finished(db, job, took=40.0, checked=38.0)
    # A full window (8): as before, the running jobs submitted since its oldest count only.
    assert CompletionTimes.objects.get().plan[-1] <= 65.0 + 1e-6


def test_a_window_that_places_few_of_its_jobs_makes_a_learning_plan():
    """The first jobs of a batch: five done by 62 s, a hundred still running at 60 s. The
    estimate cannot say where those end; placing them within half the batch's age (OPEN)
    gave checks every 3 s there, 13-15 calls per job. Until it can, the first check at
    FIRST_CHECK, then one every MAX_GAP up to SPAN x FIRST_CHECK; a window that places most
    of its jobs is planned as before."""
    data = [(58.0, 62.0)] * 5 + [(60.0, math.inf)] * 100
    assert make_plan(data, calls=8, max_gap=15, first_by=60,
                     young=True) == learning_plan(60, 15)
    assert learning_plan(60, 15)[-1] == 180 and learning_plan(math.inf, 15) == [15, 30, 45]
    placed = make_plan([(40.0, 45.0)] * 60 + [(60.0, math.inf)] * 40, calls=8, max_gap=15,
                       first_by=60, young=True)
    assert placed[-1] < 120 and min(b - a for a, b in zip(placed, placed[1:],
                                                           strict=False)) < 15, placed


def test_past_its_plan_a_job_is_asked_within_max_gap(settings):
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "MAX_POLL_INTERVAL": 25.0,
                             "POLL_PLAN": {"MIN_GAP": 1.0, "MAX_GAP": 15.0}}
    assert polling.after_plan(0.0) == 1.0
    assert polling.after_plan(6.0) == 6.0
    assert polling.after_plan(100.0) == 15.0  # was MAX_POLL_INTERVAL (25 s)
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "MAX_POLL_INTERVAL": 8.0}
    assert polling.after_plan(100.0) == 8.0


def test_jobs_not_asked_yet_do_not_open_the_tail():
    """Five sandbox jobs found together at 7.5 s, two of them still marked running (never
    asked) when the plan is made: the plan stays within the 7.5 s they were seen in."""
    data = [(0.0, 7.5)] * 5 + [(0.0, math.inf)] * 2
    plan = make_plan(data, calls=8, max_gap=15, first_by=60, young=True)
    assert plan == make_plan([(0.0, 7.5)] * 5, calls=8, max_gap=15, first_by=60), plan
