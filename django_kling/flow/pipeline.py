"""The job flow, one function per step: submit, poll, fetch (and deliver, shared by them).

Each step loads the job by primary key, does its one piece of work, moves the state through
``VideoRequest.objects.transition`` and answers with the ``Next`` step to schedule (or None
when the job has ended). Steps are idempotent: running one twice, or for a job another worker
already moved, does no harm, which is what makes at-least-once queues and ``kling_sync`` safe.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from ..conf import kling_settings
from ..exceptions import DownloadError, InvalidTransition, KlingError, MediaError, ProviderError
from ..files import media
from ..files.download import Downloaded, fetch_video
from ..models import FINAL, Asset, AssetKind, Status, VideoRequest
from ..providers import Started, VideoOutput, provider_class, shared_provider
from ..signals import video_failed, video_ready
from . import admission, callbacks, captioning, completions, fallback, polling, signing, staging
from .exchange import audio_warning, generation_input, report_fields, url_of
from .steps import Next
from .steps import elsewhere as _elsewhere
from .steps import load_job as _load
from .stored_clips import remux_downloaded
from .submit_load import load as _load_for_submit

logger = logging.getLogger("django_kling.flow.pipeline")
# The only two writers of a job's row (see models.py), under short names for the steps.
transition = VideoRequest.objects.transition
update_fields = VideoRequest.objects.update_fields


# -- submit ---------------------------------------------------------------------------------


def submit_step(pk: Any) -> Next | None:
    job = _load_for_submit(pk)  # with its frames, voices and the provider's throttle
    if job is None or job.status in FINAL:
        return None
    if job.status == Status.QUEUED and admission.limit(job.provider, job.throttled) is not None:
        admission.admit(job.provider)  # over a cap, jobs start in turn (admission decides)
        return None
    # Whether this try may be sent is decided on the row as loaded, so that the move to
    # submitting and the count of the try are one conditional UPDATE (not a lock, a read
    # and another write).
    refusal = _not_resent(job)
    attempts = job.submit_attempts + 1
    this_try = {} if refusal else dict(submit_attempts=attempts, error_code="", error_message="")
    if job.status == Status.QUEUED:
        try:
            job = transition(job, Status.SUBMITTING, expect=Status.QUEUED, **this_try)
        except InvalidTransition:
            return _redispatch(pk, "submit")
    elif job.status != Status.SUBMITTING:
        return _elsewhere(job, "submit")
    elif this_try and not update_fields(job, expect=Status.SUBMITTING, **this_try):
        return _redispatch(pk, "submit")

    if refusal == "running":
        # A worker died after saving the operation: the job already runs at the provider.
        return _mark_running(job, Started(operation=job.operation))
    if refusal == "stream_interrupted":
        # The last streaming call ended without a known, unbilled error (the worker died in
        # it): it may have been billed, so it is not sent again on our own.
        return fail(job, "stream_interrupted", _(
            "The worker stopped during the streaming call; it was not resent, so that the "
            "request is never paid twice. Retry it if no clip arrives."))
    if refusal == "submit_interrupted":
        # Same for a provider that cannot recognise a repeated create (no idempotency key).
        return fail(job, "submit_interrupted", _(
            "The worker stopped while the job was being sent to a provider that cannot "
            "recognise a repeated request; it was not resent, so that the request is never "
            "paid twice. Retry it if no clip arrives."))
    provider = shared_provider(job.provider)
    callback = callbacks.callback_url(job.pk) if job.protocol != "stream" else None
    try:
        generation = generation_input(job)
        if job.protocol == "stream":
            result = provider.generate(generation)
        else:
            started = provider.start(generation, idempotency_key=job.idempotency_key,
                                     callback_url=callback)
    except ProviderError as exc:
        if fallback.move_on(job, exc, attempts):
            logger.info("job %s: %s refused it (%s), next provider", pk, job.provider, exc.code)
            return Next("submit")
        return _retry_or_fail(job, exc, "submit", attempts)

    if job.protocol == "stream":
        try:
            job = transition(job, Status.FETCHING, expect=Status.SUBMITTING,
                             submitted_at=timezone.now(), **report_fields(job, result),
                             result_url=url_of(result.videos[0]))
        except InvalidTransition:
            return None
        return deliver(job, result.videos[0])
    if callback and started.signing_secret:
        callbacks.remember_secret(job.pk, started.signing_secret)
    return _mark_running(job, started, webhook=bool(callback and started.signing_secret))


def _not_resent(job: VideoRequest) -> str:
    """Why the job must not be sent (again) now, or "": it runs already ("running"), or its
    last call may have been billed and cannot be recognised if repeated."""
    if job.operation is not None:
        return "running"
    if job.submit_attempts and not job.error_code:
        if job.protocol == "stream":
            return "stream_interrupted"
        if "idempotency" not in provider_class(job.provider).FEATURES:
            return "submit_interrupted"
    return ""


def _mark_running(job: VideoRequest, started: Started, *, webhook: bool = False) -> Next | None:
    # The first status call waits for the time the job should take (longer with a webhook on
    # its way); the scheduler makes it (``scheduler``), no message is sent.
    delay = polling.first_check_delay(job, webhook=webhook, expected=started.expected_seconds)
    try:
        transition(job, Status.RUNNING, expect=Status.SUBMITTING, operation=started.operation,
                   operation_id=started.job_id
                   or shared_provider(job.provider).operation_id(started.operation),
                   submitted_at=job.submitted_at or timezone.now(), error_streak=0,
                   next_check_at=timezone.now() + timedelta(seconds=delay), claimed_until=None,
                   **report_fields(job, started))
    except IntegrityError:  # another job holds this provider task: its clip is not ours
        return fail(job, "provider_task_taken", _(
            "The provider answered with a task another request already holds; it was not "
            "taken over, so this request cannot show another's clip. Retry it."))
    except InvalidTransition:
        pass  # canceled (or moved on by another worker) meanwhile
    return None


# -- poll -----------------------------------------------------------------------------------


def poll_step(pk: Any, *, forced: bool = False) -> Next | None:
    """A webhook's nudge (``forced``) or a due ``kling_poll`` message, under the job's claim."""
    if not (claim := polling.claim_one(pk, due_only=not forced)):
        job = _load(pk)
        if forced and job is not None and job.status in (Status.RUNNING, Status.SUBMITTING):
            # Another worker is asking, or the webhook beat our own start's answer: repeat.
            return Next("poll_now", polling.nudge_delay(job))
        return _elsewhere(job, "poll") if job is not None and job.status not in FINAL else None
    with polling.released_on_error(pk, claim):  # an error: the message's retry may claim it
        return poll_claimed(job, forced=forced) if (job := _load(pk)) is not None else None


def poll_claimed(job: VideoRequest, *, forced: bool = False,
                 provider: Any = None) -> Next | None:
    """Ask ``provider`` (default: this thread's) once about a job this worker has claimed."""
    if job.status != Status.RUNNING:
        return _elsewhere(job, "poll")
    if job.submitted_at and timezone.now() > job.submitted_at + timedelta(
            seconds=kling_settings.DEADLINE):
        return fail(job, "deadline", _(
            "The provider did not finish within %(minutes)s minutes; the job was not "
            "resubmitted.") % {"minutes": round(kling_settings.DEADLINE / 60)})
    try:
        status = (provider or shared_provider(job.provider)).status(job.operation,
                                                                    model=job.model)
    except ProviderError as exc:
        return _retry_or_fail(job, exc, "poll", None)
    polls = job.poll_count + 1
    if status.state == "pending":
        now = timezone.now()
        if forced:  # an early nudge: the scheduled polls carry on as they were
            update_fields(job, expect=Status.RUNNING, poll_count=polls, claimed_until=None,
                          checked_at=now)
            return None
        delay = polling.after_pending(job, polls, now=now, expected=status.expected_seconds)
        update_fields(job, expect=Status.RUNNING, poll_count=polls, error_streak=0,
                      claimed_until=None, checked_at=now,
                      next_check_at=now + timedelta(seconds=delay))
        return None
    if status.state == "error":
        update_fields(job, expect=Status.RUNNING, poll_count=polls)
        return fail(job, "generation_failed", status.error)
    if status.state == "cancelled":
        update_fields(job, expect=Status.RUNNING, poll_count=polls)
        return fail(job, "provider_cancelled", status.error)
    if status.state == "expired":
        update_fields(job, expect=Status.RUNNING, poll_count=polls, **report_fields(job, status))
        return _expired(job, status.error)
    completions.record(job, timezone.now())
    try:
        job = transition(job, Status.FETCHING, expect=Status.RUNNING, poll_count=polls,
                         error_streak=0, result_url=url_of(status.videos[0]),
                         next_check_at=timezone.now(), claimed_until=None,
                         **report_fields(job, status))
    except InvalidTransition:
        return None
    if provider is not None and job.result_url:
        return Next("fetch")  # the scheduler's threads only ask; a fetch worker downloads
    return deliver(job, status.videos[0])


# -- fetch ----------------------------------------------------------------------------------


def fetch_step(pk: Any) -> Next | None:
    """Fetch again after a failed or interrupted delivery."""
    job = _load(pk)
    if job is None or job.status in FINAL:
        return None
    if job.status != Status.FETCHING:
        return _elsewhere(job, "fetch")
    if job.result_url or staging.has_clip(job):  # a stored clip is adopted (``deliver``)
        return deliver(job, VideoOutput(kind="url", url=job.result_url))
    if job.operation is None:
        return fail(job, "result_lost", _(
            "The clip was sent inline by a streaming call and the worker stopped before it was "
            "stored; it was not requested again, so that it is never paid twice."))
    try:
        status = shared_provider(job.provider).status(job.operation, model=job.model)
    except ProviderError as exc:
        return _retry_or_fail(job, exc, "fetch", job.fetch_attempts)
    if status.state == "expired":
        return _expired(job, status.error)
    if status.state != "completed":
        return fail(job, "result_lost", _("The provider no longer has the finished clip."))
    return deliver(job, status.videos[0])


def _expired(job: VideoRequest, explanation: str) -> None:
    return fail(job, "result_expired", _("%(explanation)s Retry the request to make the clip "
                                         "again.") % {"explanation": explanation})


def deliver(job: VideoRequest, video: VideoOutput) -> Next | None:
    """Download (or adopt, see ``staging``), check and store the clip and its poster; mark the
    job succeeded."""
    attempts = job.fetch_attempts + 1
    if not update_fields(job, expect=Status.FETCHING, fetch_attempts=attempts):
        return None
    try:
        downloaded = staging.adopt(job) or fetch_video(video)
    except DownloadError as exc:
        return _retry_or_fail(job, exc, "fetch", attempts)
    try:
        try:
            remux_downloaded(downloaded)
            info = media.probe(downloaded.path)  # no sound is a warning, not a failure
            poster = media.poster_jpeg(downloaded.path)
        except MediaError as exc:
            return _keep_unchecked(job, downloaded, exc, attempts)
        signed = signing.sign(job, downloaded, poster)  # a failure is a warning, never a loss
        try:
            return _store(job, signed.clip, info, signed.poster, attempts, signed.warnings)
        finally:
            signed.discard()
    finally:
        downloaded.discard()


def _source_link(job: VideoRequest) -> dict[str, Any]:
    # Fresh from the row: the source object may have been deleted (link cleared) meanwhile.
    return VideoRequest.objects.filter(pk=job.pk).values(
        "content_type_id", "object_id", "field_name").get()


def _store(job: VideoRequest, downloaded: Downloaded, info: media.ClipInfo,
           poster: tuple[bytes, int, int], attempts: int,
           warnings: list[dict[str, Any]]) -> Next | None:
    poster_bytes, poster_width, poster_height = poster
    fields = audio_warning(job, info.has_audio)
    if warnings:  # the signing's
        fields["warnings"] = [*fields.get("warnings", job.warnings), *warnings]
    stored: list[Asset] = []
    try:
        link = _source_link(job)
        clip = Asset(kind=AssetKind.VIDEO, mime="video/mp4", size=downloaded.size,
                     sha256=downloaded.sha256, width=info.width, height=info.height,
                     duration=info.duration, fps=info.fps, has_audio=info.has_audio, **link)
        cover = Asset(kind=AssetKind.POSTER, mime="image/jpeg", size=len(poster_bytes),
                      width=poster_width, height=poster_height, **link)
        stored += staging.write_clip(job, clip, downloaded)
        staging.write(job, cover, poster_bytes, "poster.jpg")
        stored.append(cover)
        captions = captioning.prepare(job, downloaded.path, info.duration)  # never raises
        stored += captions.stored
        with transaction.atomic():
            clip.save()
            cover.save()
            staging.settled(clip, cover)
            done = transition(job, Status.SUCCEEDED, expect=Status.FETCHING, video=clip,
                              poster=cover, error_code="", error_message="", error_streak=0,
                              next_check_at=None, **captioning.with_warning(fields, job, captions))
            captioning.save_prepared(done, captions)
            transaction.on_commit(lambda: video_ready.send(
                sender=VideoRequest, request=done, video=clip, poster=cover))
            transaction.on_commit(lambda: _ended(done))
    except InvalidTransition:
        staging.discard(stored)  # canceled (or finished by another worker) meanwhile
        return None
    except Exception as exc:  # storage or database trouble: keep the job, try again later
        staging.discard(stored)
        return _storage_failed(job, exc, attempts)
    logger.info("job %s succeeded: %s bytes, %.2fs", job.pk, info.size, info.duration)
    return None


def _keep_unchecked(job: VideoRequest, downloaded: Downloaded, exc: MediaError,
                    attempts: int) -> Next | None:
    """Store a clip that failed its checks on the request, then fail the job with the reason.

    The provider has billed for it; whatever is wrong with it (or with our video library), an
    editor can still look at the file, and nobody pays for it again.
    """
    stored: list[Asset] = []
    try:
        clip = Asset(kind=AssetKind.VIDEO, mime="video/mp4", size=downloaded.size,
                     sha256=downloaded.sha256, **_source_link(job))
        stored += staging.write_clip(job, clip, downloaded)
        with transaction.atomic():
            clip.save()
            staging.settled(clip)
            _mark_failed(job, exc.code,
                         _("%(reason)s The downloaded file is kept on this request.")
                         % {"reason": exc.message},
                         expect=Status.FETCHING, video=clip)
    except InvalidTransition:
        staging.discard(stored)  # canceled (or finished by another worker) meanwhile
    except Exception as error:  # noqa: BLE001  (storage or database: keep the job, retry)
        staging.discard(stored)
        return _storage_failed(job, error, attempts)
    return None


def _storage_failed(job: VideoRequest, exc: Exception, attempts: int) -> Next | None:
    logger.warning("storing the clip of job %s failed: %s", job.pk, type(exc).__name__)
    error = DownloadError(_("Storing the clip failed (%(error)s).")
                          % {"error": type(exc).__name__},
                          code="storage_failed", retryable=True)
    return _retry_or_fail(job, error, "fetch", attempts)


# -- endings and retries ----------------------------------------------------------------------


def fail(job: VideoRequest, code: str, message: str, **fields: Any) -> None:
    """End the job as failed with a reason an editor can read (no-op if it already ended)."""
    with contextlib.suppress(InvalidTransition):
        _mark_failed(job, code, message, **fields)
    return None


def _mark_failed(job: VideoRequest, code: str, message: str, **fields: Any) -> VideoRequest:
    """``fail`` that raises ``InvalidTransition`` when the job cannot fail (any more)."""
    failed = transition(job, Status.FAILED, error_code=code, error_message=message[:2000],
                        next_check_at=None, claimed_until=None, **fields)
    transaction.on_commit(lambda: video_failed.send(
        sender=VideoRequest, request=failed, code=code, message=message))
    transaction.on_commit(lambda: _ended(failed))
    logger.info("job %s failed: %s", job.pk, code)
    return failed


def _ended(job: VideoRequest) -> None:
    if job.operation is not None and kling_settings.WEBHOOK_URL:
        callbacks.forget_secret(job.pk)


def _retry_or_fail(job: VideoRequest, exc: KlingError, step: str,
                   attempts: int | None) -> Next | None:
    """Schedule the step again for a transient error, or fail the job with its reason.
    ``attempts`` bounds submits and fetches; polls are bounded by the deadline instead."""
    exhausted = attempts is not None and attempts >= kling_settings.MAX_ATTEMPTS
    # The provider's id of the failed call: what its support asks for.
    support = {"generation_id": exc.generation_id} if getattr(exc, "generation_id", "") else {}
    if not exc.retryable or exhausted:
        return fail(job, exc.code, exc.message, **support)
    if exc.code == "provider_rate_limited":
        admission.throttle(job.provider)
    streak = job.error_streak + 1
    delay = getattr(exc, "retry_after", None)
    delay = polling.pending_delay(streak, webhook=False) if delay is None \
        else min(delay, kling_settings.DEADLINE)
    update_fields(job, expect=job.status, error_streak=streak, error_code=exc.code,
                  error_message=exc.message, **support, claimed_until=None,
                  next_check_at=timezone.now() + timedelta(seconds=delay))
    logger.info("job %s: %s, %s again in %.1fs", job.pk, exc.code, step, delay)
    # A running job's next status call is the scheduler's (at next_check_at).
    return None if step == "poll" else Next(step, delay)


def _redispatch(pk: Any, step: str) -> Next | None:
    job = _load(pk)
    return _elsewhere(job, step) if job is not None and job.status not in FINAL else None
