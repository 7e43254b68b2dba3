"""The job's conditional UPDATE compiled once per connection, not once per write.

``VideoRequest.objects.transition()`` and ``update_fields()`` each write with one
``UPDATE … WHERE id = %s AND status IN (…)``. Through the ORM every call builds that statement
again (a queryset cloned, its filter resolved, the SQL and parameters compiled): about as much
CPU as the rest of a submit's move, on every submit and every poll. Here the ORM compiles the
statement the first time a (fields, states) shape is written on a connection; later writes of
that shape only prepare their values, each by its field (``get_db_prep_save``, as the ORM's
compiler does), and execute the kept SQL.

The ORM stays the reference: the first compile of a shape also checks that the parameters
prepared here are the ORM's own (same count, order and kinds), and a shape whose values are
expressions, model instances or fields with a placeholder of their own is never kept, so it
goes through the ORM every time.
"""

from __future__ import annotations

import datetime
import decimal
import uuid
import weakref
from collections.abc import Iterable
from typing import Any

from django.db import connections, transaction
from django.db.models import Model, QuerySet
from django.db.models.sql import UpdateQuery

#: Per connection (connections are per thread): shape -> (sql, keeps_none) or None (ORM).
_SHAPES: weakref.WeakKeyDictionary[Any, dict[tuple, tuple[str, bool] | None]] = (
    weakref.WeakKeyDictionary())
_PLAIN = (str, int, float, decimal.Decimal, uuid.UUID, datetime.datetime, datetime.date,
          bytes, type(None))


def update(queryset: QuerySet, pk: Any, states: Iterable[str], fields: dict[str, Any]) -> int:
    """``queryset.filter(pk=pk, status__in=states).update(**fields)``: the rows written."""
    states = tuple(dict.fromkeys(states))  # as the ORM's IN does: first of each, in order
    if queryset.query.where or not states:  # a filtered queryset, or nothing may move
        return queryset.filter(pk=pk, status__in=states).update(**fields)
    connection = connections[queryset.db]
    shapes = _SHAPES.setdefault(connection, {})
    shape = (queryset.model, tuple(fields), tuple(v is None for v in fields.values()), states)
    if shape not in shapes:
        shapes[shape] = _compile(queryset, connection, pk, states, fields)
    kept = shapes[shape]
    if kept is None:
        return queryset.filter(pk=pk, status__in=states).update(**fields)
    sql, keeps_none = kept
    params = _params(queryset.model, connection, pk, states, fields, keeps_none)
    with transaction.mark_for_rollback_on_error(using=queryset.db), \
            connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def _params(model: type[Model], connection: Any, pk: Any, states: tuple[str, ...],
            fields: dict[str, Any], keeps_none: bool) -> list[Any]:
    meta = model._meta
    params = []
    for name, value in fields.items():
        if value is not None or keeps_none:
            params.append(meta.get_field(name).get_db_prep_save(value, connection=connection))
    params.append(meta.pk.get_db_prep_value(pk, connection, prepared=False))
    status = meta.get_field("status")
    params += [status.get_db_prep_value(state, connection, prepared=False) for state in states]
    return params


def _compile(queryset: QuerySet, connection: Any, pk: Any, states: tuple[str, ...],
             fields: dict[str, Any]) -> tuple[str, bool] | None:
    """The SQL of this shape and whether its NULLs are parameters, or None: not kept."""
    meta = queryset.model._meta
    for name, value in fields.items():
        field = meta.get_field(name)
        if (hasattr(value, "resolve_expression") or isinstance(value, Model)
                or getattr(field, "get_placeholder_sql", None) is not None
                or getattr(field, "get_placeholder", None) is not None
                or field.many_to_many or not field.concrete):
            return None
    query = queryset.filter(pk=pk, status__in=states).query.chain(UpdateQuery)
    query.add_update_values(fields)
    if query.related_updates:
        return None
    sql, orm_params = query.get_compiler(connection=connection).as_sql()
    for keeps_none in (True, False):
        mine = _params(queryset.model, connection, pk, states, fields, keeps_none)
        if len(mine) == len(orm_params) and all(map(_same, mine, orm_params)):
            return sql, keeps_none
    return None


def _same(mine: Any, theirs: Any) -> bool:
    if type(mine) is not type(theirs):
        return False
    if isinstance(mine, _PLAIN):
        return mine == theirs
    return repr(mine) == repr(theirs)  # adapters (a JSON wrapper): the same value inside
