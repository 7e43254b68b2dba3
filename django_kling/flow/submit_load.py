"""The submit's one read, compiled once per connection: the job, both frames, whether it has
voices or shots and the provider's throttle, in one SELECT.

Through the ORM each submit built this statement again (a queryset with two joins and two
subqueries cloned, resolved and compiled, the model's converters looked up): as much CPU as the
row's round trip and the instances together. Here the ORM compiles it the first time on a
connection, with marker values where the job's pk and the time go; later loads put the real
values in those places and execute the kept SQL, and build the instances as the ORM's own
iterator does (``from_db`` for the job, each frame set on its foreign key). If the markers
cannot be found in the ORM's parameters (another backend's way of passing them), the load
goes through the ORM every time: slower, never different.

The throttle (``admission.limit``: a 429 lowered the provider's cap) rides along as a
subquery, so a submit no longer spends a statement asking whether one applies.
"""

from __future__ import annotations

import datetime
import logging
import uuid
import weakref
from typing import Any

from django.conf import settings
from django.db import connections
from django.db.models import Exists, OuterRef, QuerySet, Subquery
from django.utils import timezone

from ..models import Throttle, VideoRequest
from ..request_shots import RequestShot
from ..voices import RequestVoice

#: Marker values: no real job or clock has them.
_PK = uuid.UUID("00000000-6b6c-696e-6700-000000000027")
_NOW = datetime.datetime(2001, 2, 3, 4, 5, 6, 789012, tzinfo=datetime.timezone.utc)
logger = logging.getLogger("django_kling.flow.pipeline")  # part of the steps' story
#: Per connection (connections are per thread): the kept statement, or None (the ORM's).
_KEPT: weakref.WeakKeyDictionary[Any, _Statement | None] = weakref.WeakKeyDictionary()


def queryset(pk: Any, now: datetime.datetime) -> QuerySet:
    """The submit's load as the ORM writes it (``throttled``: the lowered cap, or None)."""
    lowered = Throttle.objects.filter(provider=OuterRef("provider"), until__gt=now)
    return (VideoRequest.objects.select_related("first_frame", "last_frame")
            .annotate(has_voices=Exists(RequestVoice.objects.filter(request=OuterRef("pk"))),
                      has_shots=Exists(RequestShot.objects.filter(request=OuterRef("pk"))),
                      throttled=Subquery(lowered.values("limit")[:1]))
            .filter(pk=pk).order_by())


def load(pk: Any) -> VideoRequest | None:
    """The job with its frames, ``has_voices``, ``has_shots`` and ``throttled`` set, or None if
    it is gone."""
    now = timezone.now()
    connection = connections[VideoRequest.objects.db]
    if connection not in _KEPT:
        _KEPT[connection] = _Statement.compile(connection)
    statement = _KEPT[connection]
    job = queryset(pk, now).first() if statement is None else statement.run(connection, pk, now)
    if job is None:
        logger.info("job %s no longer exists", pk)
    return job


class _Statement:
    def __init__(self, compiler: Any, sql: str, params: list[Any], pk_at: int,
                 now_at: int) -> None:
        self.compiler, self.sql, self.params = compiler, sql, params
        self.pk_at, self.now_at = pk_at, now_at
        select, info = compiler.select, compiler.klass_info
        self.converters = compiler.get_converters([column[0] for column in select])
        self.main = _Part(info, select)
        self.related = [(_Part(rel, select), rel["local_setter"], rel["remote_setter"])
                        for rel in info.get("related_klass_infos", [])]
        self.annotations = list(compiler.annotation_col_map.items())
        meta = VideoRequest._meta
        self.pk_field = meta.pk
        self.until_field = Throttle._meta.get_field("until")

    @classmethod
    def compile(cls, connection: Any) -> _Statement | None:
        marker_now = _NOW if settings.USE_TZ else _NOW.replace(tzinfo=None)
        compiler = queryset(_PK, marker_now).query.get_compiler(connection=connection)
        sql, params = compiler.as_sql()
        pk = VideoRequest._meta.pk.get_db_prep_value(_PK, connection, prepared=False)
        now = Throttle._meta.get_field("until").get_db_prep_value(marker_now, connection,
                                                                 prepared=False)
        places = [[i for i, value in enumerate(params) if type(value) is type(marker)
                   and value == marker] for marker in (pk, now)]
        if any(len(found) != 1 for found in places) or any(
                part.get("from_parent") for part in compiler.klass_info.get(
                    "related_klass_infos", [])):
            return None
        return cls(compiler, sql, list(params), places[0][0], places[1][0])

    def run(self, connection: Any, pk: Any, now: datetime.datetime) -> VideoRequest | None:
        params = list(self.params)
        params[self.pk_at] = self.pk_field.get_db_prep_value(pk, connection, prepared=False)
        params[self.now_at] = self.until_field.get_db_prep_value(now, connection,
                                                                 prepared=False)
        with connection.cursor() as cursor:
            cursor.execute(self.sql, params)
            row = cursor.fetchone()
        if row is None:
            return None
        if self.converters:
            row = next(iter(self.compiler.apply_converters([row], self.converters)))
        db = VideoRequest.objects.db
        job = self.main.build(db, row)
        for part, local_setter, remote_setter in self.related:
            frame = part.build(db, row)
            local_setter(job, frame)
            if frame is not None:
                remote_setter(frame, job)
        for name, at in self.annotations:
            setattr(job, name, row[at])
        return job


class _Part:
    """One model's columns of the row (the job's, or a frame's)."""

    def __init__(self, info: dict[str, Any], select: list[Any]) -> None:
        fields = info["select_fields"]
        self.start, self.end = fields[0], fields[-1] + 1
        self.names = [column[0].target.attname for column in select[self.start:self.end]]
        self.model = info["model"]
        self.pk_at = self.names.index(self.model._meta.pk.attname)

    def build(self, db: str, row: Any) -> Any:
        values = row[self.start:self.end]
        if values[self.pk_at] is None:  # no such row (a job without a last frame)
            return None
        return self.model.from_db(db, self.names, values)
