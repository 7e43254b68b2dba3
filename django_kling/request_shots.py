"""The shots of a multi-shot request (Kling v3.0; ``django_kling.options.shots``).

A small related model rather than a JSON column: ``models.py`` is full, the shots are an
ordered list of rows with a fixed shape (place, prompt, seconds) the database can constrain,
and a request without shots costs nothing: the submit's load knows there are none from an
``EXISTS`` in the same statement (``has_shots``, as voices do), so the many single-prompt
requests read no more rows than before.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _

from .options.shots import Shot


class RequestShot(models.Model):
    """One shot of a request, at its place (Kling's ``multi_prompt[].index``, from 1)."""

    request = models.ForeignKey("django_kling.VideoRequest", on_delete=models.CASCADE,
                                related_name="shots", verbose_name=_("request"))
    position = models.PositiveSmallIntegerField(_("shot"), default=1)
    prompt = models.TextField(_("prompt"))
    duration = models.PositiveSmallIntegerField(_("seconds"))

    class Meta:
        app_label = "django_kling"
        ordering = ["position"]
        verbose_name = _("shot")
        verbose_name_plural = _("shots")
        constraints = [models.UniqueConstraint(fields=["request", "position"],
                                               name="django_kling_one_shot_per_place")]

    def __str__(self) -> str:
        return f"{self.position}. {self.prompt[:40]} ({self.duration} s)"


def shots_of(job: Any) -> tuple[Shot, ...]:
    """The shots of a request, in order (none for a request without)."""
    if job.pk is None or getattr(job, "has_shots", None) is False:  # known from its load
        return ()
    return tuple(Shot(prompt, duration) for prompt, duration in RequestShot.objects.filter(
        request=job).order_by("position").values_list("prompt", "duration"))


def link_shots(jobs: Iterable[Any], shots: Iterable[Shot]) -> None:
    """Give each of ``jobs`` the ``shots``, in their order."""
    shots = list(shots)
    if shots:
        RequestShot.objects.bulk_create([
            RequestShot(request=job, position=place, prompt=shot.prompt, duration=shot.duration)
            for job in jobs for place, shot in enumerate(shots, start=1)])
