"""The public write API: create, retry and cancel jobs, and what they cost.

The admin, the management commands and host code all go through these functions.
``create_video_request`` checks every input first (nothing is stored or sent if any input is
wrong), stores the prepared images as Assets, creates the ``VideoRequest`` and queues it only once
the transaction commits, so a worker can never look for a row that does not exist yet.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import IO, Any

from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import FieldDoesNotExist, ObjectDoesNotExist
from django.core.files.base import ContentFile
from django.db import models, transaction
from django.db.models import F, Q, Sum, Value
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone
from django.utils.translation import gettext as _

from .conf import kling_settings
from .exceptions import BudgetExceeded, InvalidInput, InvalidTransition
from .files import frames, images
from .flow import admission, dispatch, fallback, locks
from .models import Asset, AssetKind, Status, VideoBatch, VideoRequest
from .options import shots as shot_options
from .options.generation import GenerationOptions
from .options.routes import Wanted, validate_model
from .providers import provider_class
from .request_shots import link_shots
from .signals import video_requested
from .voices import Voice, link_voices, voice_providers

ImageSource = bytes | IO[bytes] | str


def estimate_cost(*, duration: int, mode: str, sound: bool, model: str = "",
                  voice: bool = False) -> Decimal:
    """Estimated price of one clip, from ``DJANGO_KLING['PRICES']`` (by model, mode, sound;
    ``voice``: with a chosen voice, its documented price)."""
    return (kling_settings.price_per_second(mode, sound, model, voice) * duration).quantize(
        Decimal("0.001"))


def chosen_voices(pks: tuple[int, ...]) -> list[Voice]:
    """The ``Voice`` rows of ``pks``, in that order; raises ``InvalidInput`` for an unknown one."""
    found = Voice.objects.in_bulk(pks)
    missing = [pk for pk in pks if pk not in found]
    if missing:
        raise InvalidInput(_("There is no voice %(value)s.") % {"value": missing[0]},
                           code="voice_invalid", field="voices")
    return [found[pk] for pk in pks]


#: Error codes of jobs the provider reported as failed or cancelled after accepting them:
#: Kling bills no failed task.
PROVIDER_FAILED_CODES = frozenset({"generation_failed", "provider_cancelled"})
#: Error codes of calls the provider refused, or that never reached it: nothing was started.
REFUSED_AT_START_CODES = frozenset({
    "provider_invalid_request", "provider_auth", "provider_forbidden",
    "provider_model_not_found", "provider_not_found", "provider_failed_dependency",
    "provider_rate_limited",
    "provider_server_error", "provider_error", "provider_unreachable", "provider_no_credentials",
    "provider_prompt_required",
})
BUDGET_LOCK = "budget"


def billed() -> Q:
    """The requests that count against the budget.

    Every request in flight or finished counts, and so does every failed or canceled one
    that reached the provider (providers have no cancel call, and a clip that failed our
    checks was still paid for), unless the provider said it did not run it. A cost the
    provider reported always counts.
    """
    ended = Q(status__in=[Status.FAILED, Status.CANCELED])
    sent = (Q(submit_attempts__gt=0) | Q(operation__isnull=False)
            | Q(submitted_at__isnull=False))
    not_run = Q(status=Status.FAILED) & (
        Q(error_code__in=PROVIDER_FAILED_CODES)
        | Q(operation__isnull=True, error_code__in=REFUSED_AT_START_CODES))
    return ~ended | (sent & ~not_run) | Q(reported_cost__gt=0)


def spent_since(since: Any) -> Decimal:
    """Money spent or committed by requests created since ``since`` (reported cost first),
    and the cost reserved by batches for the jobs they have yet to create.

    A reservation counts in every period whatever day its batch started: its jobs are made
    (and paid) now, so a batch started at 23:59 must not escape tomorrow's limit."""
    spent = VideoRequest.objects.filter(billed(), created_at__gte=since).aggregate(
        total=Sum(Coalesce("reported_cost", "estimated_cost")))["total"] or Decimal("0")
    reserved = VideoBatch.objects.filter(status=VideoBatch.Status.CREATING).aggregate(
        total=Sum("pending_cost"))["total"] or Decimal("0")
    return spent + reserved


def check_budget(extra: Decimal, *, lock: bool = True) -> None:
    """Refuse ``extra`` if it would take today's or this month's spending over ``BUDGET``.

    With ``lock`` (the default) the check takes the budget lock, which is held until the
    current transaction ends: call it inside ``transaction.atomic()`` right before the insert
    it guards, so concurrent requests are checked one after the other. ``lock=False`` is a
    cheap early refusal before any file is stored. See ``billed()`` for what counts.
    """
    budget = kling_settings.BUDGET
    now = timezone.localtime()
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    periods = (("per_day", day_start, _("today")),
               ("per_month", day_start.replace(day=1), _("this month")))
    limited = [(key, since, label) for key, since, label in periods
               if budget.get(key) not in (None, "")]
    if not limited:
        return
    if lock:
        locks.hold(BUDGET_LOCK)
    for key, since, label in limited:
        limit = budget[key]
        spent = spent_since(since)
        if spent + extra > Decimal(str(limit)):
            raise BudgetExceeded(
                _("The budget of %(limit)s %(currency)s for %(period)s is reached: "
                  "%(spent)s spent or in flight, this request would add %(extra)s.")
                % {"limit": limit, "currency": kling_settings.CURRENCY, "period": label,
                   "spent": spent, "extra": extra},
                field="__all__",
                params={"limit": str(limit), "spent": str(spent), "extra": str(extra)},
            )


def image_field_names(model: type[models.Model]) -> list[str]:
    return [f.name for f in model._meta.get_fields() if isinstance(f, models.ImageField)]


def resolve_source(spec: str) -> tuple[models.Model, str]:
    """``app_label.Model:pk[:field]`` -> (object, image field name)."""
    label, _sep, rest = spec.partition(":")
    pk, _sep, field_name = rest.partition(":")
    if not pk:
        raise InvalidInput(_("Write the object as app_label.Model:pk[:field]."),
                           code="source_invalid", field="image")
    try:
        model = apps.get_model(label)
    except (LookupError, ValueError):
        raise InvalidInput(_("Unknown model %(model)s.") % {"model": label},
                           code="source_invalid", field="image") from None
    try:
        obj = model._default_manager.get(pk=pk)
    except (ObjectDoesNotExist, ValueError):
        raise InvalidInput(_("There is no %(model)s with id %(pk)s.") % {"model": label, "pk": pk},
                           code="source_missing", field="image") from None
    if not field_name:
        names = image_field_names(model)
        if not names:
            raise InvalidInput(_("%(model)s has no image field.") % {"model": label},
                               code="source_invalid", field="image")
        field_name = names[0]
    try:
        model._meta.get_field(field_name)
    except FieldDoesNotExist:
        raise InvalidInput(_("%(model)s has no field %(field)s.")
                           % {"model": label, "field": field_name},
                           code="source_invalid", field="image") from None
    return obj, field_name


@contextmanager
def open_source_image(obj: models.Model, field_name: str) -> Iterator[IO[bytes]]:
    """The object's image file, open for reading; ``prepare_image`` streams it (a 250 MB
    upload is refused by its size, never read into memory whole)."""
    fieldfile = getattr(obj, field_name)
    if not fieldfile:
        raise InvalidInput(_("%(object)s has no image in %(field)s.")
                           % {"object": obj, "field": field_name},
                           code="image_empty", field="image")
    try:
        fh = fieldfile.open("rb")
    except OSError as error:  # gone from the storage, or not readable
        raise InvalidInput(_("The image file of %(object)s could not be opened (%(error)s).")
                           % {"object": obj, "error": type(error).__name__},
                           code="image_unreadable", field="image") from error
    with fh:
        yield fh


def create_video_request(
    image: ImageSource | None = None,
    *,
    source: models.Model | None = None,
    field_name: str = "",
    last_frame: ImageSource | None = None,
    options: GenerationOptions | None = None,
    user: Any = None,
    preset: Any = None,
    batch: VideoBatch | None = None,
    batch_index: int | None = None,
    **fields: Any,
) -> VideoRequest:
    """Check the inputs, store the frames and queue a job. Raises ``InvalidInput``.

    The generation options are ``options`` (a ``GenerationOptions``, checked when it was made);
    keyword ``fields`` of the same names (``prompt=``, ``duration=``...) make one, or replace
    those of ``options``.

    A job of a ``batch`` (at ``batch_index`` of its selection) is paid from the batch's
    reservation, which the budget already checked, instead of being checked on its own.

    ``image`` may be omitted when ``source`` and ``field_name`` name an image field. ``model``
    is one of the ``MODELS`` setting (default: the provider's ``MODEL`` option); what it can do
    is checked here, before anything is paid for (no sound on the v2.5 turbo).

    ``spoken_line`` (in ``language``, ``"en"`` or ``"zh"``, said by ``speaker``) is put into the
    prompt as Kling expects dialogue (see ``speech``); the composed prompt must fit the limit.
    ``variants`` (1-4) makes that many requests, sharing a ``variant_group``; they differ by
    the model's own randomness (Kling takes no seed: ``seed`` is kept on the rows, not sent);
    the budget is checked for all of them at once and the first is returned (``variants_of(job)``
    gives the group).
    """
    if options is None:
        options = GenerationOptions(**fields)
    elif fields:
        options = options.replace(**fields)
    duration, aspect_ratio, mode = options.duration, options.aspect_ratio, options.mode
    sound, language, count, seed = options.sound, options.language, options.variants, options.seed
    prompt, negative_prompt = options.composed_prompt, options.negative_prompt
    provider, model = options.provider, options.model
    # Provider options stay in _model_and_protocol (they hold the API key).
    default_model = _model_and_protocol(provider)[0] if provider else fallback.default_model()
    model = validate_model(model or default_model, allowed=kling_settings.MODELS, sound=sound,
                           shots=len(options.shots))
    voices = chosen_voices(options.voices)
    wanted = Wanted(duration=duration, mode=mode, sound=sound, last_frame=last_frame is not None,
                    language=language, voices=len(voices), voice_providers=voice_providers(voices),
                    **shot_options.wanted_of(options.shots))
    if provider:
        skipped: list[dict[str, Any]] = []
        refusal = fallback.cannot_do(provider, wanted, model)
    else:
        provider, skipped = fallback.first_provider(wanted, model)
        # No provider can: the most telling reason is the combination's, when it is one.
        refusal = None if provider is not None else next(
            (s for s in skipped if s["code"] != "provider_unsupported_feature"), skipped[-1])
    if refusal is not None:
        raise InvalidInput(refusal["reason"], code=refusal["code"],
                           field=refusal.get("field") or "__all__")
    protocol = _model_and_protocol(provider)[1]
    if image is None:
        if source is None or not field_name:
            raise InvalidInput(_("Give an image or an object with an image field."),
                               code="image_empty", field="image")
        with open_source_image(source, field_name) as fh:
            first = images.prepare_image(fh, field="image", aspect_ratio=aspect_ratio)
    else:
        first = images.prepare_image(image, field="image", aspect_ratio=aspect_ratio)
    last = (images.prepare_image(last_frame, field="last_frame", aspect_ratio=aspect_ratio)
            if last_frame is not None else None)
    link: dict[str, Any] = {}
    if source is not None:
        link = {"content_type": ContentType.objects.get_for_model(source),
                "object_id": str(source.pk), "field_name": field_name}
    cost = estimate_cost(duration=duration, mode=mode, sound=sound, model=model,
                         voice=bool(voices))
    if batch is not None and count > 1:
        raise InvalidInput(_("A batch makes one clip per object; variants are made one object "
                             "at a time."), code="variants_in_batch", field="variants")
    if batch is None:
        check_budget(cost * count, lock=False)  # refuse early, before any file is stored
    group = uuid.uuid4() if count > 1 else None
    stored: list[Asset] = []
    try:
        with transaction.atomic():
            first_asset = _store_image(first, AssetKind.SOURCE_IMAGE, link, stored)
            last_asset = (_store_image(last, AssetKind.LAST_FRAME, link, stored)
                          if last is not None else None)
            if batch is None:
                # Again under the lock, with the inserts in the same transaction: every
                # variant counts.
                check_budget(cost * count)
            elif not VideoBatch.objects.filter(
                    pk=batch.pk, status=VideoBatch.Status.CREATING).update(
                    pending_cost=Greatest(F("pending_cost") - cost, Value(Decimal("0")))):
                # Canceled (its reservation released): no job more. The update locks the
                # batch's row, so a Cancel either waits for this job (and cancels it) or
                # comes first and is seen here.
                raise InvalidInput(_("The batch was canceled; no more of its jobs are made."),
                                   code="batch_canceled", field="__all__")
            jobs = [VideoRequest.objects.create(
                batch=batch, batch_index=batch_index,
                created_by=user if getattr(user, "is_authenticated", False) else None,
                first_frame=first_asset, last_frame=last_asset, prompt=prompt,
                negative_prompt=negative_prompt, duration=duration, aspect_ratio=aspect_ratio,
                mode=mode, generate_audio=sound, seed=seed, provider=provider,
                model=model, protocol=protocol, language=language, variant_group=group,
                preset=preset, estimated_cost=cost, provider_attempts=skipped,
                warnings=[{"type": "fixed", "message": fix}
                          for fix in (*first.fixes, *(last.fixes if last else ()))],
                enqueued_at=timezone.now(), next_check_at=timezone.now(), **link,
            ) for _variant in range(count)]
            link_voices(jobs, voices)
            link_shots(jobs, options.shots)
            for job in jobs:
                transaction.on_commit(lambda job=job: enqueue(job))
    except BaseException:
        for asset in stored:
            frames.delete_encoded(asset.file.storage, asset.file.name)
            asset.file.delete(save=False)
        raise
    return jobs[0]


def variants_of(job: VideoRequest) -> models.QuerySet[VideoRequest]:
    """The requests made together with ``job`` (itself included), oldest first."""
    if job.variant_group is None:
        return VideoRequest.objects.filter(pk=job.pk)
    return VideoRequest.objects.filter(variant_group=job.variant_group).order_by("created_at",
                                                                               "pk")


def _model_and_protocol(provider: str) -> tuple[str, str]:
    # The options hold the API key: kept out of create_video_request's locals, which error
    # reports show.
    provider_options = kling_settings.provider_options(provider)
    return (provider_class(provider).default_model(provider_options),
            str(provider_options.get("PROTOCOL", "")))


def enqueue(job: VideoRequest) -> None:
    """Send a new job on its way: at once, or through admission when its provider is capped."""
    if admission.limit(job.provider) is None:
        dispatch.send("submit", job.pk)
    else:
        admission.admit(job.provider)
    video_requested.send(sender=VideoRequest, request=job)


def _store_image(prepared: images.PreparedImage, kind: str, link: dict[str, Any],
                 stored: list[Asset]) -> Asset:
    asset = Asset(kind=kind, mime=prepared.media_type, size=len(prepared.data),
                  sha256=hashlib.sha256(prepared.data).hexdigest(), width=prepared.width,
                  height=prepared.height, **link)
    asset.file.save(f"{kind}{prepared.extension}", ContentFile(prepared.data), save=False)
    stored.append(asset)
    # Encoded once, here, for providers that take it inline (never per try or per provider).
    frames.store_encoded(asset.file.storage, asset.file.name, prepared.data)
    asset.save()
    return asset


def retry_video_request(job: VideoRequest, *, user: Any = None) -> VideoRequest:
    """A new job with the same inputs (stored frames reused); the old one stays as it was."""
    if not job.is_final:
        raise InvalidInput(_("Only a finished request can be retried."), code="retry_not_final")
    cost = estimate_cost(duration=job.duration, mode=job.mode, sound=job.generate_audio,
                         model=job.model)
    with transaction.atomic():
        check_budget(cost)
        retried = VideoRequest.objects.create(
            created_by=user if getattr(user, "is_authenticated", False) else job.created_by,
            content_type_id=job.content_type_id, object_id=job.object_id,
            field_name=job.field_name, first_frame_id=job.first_frame_id,
            last_frame_id=job.last_frame_id, prompt=job.prompt,
            negative_prompt=job.negative_prompt, duration=job.duration,
            aspect_ratio=job.aspect_ratio, mode=job.mode, generate_audio=job.generate_audio,
            seed=job.seed, provider=job.provider, model=job.model, protocol=job.protocol,
            language=job.language, preset_id=job.preset_id, estimated_cost=cost,
            enqueued_at=timezone.now(), next_check_at=timezone.now(),
            batch_id=job.batch_id,  # shown with its batch; no place: the original keeps it
        )
        transaction.on_commit(lambda: enqueue(retried))
    return retried


def cancel_video_request(job: VideoRequest) -> bool:
    """Cancel a job that has not ended; True if it was canceled by this call.

    A job already running at the provider keeps running there (providers have no cancel
    call); its result is simply never fetched.
    """
    try:
        VideoRequest.objects.transition(job, Status.CANCELED, next_check_at=None)
    except InvalidTransition:
        return False
    return True
