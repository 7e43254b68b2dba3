"""Loading the objects that jobs and assets belong to, one query per model, not one per row.

A generic relation cannot be ``select_related``, and ``prefetch_related`` on it fails on rows
whose model was removed or whose id does not fit the model's primary key (``object_id`` is
text). This helper groups the rows of one page by content type, fetches each model's objects in
one query and fills the relation's cache, so reading ``row.<relation>`` afterwards is free.
Works the same on Django 4.2 and 5.x.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from django.contrib.admin.views.main import ChangeList
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models
from django.http import HttpRequest


def attach_sources(rows: Iterable[models.Model], relation: str = "source_object") -> None:
    """Fill the generic relation ``relation`` of every row with one query per content type."""
    rows = list(rows)
    if not rows:
        return
    gfk = rows[0]._meta.get_field(relation)
    assert isinstance(gfk, GenericForeignKey)
    wanted: dict[int, set[Any]] = defaultdict(set)
    for row in rows:
        ct_id = getattr(row, gfk.ct_field + "_id")
        if ct_id is not None:
            wanted[ct_id].add(getattr(row, gfk.fk_field))

    found: dict[tuple[int, str], models.Model] = {}
    for ct_id, ids in wanted.items():
        model = ContentType.objects.get_for_id(ct_id).model_class()
        if model is None:  # the model was removed from the project
            continue
        pks = _valid_pks(model, ids)
        if pks:
            for obj in model._base_manager.filter(pk__in=pks):
                found[(ct_id, str(obj.pk))] = obj

    for row in rows:
        ct_id = getattr(row, gfk.ct_field + "_id")
        obj = found.get((ct_id, str(getattr(row, gfk.fk_field)))) if ct_id else None
        # A cached None means "looked for, not there": reading the relation will not query.
        gfk.set_cached_value(row, obj)


def _valid_pks(model: type[models.Model], ids: Iterable[Any]) -> list[Any]:
    pks = []
    for value in ids:
        try:
            pks.append(model._meta.pk.to_python(value))
        except (ValidationError, TypeError, ValueError):
            continue
    return pks


class SourcesChangeList(ChangeList):
    """A changelist that loads the generic ``source_relation`` of a whole page in bulk."""

    source_relation = "source_object"

    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        self.result_list = list(self.result_list)
        attach_sources(self.result_list, self.source_relation)


class OwnersChangeList(SourcesChangeList):
    source_relation = "owner"
