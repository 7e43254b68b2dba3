"""The branches where money is at stake, in this process and on any database (SQLite too).

The fault matrix (``-m faults``) kills real worker processes on PostgreSQL and Redis; these
tests put a job in the state such a death leaves, or break the connection at the transport
boundary, and run the pipeline's steps here against the real sandbox, so the suite that runs on
a laptop checks every branch too: a create that may have been billed is never sent again
without an idempotency key, a paid clip is kept while storage is down, and every end is a
clear failure code rather than a lost job.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from django.core.files.storage import FileSystemStorage

from django_kling.conf import kling_settings
from django_kling.flow import pipeline
from django_kling.jobs import create_video_request
from django_kling.models import Asset, AssetKind, Status, VideoRequest
from django_kling.providers import REGISTRY, shared_provider

from .conftest import run_steps, use_protocol, wait_until

transition = VideoRequest.objects.transition
update_fields = VideoRequest.objects.update_fields


@pytest.fixture
def quiet(django_capture_on_commit_callbacks):
    """Create jobs without enqueuing them: the steps run in this test."""
    with django_capture_on_commit_callbacks(execute=False):
        yield


def creates(sandbox) -> list[str]:
    """The create calls the sandbox received (any provider's), oldest first."""
    return [c.path for c in sandbox.calls
            if c.method == "POST" and not c.path.endswith("/status")]


def died_while_submitting(job: VideoRequest) -> None:
    """The state a worker killed during its create call leaves: submitting, one attempt."""
    transition(job, Status.SUBMITTING, expect=Status.QUEUED)
    assert update_fields(job, expect=Status.SUBMITTING, submit_attempts=1)


# -- a worker died during the create -------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("provider", ["fal", "replicate"])
def test_a_create_without_a_key_is_not_sent_again(provider, sandbox, make_image, quiet):
    job = create_video_request(make_image(), provider=provider)
    died_while_submitting(job)
    assert pipeline.submit_step(job.pk) is None
    job.refresh_from_db()
    assert (job.status, job.error_code) == (Status.FAILED, "submit_interrupted")
    assert "never paid twice" in job.error_message
    assert creates(sandbox) == [] and sandbox.bill_count == 0


@pytest.mark.django_db
@pytest.mark.parametrize("provider", ["gateway", "kling"])
def test_a_create_with_a_key_is_sent_again_with_it(provider, sandbox, make_image, quiet):
    job = create_video_request(make_image(), provider=provider)
    died_while_submitting(job)
    assert pipeline.submit_step(job.pk) is None  # running: the same key, whatever the first did
    assert VideoRequest.objects.get(pk=job.pk).status == Status.RUNNING
    assert sandbox.billed == {job.idempotency_key: 1}


@pytest.mark.django_db
def test_a_stream_cut_by_a_dead_worker_is_not_sent_again(settings, sandbox, make_image,
                                                         quiet):
    use_protocol(settings, sandbox, "stream")
    job = create_video_request(make_image())
    assert job.protocol == "stream"
    died_while_submitting(job)
    assert pipeline.submit_step(job.pk) is None
    job.refresh_from_db()
    assert (job.status, job.error_code) == (Status.FAILED, "stream_interrupted")
    assert creates(sandbox) == [] and sandbox.bill_count == 0


# -- a worker died between the answer and the stored clip ---------------------------------------


@pytest.mark.django_db
def test_an_inline_clip_lost_with_its_worker_is_not_asked_for_again(settings, sandbox,
                                                                    make_image, quiet):
    """A stream's clip comes inline, in the answer: once its worker is gone, so is the clip."""
    use_protocol(settings, sandbox, "stream")
    job = create_video_request(make_image())
    transition(job, Status.SUBMITTING, expect=Status.QUEUED)
    transition(job, Status.FETCHING, expect=Status.SUBMITTING)  # then the worker died
    assert pipeline.fetch_step(job.pk) is None
    job.refresh_from_db()
    assert (job.status, job.error_code) == (Status.FAILED, "result_lost")
    assert sandbox.calls == []  # not generated (and paid) again


def running_then_fetching(job: VideoRequest) -> VideoRequest:
    """Submit for real, then leave the job as a worker killed right after "completed" does
    when the clip came inline (base64): fetching, with no URL to fetch it from."""
    assert pipeline.submit_step(job.pk) is None
    job.refresh_from_db()
    provider = shared_provider(job.provider)
    wait_until(lambda: provider.status(job.operation, model=job.model).state == "completed",
               what="the provider's answer")
    return transition(job, Status.FETCHING, expect=Status.RUNNING, result_url="")


@pytest.mark.django_db
def test_an_inline_clip_of_a_job_is_asked_for_again_by_its_operation(sandbox, make_image,
                                                                     quiet):
    sandbox.result = "base64"
    job = running_then_fetching(create_video_request(make_image()))
    assert pipeline.fetch_step(job.pk) is None
    job.refresh_from_db()
    assert job.status == Status.SUCCEEDED, job.error_message
    assert job.video is not None and sandbox.billed == {job.idempotency_key: 1}


@pytest.mark.django_db
def test_a_clip_the_provider_no_longer_has_fails_clearly(sandbox, make_image, quiet):
    sandbox.result = "base64"
    job = running_then_fetching(create_video_request(make_image()))
    sandbox.set_fault("generation_error", route="status")
    assert pipeline.fetch_step(job.pk) is None
    job.refresh_from_db()
    assert (job.status, job.error_code) == (Status.FAILED, "result_lost")
    assert sandbox.billed == {job.idempotency_key: 1}


# -- storage down while the paid clip comes in ---------------------------------------------------


class FailingStorage(FileSystemStorage):
    """The file system, failing the next ``failures`` saves (a full disk, a bucket down)."""

    failures = 0

    def _save(self, name: str, content: Any) -> str:
        if FailingStorage.failures > 0:
            FailingStorage.failures -= 1
            raise OSError("No space left on device")
        return super()._save(name, content)


@pytest.fixture
def failing_storage(settings, tmp_path):
    settings.STORAGES = {**settings.STORAGES, "videos": {
        "BACKEND": f"{__name__}.FailingStorage", "OPTIONS": {"location": str(tmp_path)}}}
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "STORAGE": "videos"}
    yield FailingStorage
    FailingStorage.failures = 0


@pytest.mark.django_db
def test_storage_down_keeps_the_job_until_the_clip_is_stored(sandbox, make_image, quiet,
                                                             failing_storage, tmp_path):
    job = create_video_request(make_image())
    failing_storage.failures = 1
    assert pipeline.submit_step(job.pk) is None
    wait_until(lambda: pipeline.poll_step(job.pk, forced=True) is not None
               or VideoRequest.objects.get(pk=job.pk).status != Status.RUNNING,
               what="the finished clip")
    job.refresh_from_db()
    assert (job.status, job.error_code) == (Status.FETCHING, "storage_failed")
    assert "OSError" in job.error_message and job.result_url
    assert not Asset.objects.filter(kind=AssetKind.VIDEO).exists()  # nothing half-kept
    assert not any(tmp_path.rglob("*.mp4"))
    assert pipeline.fetch_step(job.pk) is None  # storage is back
    job.refresh_from_db()
    assert job.status == Status.SUCCEEDED and job.video is not None
    assert sandbox.billed == {job.idempotency_key: 1}  # fetched again, never generated again


@pytest.mark.django_db
def test_storage_down_for_good_fails_clearly(settings, sandbox, make_image, quiet,
                                             failing_storage):
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "MAX_ATTEMPTS": 2}
    job = create_video_request(make_image())
    failing_storage.failures = 10
    assert pipeline.submit_step(job.pk) is None
    wait_until(lambda: pipeline.poll_step(job.pk, forced=True) is not None
               or VideoRequest.objects.get(pk=job.pk).status != Status.RUNNING,
               what="the finished clip")
    assert pipeline.fetch_step(job.pk) is None
    job.refresh_from_db()
    assert (job.status, job.error_code) == (Status.FAILED, "storage_failed")
    assert sandbox.billed == {job.idempotency_key: 1}


# -- the connection breaks at the transport boundary --------------------------------------------


class AfterTheCreate(httpx.BaseTransport):
    """Sends every request to the sandbox for real; the first create's answer is then lost
    (``lost``: the connection drops after the request went out) or stripped of its ids
    (``no_id``)."""

    def __init__(self, fault: str) -> None:
        self.fault = fault
        self.done = False
        self.real = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.real.handle_request(request)
        if self.done or request.method != "POST" or request.url.path.endswith("/status"):
            return response
        self.done = True
        body = response.read()
        response.close()
        if self.fault == "lost":
            raise httpx.ReadError("connection reset by peer", request=request)
        answer = json.loads(body)
        for key in ("id", "request_id"):
            answer.pop(key, None)
        return httpx.Response(response.status_code, json=answer, request=request)

    def close(self) -> None:
        self.real.close()


@pytest.fixture
def transport_fault(monkeypatch):
    """Make the pipeline's provider clients use ``AfterTheCreate(fault)``."""
    def use(fault: str) -> AfterTheCreate:
        transport = AfterTheCreate(fault)
        made: dict[str, Any] = {}

        def shared_provider(name: str | None = None) -> Any:
            name = name or kling_settings.PROVIDER
            if name not in made:
                made[name] = REGISTRY[name](kling_settings.provider_options(name),
                                            transport=transport)
            return made[name]

        monkeypatch.setattr(pipeline, "shared_provider", shared_provider)
        return transport
    return use


@pytest.mark.django_db
@pytest.mark.parametrize("provider", ["fal", "replicate"])
def test_a_create_answer_without_an_id_is_not_sent_again(provider, sandbox, make_image, quiet,
                                                         transport_fault):
    transport_fault("no_id")
    job = create_video_request(make_image(), provider=provider)
    run_steps(job.pk, timeout=30)
    job.refresh_from_db()
    assert (job.status, job.error_code) == (Status.FAILED, "provider_bad_response")
    assert len(creates(sandbox)) == 1 and sandbox.bill_count == 1  # billed; never resent


@pytest.mark.django_db
@pytest.mark.parametrize(("provider", "ends", "sent"), [
    ("gateway", Status.SUCCEEDED, 2),    # sent again with the same key: found, not billed
    ("kling", Status.SUCCEEDED, 1),      # looked up by its key first: found, not created
    ("fal", Status.FAILED, 1),           # no key: may have been billed, so never resent
    ("replicate", Status.FAILED, 1),
])
def test_a_connection_lost_after_the_create_was_sent(provider, ends, sent, sandbox,
                                                     make_image, quiet, transport_fault):
    transport_fault("lost")
    job = create_video_request(make_image(), provider=provider)
    run_steps(job.pk, timeout=30)
    job.refresh_from_db()
    assert job.status == ends, (job.error_code, job.error_message)
    if ends == Status.FAILED:
        assert job.error_code == "provider_unreachable"
    assert len(creates(sandbox)) == sent
    assert sandbox.bill_count == 1
