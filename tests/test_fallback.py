"""PROVIDERS_ORDER: a job refused before acceptance moves on; one that may be accepted stays."""

from __future__ import annotations

import pytest

from django_kling.checks import check_deploy, check_settings
from django_kling.exceptions import InvalidInput
from django_kling.flow import admission, pipeline
from django_kling.jobs import create_video_request
from django_kling.models import Status, VideoRequest

from .conftest import free_port, wait_for_end


@pytest.fixture
def order(settings, sandbox):
    def set_order(*names: str, **provider_options: dict) -> None:
        providers = {**settings.DJANGO_KLING["PROVIDERS"]}
        for name, options in provider_options.items():
            providers[name] = {**providers.get(name, {}), **options}
        settings.DJANGO_KLING = {**settings.DJANGO_KLING, "PROVIDERS_ORDER": list(names),
                                 "PROVIDERS": providers}
    return set_order


def api_paths(sandbox) -> list[str]:
    return [c.path for c in sandbox.calls if not c.path.startswith("/files/")]


def test_gateway_5xx_on_every_create_moves_the_job_to_kling(worker, sandbox, order,
                                                             make_image):
    order("gateway", "kling")
    sandbox.set_fault("server_error", route="start")  # every gateway create, until cleared
    job = wait_for_end(create_video_request(make_image()))
    assert job.status == Status.SUCCEEDED, (job.error_code, job.error_message)
    assert job.provider == "kling" and job.model == "klingai/kling-v2.6-i2v"
    assert [(a["provider"], a["outcome"], a["code"]) for a in job.provider_attempts] == [
        ("gateway", "moved on", "provider_server_error")]
    # Billed once in all: nothing by the gateway, once by Kling.
    assert sandbox.billed == {job.idempotency_key: 1}
    assert sandbox.billed_by == {"kling": {job.idempotency_key: 1}}
    assert sandbox.start_calls == {job.idempotency_key: 1}  # the gateway was asked once


def test_a_gateway_timeout_after_the_create_went_out_never_moves_on(worker, sandbox, order,
                                                                     make_image):
    order("gateway", "kling", gateway={"TIMEOUT": 1.0})
    # The gateway is slow to answer the first create, but it accepts (and bills) it.
    sandbox.set_fault("slow", times=1, seconds=1.6, route="start")
    job = wait_for_end(create_video_request(make_image()))
    assert job.status == Status.SUCCEEDED, (job.error_code, job.error_message)
    assert job.provider == "gateway" and job.provider_attempts == []
    assert not any(path.startswith("/kling/") for path in api_paths(sandbox))
    # The slow first create may still be asleep in the sandbox when the retry's job is done;
    # once it is answered it finds the retry's job by its key: one bill, never a second.
    assert sandbox.wait_until_idle()
    assert sandbox.billed_by == {"gateway": {job.idempotency_key: 1}}
    assert sandbox.start_calls[job.idempotency_key] == 2  # retried with the same key


def test_no_credit_on_kling_moves_the_job_to_the_gateway(worker, sandbox, order, make_image):
    order("kling", "gateway")
    sandbox.set_fault("out_of_credit", route="kling.start")
    job = wait_for_end(create_video_request(make_image()))
    assert (job.status, job.provider) == (Status.SUCCEEDED, "gateway")
    assert [(a["provider"], a["code"]) for a in job.provider_attempts] == [
        ("kling", "provider_quota")]
    assert sandbox.billed == {job.idempotency_key: 1}


def test_a_provider_that_refuses_connections_is_passed_over(worker, sandbox, order,
                                                            make_image):
    order("kling", "gateway", kling={"BASE_URL": f"http://127.0.0.1:{free_port()}"})
    job = wait_for_end(create_video_request(make_image()))
    assert (job.status, job.provider) == (Status.SUCCEEDED, "gateway")
    assert job.provider_attempts[0]["code"] == "provider_unreachable"


def test_the_last_provider_keeps_the_job_and_retries(worker, sandbox, order, make_image):
    order("kling", "gateway")
    sandbox.set_fault("out_of_credit", route="kling.start")
    sandbox.set_fault("rate_limit", times=2, route="start", retry_after=0.2)
    job = wait_for_end(create_video_request(make_image()))
    assert (job.status, job.provider) == (Status.SUCCEEDED, "gateway")
    assert len(job.provider_attempts) == 1  # retried on the gateway, nowhere left to go


def test_quota_everywhere_fails_clearly(worker, sandbox, order, make_image):
    order("kling")
    sandbox.set_fault("out_of_credit", route="kling.start")
    job = wait_for_end(create_video_request(make_image()))
    assert (job.status, job.error_code) == (Status.FAILED, "provider_quota")
    assert job.provider_attempts == [] and sandbox.bill_count == 0


def test_a_later_refusal_after_a_maybe_accepted_try_stays(db, sandbox, order, make_image,
                                                          django_capture_on_commit_callbacks):
    """Try 1 was cut after the gateway billed it; try 2 gets a 500: moving on could pay twice."""
    order("gateway", "kling")
    with django_capture_on_commit_callbacks(execute=False):
        job = create_video_request(make_image())
    sandbox.set_fault("malformed_json", times=1, route="start")
    assert pipeline.submit_step(job.pk).step == "submit"
    sandbox.set_fault("server_error", times=1, route="start")
    assert pipeline.submit_step(job.pk).step == "submit"
    job.refresh_from_db()
    assert (job.provider, job.error_code, job.provider_attempts) == (
        "gateway", "provider_server_error", [])
    assert pipeline.submit_step(job.pk) is None  # running: the scheduler polls it next
    assert VideoRequest.objects.get(pk=job.pk).status == Status.RUNNING
    assert sandbox.billed == {job.idempotency_key: 1}


def test_a_provider_without_a_requested_feature_is_skipped(sandbox, order, make_image, db,
                                                           settings):
    # The capability registry, changed by the setting: Kling's route without a last frame.
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "CAPABILITIES": {
        "klingai/kling-v2.6-i2v": {"kling": {"last_frame": False}}}}
    order("kling", "gateway")
    job = create_video_request(make_image(), last_frame=make_image(color=(0, 0, 200)),
                               sound=False)
    assert job.provider == "gateway"
    assert [(a["provider"], a["outcome"], a["code"]) for a in job.provider_attempts] == [
        ("kling", "skipped", "provider_unsupported_feature")]
    assert "last_frame" in job.provider_attempts[0]["reason"]
    with pytest.raises(InvalidInput) as refused:
        create_video_request(make_image(), last_frame=make_image(), provider="kling",
                             sound=False)
    assert refused.value.code == "provider_unsupported_feature"
    assert VideoRequest.objects.count() == 1


def test_the_order_is_checked(settings, monkeypatch):
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "PROVIDERS_ORDER": ["gateway", "nope"]}
    assert [e.id for e in check_settings()] == ["django_kling.E013"]
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "PROVIDERS_ORDER": ["gateway", "kling"],
                             "PROVIDERS": {"kling": {"REGION": "mars"}}}
    assert [e.id for e in check_settings()] == ["django_kling.E012"]
    for name in ("KLING_API_KEY", "KLING_ACCESS_KEY", "KLING_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "PROVIDERS": {}}
    assert "django_kling.E003" in [e.id for e in check_deploy()]


def test_a_model_a_provider_does_not_run_is_skipped(sandbox, order, make_image, db):
    # Replicate runs Kling v2.6 only (the capability registry).
    turbo = "klingai/kling-v2.5-turbo-i2v"
    with pytest.raises(InvalidInput) as refused:
        create_video_request(make_image(), model=turbo, sound=False, mode="std",
                             provider="replicate")
    assert refused.value.code == "provider_unsupported_feature" and turbo in str(refused.value)
    order("replicate", "gateway")
    job = create_video_request(make_image(), model=turbo, sound=False, mode="std")
    assert (job.provider, job.model) == ("gateway", turbo)
    assert job.provider_attempts[0]["provider"] == "replicate"
    # Without a model, a request takes the first provider's: v2.6.
    assert create_video_request(make_image()).model == "klingai/kling-v2.6-i2v"


def test_a_job_moved_on_waits_for_room_under_the_next_providers_cap(
        db, sandbox, order, settings, make_image, django_capture_on_commit_callbacks):
    """Issue 23, item 16: Kling capped at 1 with one job running there; the gateway refuses
    the create, so the job moves on to Kling, where it must wait its turn (queued, admission
    decides), never be sent past the cap."""
    order("gateway", "kling")
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "MAX_IN_FLIGHT": {"kling": 1}}
    with django_capture_on_commit_callbacks(execute=False):
        busy = create_video_request(make_image(), provider="kling")
        job = create_video_request(make_image())
    for state in (Status.SUBMITTING, Status.RUNNING):
        VideoRequest.objects.transition(busy, state)
    assert job.provider == "gateway"
    sandbox.set_fault("server_error", route="start")  # the gateway refuses every create
    with django_capture_on_commit_callbacks(execute=False):
        following = pipeline.submit_step(job.pk)
        if following is not None:  # what the next submit message would do
            pipeline.submit_step(job.pk)
    job.refresh_from_db()
    assert (job.provider, job.status) == ("kling", Status.QUEUED)
    assert [(a["provider"], a["outcome"]) for a in job.provider_attempts] == [
        ("gateway", "moved on")]
    assert not any(path.startswith("/kling/") for path in api_paths(sandbox))
    assert admission.admit("kling") == []  # still no room
    VideoRequest.objects.transition(busy, Status.CANCELED)
    with django_capture_on_commit_callbacks(execute=False) as sent:
        assert admission.admit("kling") == [job.pk]  # room on Kling: now it is sent
    assert len(sent) == 1
    assert pipeline.submit_step(job.pk) is None
    assert VideoRequest.objects.get(pk=job.pk).status == Status.RUNNING
    assert sandbox.billed_by == {"kling": {job.idempotency_key: 1}}
