"""Which step a job goes to: the ``Next`` answer of every step, the step for each state, and
loading a job for a step (the part of the job flow that decides, not the steps themselves).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.db.models import Exists, OuterRef

from ..models import Status, VideoRequest
from ..request_shots import RequestShot
from ..voices import RequestVoice

# The pipeline's logger: these lines are part of its steps' story.
logger = logging.getLogger("django_kling.flow.pipeline")


@dataclass(frozen=True)
class Next:
    step: str  # "submit" | "poll" | "fetch"
    delay: float = 0.0


STEP_FOR_STATE = {
    Status.QUEUED: "submit",
    Status.SUBMITTING: "submit",
    Status.RUNNING: "poll",
    Status.FETCHING: "fetch",
}


def load_job(pk: Any, *, frames: bool = False) -> VideoRequest | None:
    """The job, or None (logged) when it no longer exists."""
    # Only submitting needs the frames (and whether there are voices to read: one statement
    # fewer for the many requests without); polls run thousands of times and skip the joins.
    queryset = VideoRequest.objects.select_related("first_frame", "last_frame").annotate(
        has_voices=Exists(RequestVoice.objects.filter(request=OuterRef("pk"))),
        has_shots=Exists(RequestShot.objects.filter(request=OuterRef("pk")))) if frames \
        else VideoRequest.objects
    try:
        return queryset.get(pk=pk)
    except VideoRequest.DoesNotExist:
        logger.info("job %s no longer exists", pk)
        return None


def elsewhere(job: VideoRequest, step: str) -> Next | None:
    """The job is not in this step's state: hand it to the step it is in, if any."""
    wanted = STEP_FOR_STATE.get(job.status)
    return Next(wanted) if wanted and wanted != step else None
