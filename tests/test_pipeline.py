"""Real jobs end to end: a Dramatiq worker (Redis in CI), the database, the sandbox, storage.

Every job here goes through the actors exactly as in production: create_video_request queues
``submit`` on commit, the worker submits to the sandbox, polls, downloads, probes, stores.
"""

import io
import time
import urllib.request

import av
import pytest
from django.core.files.storage import storages
from PIL import Image

from django_kling.flow import pipeline
from django_kling.jobs import create_video_request
from django_kling.models import Asset, Status, VideoRequest
from django_kling.providers import get_provider
from django_kling.signals import video_failed, video_ready

from .conftest import use_protocol, wait_for_end

SIZES = {"16:9": 16 / 9, "9:16": 9 / 16, "1:1": 1.0}


def assert_clip(job: VideoRequest, *, duration: int, aspect: str, sound: bool) -> None:
    assert job.status == Status.SUCCEEDED, (job.error_code, job.error_message)
    video = job.video
    with video.file.open("rb") as fh:
        data = fh.read()
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert float(stream.average_rate) == 30.0
        assert float(stream.duration * stream.time_base) == pytest.approx(duration, abs=0.1)
        assert stream.codec_context.width / stream.codec_context.height == pytest.approx(
            SIZES[aspect], rel=0.02)
        audio = [s.codec_context.name for s in container.streams.audio]
        assert audio == (["aac"] if sound else [])
    assert (video.duration, video.fps, video.has_audio) == (pytest.approx(duration, abs=0.1),
                                                            30.0, sound)
    assert video.size == len(data) and video.mime == "video/mp4"
    with job.poster.file.open("rb") as fh:
        poster = Image.open(io.BytesIO(fh.read()))
    assert poster.format == "JPEG"
    assert poster.size == (video.width, video.height)


@pytest.mark.parametrize("protocol, result, mode, sound", [
    ("async", "url", "pro", True),
    ("async", "base64", "std", False),
    ("stream", "url", "pro", False),
    ("stream", "base64", "pro", True),
])
def test_job_end_to_end(worker, sandbox, settings, make_image, protocol, result, mode, sound):
    use_protocol(settings, sandbox, protocol)
    sandbox.result = result
    job = create_video_request(make_image(800, 450), prompt="The bottle turns; waves.",
                               mode=mode, sound=sound)
    job = wait_for_end(job)
    assert_clip(job, duration=5, aspect="16:9", sound=sound)
    assert job.protocol == protocol
    assert sandbox.bill_count == 1
    if protocol == "async":
        assert sandbox.start_calls == {job.idempotency_key: 1}
        assert job.operation_id and job.poll_count >= 1
        assert job.reported_cost is not None
    assert job.submitted_at and job.finished_at and job.finished_at >= job.submitted_at


def test_portrait_ten_seconds_with_last_frame(worker, sandbox, make_image):
    sandbox.delay = 0.5  # a few pending polls
    job = create_video_request(make_image(600, 1000), last_frame=make_image(600, 1000, (0, 0, 200)),
                               duration=10, aspect_ratio="9:16", prompt="It opens.")
    job = wait_for_end(job)
    assert_clip(job, duration=10, aspect="9:16", sound=True)
    assert job.last_frame.kind == "last_frame"
    assert job.poll_count >= 2
    assert sandbox.bill_count == 1


def test_clip_stored_in_a_private_s3_bucket(worker, sandbox, s3_storage, make_image):
    job = wait_for_end(create_video_request(make_image(700, 700), aspect_ratio="1:1"))
    assert_clip(job, duration=5, aspect="1:1", sound=True)
    storage = storages[s3_storage]
    assert storage.exists(job.video.file.name) and storage.exists(job.poster.file.name)
    url = job.video.file.url
    assert "X-Amz-Signature=" in url or "Signature=" in url
    with urllib.request.urlopen(url) as response:  # noqa: S310  (loopback moto server)
        body = response.read()
    assert body[4:8] == b"ftyp" and len(body) == job.video.size
    unsigned = url.split("?")[0]
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(unsigned)  # noqa: S310  (private bucket: no signature, no clip)


def test_video_linked_to_the_source_object(worker, sandbox, make_image):
    from django.core.files.base import ContentFile

    from tests.shop.models import Product

    product = Product(name="Mug")
    product.image.save("mug.png", ContentFile(make_image(640, 360)), save=True)
    job = wait_for_end(create_video_request(source=product, field_name="image"))
    assert job.status == Status.SUCCEEDED
    assert job.source_object == product
    assert list(VideoRequest.objects.for_object(product)) == [job]
    kinds = set(Asset.objects.for_object(product).values_list("kind", flat=True))
    assert kinds == {"source_image", "video", "poster"}


def test_signals_sent_once(worker, sandbox, make_image):
    ready, failed = [], []

    def on_ready(sender, request, video, poster, **kwargs):
        ready.append((request.pk, video.pk, poster.pk))

    def on_failed(sender, request, **kwargs):
        failed.append(request.pk)

    video_ready.connect(on_ready)
    video_failed.connect(on_failed)
    try:
        job = wait_for_end(create_video_request(make_image()))
        # A duplicate delivery of every message must not send anything again.
        for step in (pipeline.submit_step, pipeline.poll_step, pipeline.fetch_step):
            assert step(job.pk) is None
    finally:
        video_ready.disconnect(on_ready)
        video_failed.disconnect(on_failed)
    assert ready == [(job.pk, job.video_id, job.poster_id)]
    assert failed == []


def test_duplicate_submit_messages_bill_once(worker, sandbox, make_image):
    from django_kling import tasks

    sandbox.delay = 0.3
    job = create_video_request(make_image())
    for _ in range(3):
        tasks.submit.send(str(job.pk))
    job = wait_for_end(job)
    assert job.status == Status.SUCCEEDED
    assert sandbox.bill_count == 1
    assert VideoRequest.objects.get(pk=job.pk).video_id == job.video_id


def test_crash_after_the_provider_accepted_does_not_bill_twice(
        transactional_db, sandbox, make_image, django_capture_on_commit_callbacks):
    # The worker "died" right after the start call returned, before saving the operation:
    # the row is still submitting with no operation. The next attempt reuses the same key.
    with django_capture_on_commit_callbacks(execute=False):
        job = create_video_request(make_image())
    VideoRequest.objects.transition(job, Status.SUBMITTING)
    VideoRequest.objects.filter(pk=job.pk).update(submit_attempts=1)
    with get_provider() as provider:
        provider.start(pipeline.generation_input(job), idempotency_key=job.idempotency_key)
    assert sandbox.bill_count == 1

    # Running again: the next status call is the scheduler's, at the first check.
    assert pipeline.submit_step(job.pk) is None
    job.refresh_from_db()
    assert job.status == Status.RUNNING and job.next_check_at is not None
    time.sleep(0.15)
    next_step = pipeline.poll_step(job.pk)
    while next_step is not None:
        time.sleep(next_step.delay)
        next_step = getattr(pipeline, f"{next_step.step}_step")(job.pk)
    job.refresh_from_db()
    assert job.status == Status.SUCCEEDED
    assert sandbox.bill_count == 1
    assert sandbox.start_calls[job.idempotency_key] == 2


def test_rate_limit_is_waited_out(worker, sandbox, make_image):
    sandbox.set_fault("rate_limit", times=2, retry_after=0.3)
    job = wait_for_end(create_video_request(make_image()))
    assert job.status == Status.SUCCEEDED
    assert sandbox.bill_count == 1
    assert job.submit_attempts == 3
    starts = [c.time for c in sandbox.calls if c.path.endswith("/start")]
    assert len(starts) == 3
    assert all(b - a >= 0.3 for a, b in zip(starts, starts[1:], strict=False))


def test_provider_error_result_fails_with_its_message(worker, sandbox, make_image):
    sandbox.set_fault("generation_error", message="Content policy: <b>no</b>")
    job = wait_for_end(create_video_request(make_image()))
    assert job.status == Status.FAILED
    assert job.error_code == "generation_failed"
    assert "Content policy" in job.error_message
    assert job.video_id is None


def test_bad_input_reaches_no_provider(transactional_db, sandbox, make_image):
    from django_kling.exceptions import InvalidInput

    with pytest.raises(InvalidInput):
        create_video_request(make_image(200, 150))
    assert VideoRequest.objects.count() == 0 and Asset.objects.count() == 0
    assert sandbox.calls == [] and sandbox.bill_count == 0


def test_the_queue_tests_use_the_configured_broker():
    import os

    import dramatiq
    from dramatiq.brokers.stub import StubBroker

    if os.environ.get("RABBITMQ_URL"):
        from dramatiq.brokers.rabbitmq import RabbitmqBroker as expected
    elif os.environ.get("REDIS_URL"):
        from dramatiq.brokers.redis import RedisBroker as expected
    else:
        expected = StubBroker
    assert isinstance(dramatiq.get_broker(), expected)


def test_retry_makes_a_new_request_with_the_same_inputs(
        worker, sandbox, make_image, django_capture_on_commit_callbacks):
    from django_kling.exceptions import InvalidInput
    from django_kling.jobs import retry_video_request

    sandbox.set_fault("generation_error", times=1, message="try again")
    failed = wait_for_end(create_video_request(make_image(), prompt="again", duration=10))
    assert failed.status == Status.FAILED
    sandbox.clear_faults()
    retried = wait_for_end(retry_video_request(failed))
    assert retried.pk != failed.pk and retried.idempotency_key != failed.idempotency_key
    assert (retried.prompt, retried.duration, retried.first_frame_id) == (
        "again", 10, failed.first_frame_id)
    assert retried.status == Status.SUCCEEDED
    assert sandbox.bill_count == 2

    with django_capture_on_commit_callbacks(execute=False):
        active = create_video_request(make_image())  # never enqueued: stays queued
    with pytest.raises(InvalidInput) as caught:
        retry_video_request(active)
    assert caught.value.code == "retry_not_final"


def test_duplicate_poll_messages_do_not_multiply_status_calls(worker, sandbox, make_image):
    from django_kling import tasks

    sandbox.delay = 600  # held running until the duplicates are sent (a loaded machine
    # could finish a short job before the loop below saw it running)
    job = create_video_request(make_image())
    limit = time.monotonic() + 10
    while VideoRequest.objects.get(pk=job.pk).status != Status.RUNNING:
        assert time.monotonic() < limit
        time.sleep(0.02)
    for _ in range(5):
        tasks.poll.send(str(job.pk))
    time.sleep(1.5)
    assert sandbox.finish_running() == 1
    job = wait_for_end(job)
    assert job.status == Status.SUCCEEDED
    status_calls = sum(1 for c in sandbox.calls if c.path.endswith("/status"))
    # 1.5 s held / interval = 7.5 polls, and at most one extra call per duplicate message (plus
    # one of timing slack on a loaded machine); a chain per duplicate would add about 35.
    assert status_calls <= 1.5 / 0.2 + 5 + 1, status_calls


def test_shared_provider_is_reused_per_thread_and_rebuilt_on_change(settings, sandbox):
    from django_kling.providers import shared_provider

    first = shared_provider()
    assert shared_provider() is first
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "POLL_INTERVAL": 0.3,
                             "PROVIDERS": {"gateway": {"API_KEY": "other",
                                                       "BASE_URL": sandbox.v4_url}}}
    assert shared_provider() is not first


def test_deadline_fails_without_resubmitting(worker, sandbox, settings, make_image):
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "DEADLINE": 1.0}
    sandbox.delay = 30
    job = wait_for_end(create_video_request(make_image()), timeout=20)
    assert (job.status, job.error_code) == (Status.FAILED, "deadline")
    assert "not resubmitted" in job.error_message
    assert sandbox.start_calls == {job.idempotency_key: 1}


def test_provider_warnings_are_kept_once(worker, sandbox, make_image):
    # Several status answers, each repeating the warnings: the first check comes 0.1 s after
    # the start, so 2 s leave room for a loaded machine (0.6 s once gave a single answer).
    sandbox.delay = 2.0
    job = wait_for_end(create_video_request(make_image(), aspect_ratio="16:9", seed=3))
    assert job.poll_count >= 2
    provider_warnings = [w for w in job.warnings if w.get("type") == "unsupported"]
    assert provider_warnings  # seed / aspectRatio are "unsupported" for image-to-video
    assert len(provider_warnings) == len({repr(w) for w in provider_warnings})


def test_an_unexpected_probe_error_keeps_the_paid_clip_and_fails_once(
        worker, sandbox, make_image, monkeypatch, admin_client):
    """A video library that breaks (as PyAV 19 broke ``av.open``'s keywords) loses no clip."""
    import hashlib

    from django.urls import reverse

    from django_kling.files import media

    def broken_open(*args, **kwargs):
        raise TypeError("open() got an unexpected keyword argument")

    monkeypatch.setattr(media.av, "open", broken_open)
    job = wait_for_end(create_video_request(make_image(), prompt="It turns."))

    assert job.status == Status.FAILED
    assert job.error_code == "media_check_failed"
    assert "TypeError" in job.error_message and "kept" in job.error_message
    assert job.fetch_attempts == 1 and job.error_streak == 0  # no retry storm
    assert sandbox.bill_count == 1
    assert job.reported_cost is not None
    kept = job.video
    assert kept.kind == "video" and kept.duration is None
    with kept.file.open("rb") as fh:
        data = fh.read()
    assert len(data) == kept.size > 0 and hashlib.sha256(data).hexdigest() == kept.sha256
    assert data[4:8] == b"ftyp"  # the provider's clip, byte for byte
    assert job.poster_id is None
    page = admin_client.get(reverse("admin:django_kling_videorequest_change", args=[job.pk]))
    assert "Download the file the provider returned" in page.content.decode()


def test_a_clip_that_fails_its_checks_is_kept_on_the_failed_request(worker, sandbox,
                                                                     make_image):
    sandbox.set_fault("truncated_mp4")
    job = wait_for_end(create_video_request(make_image()))
    assert job.status == Status.FAILED and job.error_code.startswith("media_")
    assert job.video_id and job.video.file.storage.exists(job.video.file.name)
    assert job.fetch_attempts == 1 and sandbox.bill_count == 1
