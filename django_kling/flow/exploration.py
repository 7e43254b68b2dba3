"""The first jobs of a kind, while no check plan exists: checked on a ladder, not once at
``FIRST_CHECK``.

A job first seen done at ``FIRST_CHECK`` (60 s) only says "done within 60 s"; five such jobs
leave a plan that must spread its checks over the whole minute, so the sixth job still waits
seconds for its check. The first ``POLL_PLAN["MIN_SAMPLES"]`` jobs of a kind in flight at once
are therefore asked at ``FIRST_CHECK`` halved down to ``POLL_INTERVAL`` (7.5, 15, 30, 60 s at
the defaults; ``poll_plan.ladder``): at most three calls more for each of them, once per kind,
and intervals at most half as wide. Jobs submitted meanwhile (a batch of thousands before any
job ended) keep ``FIRST_CHECK``: their own completions teach the plan soon enough, and the
ladder's calls stay bounded by ``MIN_SAMPLES``.
"""

from __future__ import annotations

from ..conf import kling_settings
from ..models import VideoRequest
from . import completions, poll_plan


def _ladder(job: VideoRequest) -> list[float]:
    return poll_plan.ladder(kling_settings.first_check(job.model),
                            float(kling_settings.POLL_INTERVAL))


def first_delay(job: VideoRequest, first_check: float) -> float:
    """Seconds to the first status call of ``job`` (being marked running, its kind without a
    plan): the ladder's first step if fewer than ``MIN_SAMPLES`` jobs of its kind are running,
    else ``first_check`` (always with ``MIN_SAMPLES`` over ``WINDOW``: no plan to feed)."""
    options = kling_settings.POLL_PLAN
    if int(options["MIN_SAMPLES"]) > int(options["WINDOW"]):
        return first_check  # no plan can ever be made (the fixed schedule was asked for)
    running = completions.running_like(job).count()
    if running >= int(options["MIN_SAMPLES"]):
        return first_check
    return _ladder(job)[0]


def next_delay(job: VideoRequest, elapsed: float) -> float | None:
    """Seconds to the next step of the ladder for a job still running ``elapsed`` seconds after
    submission; None when the job is not on the ladder (a job that was not on it is first asked
    at ``FIRST_CHECK``, the ladder's last step) or has reached its end."""
    steps = _ladder(job)
    if elapsed >= steps[-1] - 1e-3:
        return None
    # Half a step of slack: a check made late must not skip the step it was meant for.
    return poll_plan.next_check(steps, elapsed, min_gap=min(
        float(kling_settings.POLL_PLAN["MIN_GAP"]), steps[0] / 2), phase=0.0)
