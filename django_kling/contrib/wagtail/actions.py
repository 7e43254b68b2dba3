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

from ...jobs import cancel_video_request, retry_video_request
from ...models import VideoRequest
from .permissions import may_request


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


ACTIONS: dict[str, Action] = {
    action.name: action for action in (
        Action("retry", _("Retry"), "add", lambda job: job.is_final, _retry,
               _("A new request with the same inputs was queued.")),
        Action("cancel", _("Cancel"), "change", lambda job: not job.is_final, _cancel,
               _("The request was canceled.")),
    )
}


def available_actions(user: Any, job: VideoRequest) -> list[Action]:
    """The actions ``user`` may run on ``job`` now, in the order of the table."""
    return [action for action in ACTIONS.values()
            if action.applies(job) and may_request(user, action.permission)]
