"""Batches: one "Generate video" for thousands of objects, made into jobs in the background.

``start_batch`` checks the whole batch's estimated cost against the budget and stores the
batch with that cost reserved, in one transaction, before any job exists; then the
``kling_batch`` actor runs ``create_chunk`` until every object has its job. Each chunk is
claimed with a lease (one worker at a time), each job is created in its own transaction with
its place in the selection (``batch_index``, unique per batch), and the cursor moves after the
chunk: a worker killed mid-chunk leaves a lease that expires, and the chunk's rerun skips the
places that already have a job. So every object gets exactly one job, once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, connections, models, transaction
from django.db.models import Count, F, Q, Sum, Value
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone
from django.utils.translation import gettext as _

from ..conf import kling_settings
from ..exceptions import InvalidInput
from ..flow import batch_queue
from ..jobs import (
    cancel_video_request,
    check_budget,
    create_video_request,
    estimate_cost,
    retry_video_request,
)
from ..models import Status, VideoBatch, VideoBatchItem, VideoRequest
from ..options.generation import GenerationOptions
from ..video_presets import FieldFormatter, VideoPreset, fill_shots, template_fields

logger = logging.getLogger("django_kling.editorial.batches")
#: The code ``create_video_request`` refuses a canceled batch's job with.
BATCH_CANCELED = "batch_canceled"
#: The code of an object the batch's creator may not use (``register_permission_rule``).
NOT_PERMITTED = "not_permitted"
#: Selection rows written per INSERT when a batch starts.
ITEMS_PER_INSERT = 2000
#: Threads that make a chunk's jobs side by side.
THREADS = 4
#: The options a batch passes to every job (``create_video_request``'s keywords), and the
#: preset's pk and prompt template (filled in per object; see ``preset_options``).
OPTION_NAMES = ("prompt", "negative_prompt", "duration", "aspect_ratio", "mode", "sound",
                "model", "provider", "language", "spoken_line", "speaker", "preset",
                "prompt_template", "shots")


def preset_options(preset: VideoPreset, *, language: str = "",
                   overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """A batch's options from ``preset``: its values in ``language``, replaced by the
    ``overrides`` that are set. A batch makes one clip per object, so the preset's first
    format is used unless ``overrides`` name an aspect ratio; its prompt and spoken line keep
    their ``{field}`` placeholders, filled for each object when its job is made."""
    options: dict[str, Any] = {
        "negative_prompt": preset.negative_prompt, "duration": preset.duration,
        "aspect_ratio": preset.format_list()[0], "mode": preset.mode, "sound": preset.sound,
        "model": preset.model or None, "language": language,
        "spoken_line": preset.spoken_line(language), "speaker": preset.speaker,
        "preset": preset.pk, "prompt_template": preset.prompt_template,
        "shots": list(preset.shots or ()),
    }
    options.update({k: v for k, v in (overrides or {}).items() if v not in (None, "")})
    return options


#: A rule deciding which objects a batch's creator may make clips from, checked for each
#: chunk: called with the creator (None if deleted), the rest of the rule's spec, and the
#: chunk's objects; returns those allowed. Registered by the screens that start batches.
PermissionRule = Callable[[Any, str, list[models.Model]], list[models.Model]]
_permission_rules: dict[str, PermissionRule] = {}


def register_permission_rule(name: str, rule: PermissionRule) -> None:
    """Make ``rule`` usable as ``permission_rule="name:spec"`` of ``start_batch`` (the admin
    registers ``"admin"``, whose spec is the site's name and the permission asked)."""
    _permission_rules[name] = rule


def _permitted(batch: VideoBatch, objects: list[models.Model]) -> set[int]:
    """The ``id()`` of the objects the batch's creator may use, by its rule (none when the
    rule is unknown in this process: refused rather than made unchecked)."""
    name, _sep, spec = batch.permission_rule.partition(":")
    rule = _permission_rules.get(name)
    if rule is None:
        logger.error("batch %s: no permission rule %r here; its objects are refused",
                     batch.pk, name)
        return set()
    user = batch.created_by if batch.created_by_id is not None else None
    return {id(obj) for obj in rule(user, spec, objects)}


def check_size(count: int) -> None:
    """Refuse a batch of ``count`` objects over ``BATCH_MAX_OBJECTS`` (``batch_too_large``)."""
    limit = kling_settings.BATCH_MAX_OBJECTS
    if limit is not None and count > limit:
        raise InvalidInput(
            _("A batch takes at most %(limit)s objects; %(count)s were selected. Narrow the "
              "selection (a filter) and start several batches.")
            % {"limit": limit, "count": count},
            code="batch_too_large", field="__all__",
            params={"limit": str(limit), "count": str(count)})


def start_batch(model: type[models.Model], object_ids: Sequence[Any], *, field_name: str,
                options: dict[str, Any], user: Any = None, prompt_field: str = "",
                selection: str = "", permission_rule: str = "") -> VideoBatch:
    """Store a batch for ``object_ids`` and start making its jobs; raises ``BudgetExceeded``
    (nothing stored) when its estimated cost does not fit the budget, and ``InvalidInput``
    ``batch_too_large`` over ``BATCH_MAX_OBJECTS``.

    ``permission_rule`` (``"name:spec"``, see ``register_permission_rule``) has every chunk
    check its objects for ``user``: those refused get no job (``not_permitted``). Empty: no
    check (a shell's ``kling_generate --all``)."""
    unknown = set(options) - set(OPTION_NAMES)
    if unknown:
        raise ValueError(f"unknown batch options: {', '.join(sorted(unknown))}")
    check_size(len(object_ids))
    defaults = kling_settings.DEFAULTS
    per_clip = estimate_cost(
        duration=int(options.get("duration") or defaults["duration"]),
        mode=options.get("mode") or defaults["mode"],
        sound=bool(defaults["sound"] if options.get("sound") is None else options["sound"]),
        model=options.get("model") or "")
    total = per_clip * len(object_ids)
    with transaction.atomic():
        check_budget(total)
        batch = VideoBatch.objects.create(
            created_by=user if getattr(user, "is_authenticated", False) else None,
            content_type=ContentType.objects.get_for_model(model), field_name=field_name,
            size=len(object_ids), options=options,
            prompt_field=prompt_field or "", selection=selection[:500],
            permission_rule=permission_rule, estimated_cost=total, pending_cost=total)
        _store_selection(batch, object_ids)
        transaction.on_commit(lambda: batch_queue.send(batch))
    return batch


def _store_selection(batch: VideoBatch, object_ids: Sequence[Any]) -> None:
    """One ``VideoBatchItem`` row per place, in the editor's request: PostgreSQL's COPY with
    psycopg 3 (100,000 rows in about a second), else INSERTs of a slice at a time (never
    100,000 model instances in memory)."""
    connection = transaction.get_connection()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            raw = getattr(cursor, "cursor", None)
            if hasattr(raw, "copy"):  # psycopg 3 (psycopg2 has no COPY of rows)
                opts = VideoBatchItem._meta
                columns = ", ".join(connection.ops.quote_name(opts.get_field(name).column)
                                    for name in ("batch", "index", "object_id", "error_code",
                                                 "error_message"))
                table = connection.ops.quote_name(opts.db_table)
                with raw.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    for index, pk in enumerate(object_ids):
                        copy.write_row((batch.pk, index, str(pk), "", ""))
                return
    for start in range(0, len(object_ids), ITEMS_PER_INSERT):
        VideoBatchItem.objects.bulk_create(
            VideoBatchItem(batch=batch, index=start + offset, object_id=str(pk))
            for offset, pk in enumerate(object_ids[start:start + ITEMS_PER_INSERT]))


def _claim(pk: Any) -> bool:
    # A worker holds a chunk for SCHEDULER["LEASE"] seconds; after that another may take over.
    now = timezone.now()
    lease = timedelta(seconds=kling_settings.SCHEDULER["LEASE"])
    return bool(VideoBatch.objects.filter(
        Q(lease_until__isnull=True) | Q(lease_until__lt=now), pk=pk,
        status=VideoBatch.Status.CREATING).update(lease_until=now + lease))






def create_chunk(pk: Any) -> bool:
    """Make the jobs of the batch's next chunk; True when more chunks remain.

    Reads only the chunk's own places (``VideoBatchItem`` rows) and writes their refusals
    there: the queries and memory of a chunk do not grow with the batch."""
    if not _claim(pk):
        return False  # another worker has it, or it is finished or canceled
    batch = VideoBatch.objects.select_related("content_type").get(pk=pk)
    start = batch.next_index
    places = range(start, min(start + kling_settings.BATCH_CHUNK, batch.size))
    done = set(batch.jobs.filter(batch_index__in=list(places))
               .values_list("batch_index", flat=True))
    items = {item.index: item for item in batch.items.filter(
        index__gte=places.start, index__lt=places.stop, error_code="")
        if item.index not in done}
    todo = sorted(items)
    model = batch.content_type.model_class()
    found = model._default_manager.in_bulk([items[i].object_id for i in todo]) \
        if model is not None else {}
    objects = {str(pk): obj for pk, obj in found.items()}  # keyed like the items' object_id
    failures: dict[int, tuple[str, str]] = {}
    if batch.permission_rule:
        # Checked now, object by object, as a small selection is on its page: the editor's
        # rights may differ per object (and may have changed since the batch started).
        allowed = _permitted(batch, list(objects.values()))
        refusal = InvalidInput(_("Not permitted: the batch's creator may not make a clip for "
                                 "this object."), code="not_permitted")
        for index in todo:
            obj = objects.get(items[index].object_id)
            if obj is not None and id(obj) not in allowed:
                failures[index] = (refusal.code, refusal.message)
        todo = [index for index in todo if index not in failures]
    if transaction.get_connection().in_atomic_block:
        # Inside a transaction (a test's): other threads would not see its rows.
        failures.update(_create_lane(batch, todo, items, objects, own_connection=False))
    else:
        # A few threads: decoding pictures and waiting on the database release the GIL.
        lanes = [todo[lane::THREADS] for lane in range(THREADS)]
        with ThreadPoolExecutor(THREADS, thread_name_prefix="kling-batch") as pool:
            for refused in pool.map(lambda lane: _create_lane(batch, lane, items, objects),
                                    lanes):
                failures.update(refused)
    more = places.stop < batch.size
    fields: dict[str, Any] = {"next_index": places.stop, "lease_until": None,
                              "updated_at": timezone.now()}
    if failures:
        fields["refused"] = F("refused") + len(failures)
        denied = sum(code == NOT_PERMITTED for code, _message in failures.values())
        if denied:
            fields["not_permitted"] = F("not_permitted") + denied
        # The refused objects' share of the reservation is free at once (no job will pay it).
        share = batch.estimated_cost / batch.size * len(failures)
        fields["pending_cost"] = Greatest(F("pending_cost") - share, Value(Decimal("0")))
    if not more:
        fields.update(status=VideoBatch.Status.CREATED, pending_cost=Decimal("0"))
    with transaction.atomic():
        for index, (code, message) in failures.items():
            items[index].error_code, items[index].error_message = code, message
        VideoBatchItem.objects.bulk_update([items[i] for i in failures],
                                           ["error_code", "error_message"])
        VideoBatch.objects.filter(pk=pk, status=VideoBatch.Status.CREATING).update(**fields)
    return more


def _create_lane(batch: VideoBatch, places: list[int], items: dict[int, VideoBatchItem],
                 objects: dict[str, models.Model], *,
                 own_connection: bool = True) -> dict[int, tuple[str, str]]:
    """Make the jobs of these places, one after the other, in this thread; the refusals."""
    failures = {}
    try:
        for index in places:
            try:
                _create_one(batch, index, objects.get(items[index].object_id))
            except InvalidInput as error:
                if error.code == BATCH_CANCELED:
                    break  # Cancel was pressed: the rest of the chunk is not made
                failures[index] = (error.code, error.message)
            except Exception as error:  # noqa: BLE001  (one object must not stall the batch)
                # Logged in full for the developer; the page shows the type only (the text
                # may hold anything).
                logger.exception("batch %s: the job of place %s failed", batch.pk, index)
                failures[index] = _object_failed(error)
    finally:
        if own_connection:
            connections.close_all()  # the pool thread's own connection
    return failures


def _object_failed(error: Exception) -> tuple[str, str]:
    refusal = InvalidInput(_("The job could not be made (%(error)s); the details are in the "
                             "log.") % {"error": type(error).__name__},
                           code="batch_object_failed")
    return refusal.code, refusal.message


def _create_one(batch: VideoBatch, index: int, obj: models.Model | None) -> None:
    if obj is None:
        raise InvalidInput(_("The object no longer exists."), code="source_missing")
    options = dict(batch.options)
    preset_pk, template = options.pop("preset", None), options.pop("prompt_template", "")
    fill = FieldFormatter(template_fields(type(obj))).render
    if not options.get("prompt") and template:
        options["prompt"] = fill(template, obj)
    elif not options.get("prompt") and batch.prompt_field:
        value = getattr(obj, batch.prompt_field, "")
        options["prompt"] = " ".join(str(value() if callable(value) else value or "").split())
    if options.get("spoken_line"):
        options["spoken_line"] = fill(options["spoken_line"], obj)
    if options.get("shots"):  # their prompts' placeholders, as the prompt's
        options["shots"] = fill_shots(options["shots"], obj)
    # The preset only names where the clip came from: its values are in the batch's options.
    preset = VideoPreset.objects.filter(pk=preset_pk).first() if preset_pk else None
    try:
        create_video_request(source=obj, field_name=batch.field_name, user=batch.created_by,
                             batch=batch, batch_index=index, preset=preset,
                             options=GenerationOptions.from_mapping(options))
    except IntegrityError:  # another worker made this place's job meanwhile
        logger.info("batch %s: place %s already has its job", batch.pk, index)


def progress(batch: VideoBatch) -> dict[str, Any]:
    """Counts per job state, costs so far, and how far the creation is (one query)."""
    counts = {status: Count("pk", filter=Q(status=status)) for status in Status.values}
    row = batch.jobs.aggregate(
        **counts, estimated=Coalesce(Sum("estimated_cost"), Decimal("0")),
        reported=Coalesce(Sum("reported_cost"), Decimal("0")))
    return {"counts": {status: row[status] for status in Status.values},
            "jobs": sum(row[status] for status in Status.values),
            "total": batch.size, "created": batch.next_index,
            "refused": batch.refused, "not_permitted": batch.not_permitted,
            "estimated": row["estimated"],
            "reported": row["reported"]}


def cancel_rest(batch: VideoBatch) -> int:
    """Stop creating jobs and cancel those not yet started; how many were canceled."""
    VideoBatch.objects.filter(pk=batch.pk).exclude(status=VideoBatch.Status.CANCELED).update(
        status=VideoBatch.Status.CANCELED, pending_cost=Decimal("0"), updated_at=timezone.now())
    queued = batch.jobs.filter(status=Status.QUEUED)
    return sum(cancel_video_request(job) for job in queued)


def retry_failed(batch: VideoBatch, *, user: Any = None,
                 permitted: Callable[[VideoRequest], bool] | None = None) \
        -> tuple[list[VideoRequest], int]:
    """A new job for every failed or canceled job of the batch not retried yet, among those
    ``permitted`` allows (the screen's rule for retrying one request); the new jobs and how
    many were not permitted."""
    retried_sources = set(batch.jobs.filter(batch_index__isnull=True, status__in=[
        s for s in Status.values if s not in (Status.FAILED, Status.CANCELED)])
        .values_list("object_id", flat=True))
    ended = batch.jobs.filter(status__in=[Status.FAILED, Status.CANCELED]) \
        .exclude(object_id__in=retried_sources)
    seen: set[str] = set()
    retried = []
    denied = 0
    for job in ended.order_by("created_at"):
        if job.object_id not in seen:
            seen.add(job.object_id)
            if permitted is not None and not permitted(job):
                denied += 1
                continue
            retried.append(retry_video_request(job, user=user))
    return retried, denied
