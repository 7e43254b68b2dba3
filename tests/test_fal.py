"""fal's queue: end to end against the sandbox's /fal routes, signed webhooks, errors."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from django_kling.exceptions import CallbackRefused, ProviderError
from django_kling.jobs import create_video_request
from django_kling.models import Status
from django_kling.providers import GenerationInput, ImageInput, get_provider
from django_kling.providers.fal import JWKS, FalProvider
from django_kling.testing.sandbox.fal import sign

from .conftest import finished_by_callback, wait_for_end

SUBMIT = "/fal/fal-ai/kling-video/v2.6/pro/image-to-video"


def generation(make_image, **fields) -> GenerationInput:
    return GenerationInput(first_frame=ImageInput("image/png", data=make_image()), **fields)


@pytest.fixture(autouse=True)
def fresh_keys():
    JWKS.clear()
    yield
    JWKS.clear()


def test_a_job_runs_end_to_end(worker, sandbox, make_image):
    # Silent with a last frame: fal is not known to honour a last frame with sound (the model
    # registry), so that pair is refused before paying (tests/test_route_capabilities.py).
    job = wait_for_end(create_video_request(make_image(), prompt="Steam rises.",
                                            last_frame=make_image(color=(0, 90, 0)),
                                            provider="fal", sound=False))
    assert job.status == Status.SUCCEEDED, (job.error_code, job.error_message)
    assert not job.video.has_audio
    submit = next(c for c in sandbox.calls if c.method == "POST")
    assert submit.path == SUBMIT and submit.headers["authorization"] == "[REDACTED]"
    assert (submit.json["duration"], submit.json["generate_audio"], submit.json["prompt"]) == (
        "5", False, "Steam rises.")
    assert submit.json["start_image_url"].startswith("data:image/")
    assert "end_image_url" in submit.json
    # Only the URLs the submit answered with are used afterwards.
    gets = {c.path for c in sandbox.calls if c.method == "GET" and c.path.startswith("/fal/")}
    assert gets == {f"/fal/fal-ai/kling-video/requests/{job.operation_id}/status",
                    f"/fal/fal-ai/kling-video/requests/{job.operation_id}"}
    assert sandbox.billed_by == {"fal": {job.operation_id: 1}}


def test_chosen_voices_are_sent(sandbox, make_image):
    started = get_provider("fal").start(generation(make_image, voice_ids=("v1", "v2", "v3")),
                                        idempotency_key="kling_voices")
    submit = next(c for c in sandbox.calls if c.method == "POST")
    assert submit.json["voice_ids"] == ["v1", "v2"] and started.generation_id


def test_a_failed_request_fails_the_job(worker, sandbox, make_image):
    sandbox.set_fault("generation_error", route="fal.status", message="NSFW content.")
    job = wait_for_end(create_video_request(make_image(), provider="fal"))
    assert (job.status, job.error_code) == (Status.FAILED, "generation_failed")
    assert "NSFW content." in job.error_message


def test_an_error_in_the_status_answer_is_read_too():
    """The other reading of a failed request: COMPLETED with an ``error`` field."""
    answers = iter([{"status": "COMPLETED", "error": "Out of memory."}])

    def handler(request):
        return httpx.Response(200, json=next(answers))

    provider = FalProvider({**get_provider("fal").options, "API_KEY": "k",
                            "QUEUE_URL": "https://queue.fal.run"},
                           transport=httpx.MockTransport(handler))
    status = provider.status({"status_url": "https://queue.fal.run/s",
                              "response_url": "https://queue.fal.run/r"})
    assert (status.state, status.error) == ("error", "Out of memory.")


def test_the_key_goes_only_to_the_origin_the_job_was_submitted_to(worker, sandbox,
                                                                 foreign_host, make_image):
    """Item 4 of issue 23: a submit answer naming another host never gets it the key."""
    sandbox.set_fault("foreign_urls", times=1, route="fal.start", origin=foreign_host.url)
    job = wait_for_end(create_video_request(make_image(), prompt="Steam.", provider="fal"))
    assert (job.status, job.error_code) == (Status.FAILED, "provider_foreign_url")
    assert foreign_host.url not in job.error_message  # says what, not a URL to click
    assert not [c for c in foreign_host.calls if "authorization" in c.headers]
    assert foreign_host.calls == []


@pytest.mark.parametrize("url", [
    "http://queue.fal.run/fal-ai/kling-video/requests/r/status",  # plain http
    "https://queue.fal.run:8443/fal-ai/kling-video/requests/r/status",  # another port
    "https://queue.fal.run.evil.test/fal-ai/kling-video/requests/r/status",
    "https://user@evil.test/fal-ai/kling-video/requests/r/status",
])
def test_job_urls_off_the_submit_origin_are_refused_unsent(url):
    sent = []
    provider = FalProvider({**get_provider("fal").options, "API_KEY": "k",
                            "QUEUE_URL": "https://queue.fal.run"},
                           transport=httpx.MockTransport(
                               lambda request: sent.append(request) or httpx.Response(404)))
    with pytest.raises(ProviderError) as error:
        provider.status({"status_url": url, "response_url": url})
    assert (error.value.code, error.value.retryable, sent) == ("provider_foreign_url", False, [])


@pytest.mark.parametrize(("fault", "code", "retryable", "fallback"), [
    ("rate_limit", "provider_rate_limited", True, True),
    ("out_of_credit", "provider_quota", False, True),
    ("server_error", "provider_server_error", True, True),
    ("bad_gateway", "provider_server_error", True, True),
    ("malformed_json", "provider_bad_response", False, False),  # maybe queued: never resent
])
def test_submit_errors(sandbox, make_image, fault, code, retryable, fallback):
    sandbox.set_fault(fault, times=1, route="fal.start")
    with pytest.raises(ProviderError) as error:
        get_provider("fal").start(generation(make_image), idempotency_key="kling_x")
    assert (error.value.code, error.value.retryable, error.value.fallback) == (
        code, retryable, fallback)


def test_a_submit_that_timed_out_is_not_resent(worker, sandbox, make_image, settings):
    providers = {**settings.DJANGO_KLING["PROVIDERS"]}
    providers["fal"] = {**providers["fal"], "TIMEOUT": 0.5}
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "PROVIDERS": providers}
    sandbox.set_fault("slow", times=1, seconds=1.0, route="fal.start")
    job = wait_for_end(create_video_request(make_image(), provider="fal"))
    assert (job.status, job.error_code) == (Status.FAILED, "provider_timeout")
    assert sandbox.wait_until_idle()  # the slow submit is answered (and queued) by now
    assert sandbox.bill_count == 1  # the sandbox queued it once; we never asked again


def test_no_key_fails_clearly(worker, sandbox, make_image, settings):
    providers = {**settings.DJANGO_KLING["PROVIDERS"], "fal": {"API_KEY": None}}
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "PROVIDERS": providers}
    job = wait_for_end(create_video_request(make_image(), provider="fal"))
    assert (job.status, job.error_code) == (Status.FAILED, "provider_no_credentials")


# -- webhooks ------------------------------------------------------------------------------------


def test_a_signed_webhook_finishes_the_job_early(worker, hooks, sandbox, make_image):
    finished_by_callback(sandbox, make_image(), "fal")
    submit = next(c for c in sandbox.calls if c.method == "POST")
    assert submit.json is not None and sandbox.webhooks[0].status_code == 200
    assert any(c.path == "/fal/.well-known/jwks.json" for c in sandbox.calls)


def signed(sandbox, request_id="req-1", body=None):
    body = body if body is not None else json.dumps(
        {"request_id": request_id, "status": "OK", "payload": {}}).encode()
    return sign(sandbox, request_id, body), body


def test_webhook_signatures_are_verified_against_the_published_keys(sandbox):
    headers, body = signed(sandbox)
    assert FalProvider.verify_callback(headers, body, "req-1", tolerance=300).startswith("fal:")
    fetches = sum(c.path.endswith("jwks.json") for c in sandbox.calls)
    FalProvider.verify_callback(headers, body, "req-1", tolerance=300)
    assert sum(c.path.endswith("jwks.json") for c in sandbox.calls) == fetches  # cached

    refusals = [
        ({**headers}, body.replace(b"OK", b"KO"), "req-1", "bad signature"),  # body changed
        (headers, body, "req-2", "bad signature"),  # another job's request id
        ({**headers, "x-fal-webhook-timestamp": str(int(time.time()) - 900)}, body, "req-1",
         "stale timestamp"),
        ({k: v for k, v in headers.items() if k != "x-fal-webhook-timestamp"}, body, "req-1",
         "no timestamp"),
        ({**headers, "x-fal-webhook-signature": "zz"}, body, "req-1", "bad signature"),
    ]
    for bad_headers, bad_body, secret, reason in refusals:
        with pytest.raises(CallbackRefused) as refused:
            FalProvider.verify_callback(bad_headers, bad_body, secret, tolerance=300)
        assert refused.value.code == reason


def test_a_signature_by_another_key_is_refused(sandbox):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    headers, body = signed(sandbox)
    FalProvider.verify_callback(headers, body, "req-1", tolerance=300)  # keys cached
    sandbox._fal_key = Ed25519PrivateKey.generate()  # fal rotates, or a forger signs
    forged_headers, forged_body = signed(sandbox)
    with pytest.raises(CallbackRefused):
        FalProvider.verify_callback(forged_headers, forged_body, "req-1", tolerance=300)


def test_no_key_set_means_no_trust(settings, sandbox):
    headers, body = signed(sandbox)
    providers = {**settings.DJANGO_KLING["PROVIDERS"]}
    providers["fal"] = {**providers["fal"], "JWKS_URL": sandbox.url + "/fal/nothing-here"}
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "PROVIDERS": providers}
    with pytest.raises(CallbackRefused):
        FalProvider.verify_callback(headers, body, "req-1", tolerance=300)


def test_a_failed_key_fetch_is_remembered_for_a_while(settings, sandbox):
    """Item 6 of issue 23: forged callbacks while the key set is unreachable cost one fetch,
    not two blocking fetches each."""
    headers, body = signed(sandbox)
    providers = {**settings.DJANGO_KLING["PROVIDERS"]}
    providers["fal"] = {**providers["fal"], "JWKS_URL": sandbox.url + "/fal/nothing-here"}
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "PROVIDERS": providers}
    for _ in range(3):
        with pytest.raises(CallbackRefused):
            FalProvider.verify_callback(headers, body, "req-1", tolerance=300)
    assert sum(c.path == "/fal/nothing-here" for c in sandbox.calls) == 1


def test_a_huge_key_set_is_refused_while_it_is_read(sandbox):
    """Item 6 of issue 23: the key set's size is capped as it streams in, never read whole."""
    import tracemalloc

    headers, body = signed(sandbox)
    sandbox.set_fault("huge_answer", times=1, route="fal.jwks", megabytes=24)
    tracemalloc.start()
    try:
        with pytest.raises(CallbackRefused):
            FalProvider.verify_callback(headers, body, "req-1", tolerance=300)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * 2**20, f"peak {peak / 2**20:.1f} MiB"
    assert sandbox.wait_until_idle() and sandbox.huge_answers_sent == 0  # hung up early


def test_a_failed_refresh_keeps_the_keys_already_trusted(sandbox, monkeypatch):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from django_kling.providers.fal import KeySet

    headers, body = signed(sandbox)
    FalProvider.verify_callback(headers, body, "req-1", tolerance=300)  # keys cached
    monkeypatch.setattr(KeySet, "MIN_REFRESH", 0.0)
    genuine = sandbox._fal_key
    sandbox._fal_key = Ed25519PrivateKey.generate()
    forged_headers, forged_body = signed(sandbox)
    sandbox._fal_key = genuine
    sandbox.set_fault("huge_answer", times=1, route="fal.jwks", megabytes=1)
    with pytest.raises(CallbackRefused):  # an unknown key: refetched, the refetch fails
        FalProvider.verify_callback(forged_headers, forged_body, "req-1", tolerance=300)
    assert not sandbox.faults.active()  # the refetch was made, and failed
    assert FalProvider.verify_callback(headers, body, "req-1", tolerance=300)
