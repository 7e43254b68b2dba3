"""Replicate: end to end against the sandbox's /replicate routes, Standard Webhooks, errors."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from django_kling.exceptions import CallbackRefused, InvalidInput, ProviderError
from django_kling.jobs import create_video_request
from django_kling.models import Status
from django_kling.providers import GenerationInput, ImageInput, get_provider
from django_kling.providers.replicate import ReplicateProvider, standard_signature
from django_kling.testing.sandbox.replicate import signature_headers

from .conftest import finished_by_callback, wait_for_end

CREATE = "/replicate/v1/models/kwaivgi/kling-v2.6/predictions"


def generation(make_image, **fields) -> GenerationInput:
    return GenerationInput(first_frame=ImageInput("image/png", data=make_image()), **fields)


def test_a_job_runs_end_to_end(worker, sandbox, make_image):
    job = wait_for_end(create_video_request(make_image(), prompt="Leaves fall.",
                                            provider="replicate"))
    assert job.status == Status.SUCCEEDED, (job.error_code, job.error_message)
    create = next(c for c in sandbox.calls if c.method == "POST")
    assert create.path == CREATE and "prefer" not in create.headers  # never "Prefer: wait"
    assert create.json["input"]["duration"] == 5 and create.json["input"]["generate_audio"]
    assert create.json["input"]["start_image"].startswith("data:image/")
    polled = {c.path for c in sandbox.calls if c.method == "GET" and "/predictions/" in c.path}
    assert polled == {f"/replicate/v1/predictions/{job.operation_id}"}  # urls.get
    assert sandbox.billed_by == {"replicate": {job.operation_id: 1}}
    assert job.provider_metadata["replicate"]["status"] == "succeeded"


def test_a_last_frame_is_refused_before_anything_is_stored(db, sandbox, make_image):
    with pytest.raises(InvalidInput) as refused:
        create_video_request(make_image(), last_frame=make_image(), provider="replicate")
    assert refused.value.code == "provider_unsupported_feature"


@pytest.mark.parametrize(("fault", "state", "code"), [
    ("generation_error", Status.FAILED, "generation_failed"),
    ("cancelled", Status.FAILED, "provider_cancelled"),
])
def test_failed_and_canceled_predictions(worker, sandbox, make_image, fault, state, code):
    sandbox.set_fault(fault, route="replicate.status")
    job = wait_for_end(create_video_request(make_image(), provider="replicate"))
    assert (job.status, job.error_code) == (state, code)


@pytest.mark.parametrize(("fault", "code", "retryable", "fallback"), [
    ("rate_limit", "provider_rate_limited", True, True),
    ("out_of_credit", "provider_quota", False, True),
    ("server_error", "provider_server_error", True, True),
    ("malformed_json", "provider_bad_response", False, False),  # maybe created: not resent
])
def test_create_errors(sandbox, make_image, fault, code, retryable, fallback):
    sandbox.set_fault(fault, times=1, route="replicate.start")
    with pytest.raises(ProviderError) as error:
        get_provider("replicate").start(generation(make_image), idempotency_key="kling_x")
    assert (error.value.code, error.value.retryable, error.value.fallback) == (
        code, retryable, fallback)


@pytest.mark.parametrize(("output", "url"), [
    ("https://replicate.delivery/x/out.mp4", "https://replicate.delivery/x/out.mp4"),
    (["https://replicate.delivery/y/out.mp4"], "https://replicate.delivery/y/out.mp4"),
])
def test_output_as_a_url_or_a_list(output, url):
    def handler(request):
        return httpx.Response(200, json={"id": "p", "status": "succeeded", "output": output})

    provider = ReplicateProvider({**get_provider("replicate").options, "API_TOKEN": "t"},
                                 transport=httpx.MockTransport(handler))
    status = provider.status({"id": "p", "get": "https://api.replicate.com/v1/predictions/p"})
    assert status.videos[0].url == url


def noisy_png(width: int = 1000, height: int = 700) -> bytes:
    """A PNG that does not compress: about 2 MB, sent as it is (no re-encoding)."""
    import io
    import os

    from PIL import Image

    out = io.BytesIO()
    Image.frombytes("RGB", (width, height), os.urandom(width * height * 3)).save(out, "PNG")
    return out.getvalue()


def test_a_frame_over_1_mb_goes_through_the_files_api(worker, sandbox):
    """Item 5 of issue 23: Replicate takes data URIs only under 1 MB (the sandbox refuses
    larger ones with 422); a larger frame is uploaded and named by its file URL."""
    image = noisy_png()
    assert len(image) > 1_000_000
    job = wait_for_end(create_video_request(image, provider="replicate"))
    assert job.status == Status.SUCCEEDED, (job.error_code, job.error_message)
    upload = next(c for c in sandbox.calls if c.path == "/replicate/v1/files")
    assert upload.method == "POST" and upload.headers["authorization"] == "[REDACTED]"
    assert upload.headers["content-type"].startswith("multipart/form-data")
    [(content_type, data)] = sandbox.uploads.values()
    assert content_type == "image/png" and data[:8] == b"\x89PNG\r\n\x1a\n"
    create = next(c for c in sandbox.calls if c.path == CREATE)
    assert create.json["input"]["start_image"].startswith(sandbox.replicate_url + "/files/")


def test_the_sandbox_refuses_a_data_uri_of_1_mb(sandbox):
    import base64

    uri = "data:image/png;base64," + base64.b64encode(noisy_png()).decode()
    answer = httpx.post(sandbox.url + CREATE, json={"input": {"start_image": uri}},
                        headers={"authorization": f"Bearer {sandbox.api_key}"}, timeout=30)
    assert answer.status_code == 422 and "under 1 MB" in answer.json()["detail"]
    assert sandbox.billed_by == {}


def test_urls_get_on_another_origin_never_gets_the_token(sandbox, foreign_host, make_image):
    """Item 4 of issue 23: the token goes only where the prediction was created."""
    sandbox.set_fault("foreign_urls", times=1, route="replicate.start", origin=foreign_host.url)
    provider = get_provider("replicate")
    started = provider.start(generation(make_image), idempotency_key="kling_foreign")
    with pytest.raises(ProviderError) as error:
        provider.status(started.operation)
    assert (error.value.code, error.value.retryable) == ("provider_foreign_url", False)
    assert not [c for c in foreign_host.calls if "authorization" in c.headers]


def test_the_webhook_secret_comes_from_the_account_once(sandbox, make_image):
    provider = get_provider("replicate")
    for key in ("kling_a", "kling_b"):
        started = provider.start(generation(make_image),
                                 idempotency_key=key, callback_url="https://shop.test/hook")
        assert started.signing_secret == sandbox.replicate_webhook_secret
    assert sum(c.path.endswith("/webhooks/default/secret") for c in sandbox.calls) == 1
    create = next(c for c in sandbox.calls if c.method == "POST")
    assert create.json["webhook_events_filter"] == ["completed"]


def test_a_signed_webhook_finishes_the_job_early(worker, hooks, sandbox, make_image):
    finished_by_callback(sandbox, make_image(), "replicate")
    assert sandbox.webhooks[0].status_code == 200


def test_standard_webhooks_signatures():
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = json.dumps({"id": "p", "status": "succeeded"}).encode()
    headers = signature_headers(secret, body)
    verify = ReplicateProvider.verify_callback
    assert verify(headers, body, secret, tolerance=300) == "replicate:" + headers["webhook-id"]
    # Several signatures during a secret rotation: one match is enough.
    rotated = {**headers, "webhook-signature": "v1,b2xk " + headers["webhook-signature"]}
    assert verify(rotated, body, secret, tolerance=300)
    expected = standard_signature(secret, headers["webhook-id"], headers["webhook-timestamp"],
                                  body)
    assert headers["webhook-signature"] == "v1," + expected
    refusals = [
        (headers, body + b" ", secret, "bad signature"),
        (headers, body, "whsec_" + "QUJD" * 8, "bad signature"),
        ({**headers, "webhook-id": "msg_other"}, body, secret, "bad signature"),
        ({**headers, "webhook-timestamp": str(int(time.time()) - 900)}, body, secret,
         "stale timestamp"),
        ({**headers, "webhook-timestamp": "soon"}, body, secret, "no timestamp"),
        (headers, body, "whsec_not base64!", "bad signature"),
    ]
    for bad_headers, bad_body, bad_secret, reason in refusals:
        with pytest.raises(CallbackRefused) as refused:
            verify(bad_headers, bad_body, bad_secret, tolerance=300)
        assert refused.value.code == reason


def test_fallback_skips_replicate_for_a_last_frame(db, sandbox, make_image, settings):
    settings.DJANGO_KLING = {**settings.DJANGO_KLING,
                             "PROVIDERS_ORDER": ["replicate", "fal"]}
    # Silent: a last frame with sound is no route's but the gateway's (the model registry).
    job = create_video_request(make_image(), last_frame=make_image(), sound=False)
    assert job.provider == "fal"
    assert job.provider_attempts[0]["provider"] == "replicate"
