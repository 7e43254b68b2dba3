"""The ``CompletionTimes`` model: how long jobs of one kind took, as our checks saw it.

One row per provider, model, mode and duration, holding the last ``POLL_PLAN["WINDOW"]``
completion intervals (seconds after submission: the last "still running" answer and the
"done" one) and the check plan made from them (``flow.poll_plan``). Updated once per finished
job; read once per planned status call.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class CompletionTimes(models.Model):
    provider = models.CharField(_("provider"), max_length=40)
    model = models.CharField(_("model"), max_length=100)
    mode = models.CharField(_("mode"), max_length=3)
    duration = models.PositiveSmallIntegerField(_("duration"))
    #: ``[[after, before, submitted], ...]`` in order of submission (Unix time; rows from
    #: before it have none, and count as the oldest): each job ended after ``after`` and by
    #: ``before`` seconds from its submission.
    intervals = models.JSONField(_("completion intervals"), default=list)
    #: Check times in seconds after submission, made from ``intervals``; empty: not enough yet.
    plan = models.JSONField(_("check plan"), default=list)
    #: Jobs recorded since ``plan`` was made.
    stale = models.PositiveIntegerField(_("jobs since the plan"), default=0)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("completion times")
        verbose_name_plural = _("completion times")
        constraints = [models.UniqueConstraint(fields=["provider", "model", "mode", "duration"],
                                               name="django_kling_one_completion_row")]

    def __str__(self) -> str:
        return f"{self.provider} {self.model} {self.mode} {self.duration}s"
