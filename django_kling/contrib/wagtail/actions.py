"""What an editor can do to one video request from Wagtail's admin, and who may do it.

Each action is one call of the app's public API (``jobs.retry_video_request``,
``jobs.cancel_video_request``, and the review workflow's ``approve``/``reject``/``feature``);
this table only names them, says which permission each needs and when it applies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext_lazy as _

from ...editorial import review
from ...jobs import cancel_video_request, retry_video_request
from ...models import ReviewStatus, Status, VideoRequest
from .permissions import may_request, may_retry


@dataclass(frozen=True)
class Action:
    name: str
    label: Any
    permission: str  # the app permission it needs: add, change or review
    applies: Callable[[VideoRequest], bool]
    run: Callable[[VideoRequest, Any], Any]
    done: Any  # the message once done
    primary: bool = False


def _retry(job: VideoRequest, user: Any) -> VideoRequest:
    return retry_video_request(job, user=user)


def _cancel(job: VideoRequest, user: Any) -> bool:
    return cancel_video_request(job)


def _approve(job: VideoRequest, user: Any) -> VideoRequest:
    return review.approve(job, by=user)


def _reject(job: VideoRequest, user: Any) -> VideoRequest:
    return review.reject(job, by=user)


def _feature(job: VideoRequest, user: Any) -> VideoRequest:
    return review.feature(job, by=user)


def _reviewable(job: VideoRequest, decision: str) -> bool:
    return job.status == Status.SUCCEEDED and job.review_status != decision


ACTIONS: dict[str, Action] = {
    action.name: action for action in (
        Action("retry", _("Retry"), "add", lambda job: job.is_final, _retry,
               _("A new request with the same inputs was queued.")),
        Action("cancel", _("Cancel"), "change", lambda job: not job.is_final, _cancel,
               _("The request was canceled.")),
        Action("approve", _("Approve"), "review",
               lambda job: _reviewable(job, ReviewStatus.APPROVED), _approve,
               _("The clip was approved."), primary=True),
        Action("reject", _("Reject"), "review",
               lambda job: _reviewable(job, ReviewStatus.REJECTED), _reject,
               _("The clip was rejected.")),
        Action("feature", _("Feature"), "review",
               lambda job: job.review_status == ReviewStatus.APPROVED and not job.featured,
               _feature, _("This clip is now the one its image shows."), primary=True),
    )
}


def available_actions(user: Any, job: VideoRequest) -> list[Action]:
    """The actions ``user`` may run on ``job`` now, in the order of the table."""
    return [action for action in ACTIONS.values()
            if action.applies(job) and may_request(user, action.permission)
            and (action.name != "retry" or may_retry(user, job))]
