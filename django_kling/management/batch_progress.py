"""``kling_generate --all``: which objects a batch takes, and its progress bar."""

from __future__ import annotations

import time
from typing import Any

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist, FieldError, ValidationError
from django.core.management.base import CommandError, OutputWrapper
from django.db import models
from django.utils.translation import gettext as _

from ..editorial.batches import progress
from ..exceptions import InvalidInput
from ..jobs import image_field_names
from ..models import FINAL, VideoBatch

BAR_WIDTH = 30


def select_objects(spec: str, filters: list[str]) -> tuple[models.QuerySet, str]:
    """``app_label.Model[:field]`` and ``field=value`` filters -> (queryset, image field)."""
    label, _sep, field_name = spec.partition(":")
    try:
        model = apps.get_model(label)
    except (LookupError, ValueError):
        raise InvalidInput(_("Unknown model %(model)s.") % {"model": label},
                           code="source_invalid", field="image") from None
    field_name = field_name or next(iter(image_field_names(model)), "")
    try:
        if not isinstance(model._meta.get_field(field_name), models.ImageField):
            raise FieldDoesNotExist
    except FieldDoesNotExist:
        raise InvalidInput(_("%(model)s has no image field %(field)s.")
                           % {"model": label, "field": field_name or "?"},
                           code="source_invalid", field="image") from None
    lookups = {}
    for item in filters:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise InvalidInput(_("Write each filter as field=value, not %(filter)s.")
                               % {"filter": item}, code="filter_invalid", field="filter")
        lookups[name] = value
    queryset = model._default_manager.filter(**{f"{field_name}__gt": ""}).order_by("pk")
    try:
        queryset = queryset.filter(**lookups)
        queryset.exists()
    except (FieldError, ValidationError, ValueError) as exc:
        raise InvalidInput(_("The filter does not apply to %(model)s: %(error)s")
                           % {"model": label, "error": exc}, code="filter_invalid",
                           field="filter") from None
    if not queryset.exists():
        raise CommandError(_("No %(model)s with an image matches.") % {"model": label})
    return queryset, field_name


def bar(done: int, total: int) -> str:
    filled = BAR_WIDTH * done // max(total, 1)
    return "[" + "#" * filled + "." * (BAR_WIDTH - filled) + "]"


def follow_batch(out: OutputWrapper, batch: VideoBatch, *, until_done: bool,
                 timeout: float) -> dict[str, Any]:
    """Print a progress line whenever it changes, until every job exists (or has ended)."""
    limit = time.monotonic() + timeout
    last = ""
    while True:
        batch.refresh_from_db()
        state = progress(batch)
        ended = sum(n for status, n in state["counts"].items() if status in FINAL)
        if until_done:
            done, text = ended, _("%(bar)s %(done)s/%(total)s jobs ended, %(refused)s refused")
        else:
            done = state["jobs"]
            text = _("%(bar)s %(done)s/%(total)s jobs created, %(refused)s refused")
        line = text % {"bar": bar(done + state["refused"], state["total"]), "done": done,
                       "total": state["total"], "refused": state["refused"]}
        if line != last:
            out.write(line)
            last = line
        created = batch.status != VideoBatch.Status.CREATING
        if created and (not until_done or ended >= state["jobs"]):
            return state
        if time.monotonic() > limit:
            raise CommandError(_("Still running after waiting; see the batch %(id)s in the admin")
                               % {"id": batch.pk})
        time.sleep(0.5)
