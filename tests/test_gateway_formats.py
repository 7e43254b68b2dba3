"""The gateway client against the formats of the real gateway, as the AI SDK's source shows them
(``vercel/ai`` ``packages/gateway/src``): asyncJob metadata, support ids, expired results, auth
by OIDC token and team, the ``providerOptions.gateway`` body, and the webhook signature."""

import json
import time

import httpx
import pytest

from django_kling.exceptions import CallbackRefused, ProviderError
from django_kling.providers.gateway import (
    SIGNATURE_HEADER,
    GatewayProvider,
    parse_status,
    signature_header,
)

from .test_gateway import KEY, job, provider

START_ANSWER = {
    "operation": {"gatewayJobId": "job_123"},
    "warnings": [{"type": "other", "message": "queued"}],
    "providerMetadata": {"gateway": {
        "asyncJob": {"jobId": "job_123", "status": "queued", "webhookSigningSecret": "whsec_1"},
        "generationId": "gen-xyz-789",
    }},
}


def recording(answer, status=200):
    seen = []

    def handler(request):
        seen.append(request)
        return httpx.Response(status, json=answer)

    return handler, seen


def test_start_reads_the_job_id_secret_and_generation_id_from_async_job():
    handler, _seen = recording(START_ANSWER, status=202)
    started = provider(handler).start(job(), idempotency_key="k",
                                      callback_url="https://shop.example.com/hook")
    assert started.job_id == "job_123"
    assert started.signing_secret == "whsec_1"
    assert started.generation_id == "gen-xyz-789"


def test_the_old_invented_secret_key_is_not_read():
    answer = {"operation": {"gatewayJobId": "job_1"},
              "providerMetadata": {"gateway": {"webhookSigningSecret": "whsec_old"}}}
    handler, _seen = recording(answer)
    assert provider(handler).start(job(), idempotency_key="k").signing_secret is None


def test_an_error_body_keeps_its_generation_id():
    handler, _seen = recording({"error": {"message": "no", "type": "invalid_request_error"},
                                "generationId": "gen_support"}, status=400)
    with pytest.raises(ProviderError) as caught:
        provider(handler).start(job(), idempotency_key="k")
    assert caught.value.generation_id == "gen_support"
    assert (caught.value.code, caught.value.retryable) == ("provider_invalid_request", False)


def test_completed_without_videos_is_an_expired_result_with_the_explanation():
    expires = 1_700_000_000
    status = parse_status({"status": "completed", "videos": [], "providerMetadata": {"gateway": {
        "asyncJob": {"jobId": "job_1", "status": "completed",
                     "result": {"expiresAt": expires}}}}})
    assert status.state == "expired"
    assert "expired" in status.error and "2023-11-14 22:13 UTC" in status.error
    # Milliseconds read as such.
    status = parse_status({"status": "completed", "videos": [], "providerMetadata": {"gateway": {
        "asyncJob": {"result": {"expiresAt": expires * 1000}}}}})
    assert "2023-11-14 22:13 UTC" in status.error


def test_cancelled_is_an_error_with_the_sdks_words():
    status = parse_status({"status": "cancelled"})
    assert (status.state, status.error) == ("cancelled", "Video generation was cancelled.")


def test_status_reads_the_generation_id_and_sends_the_jobs_model():
    handler, seen = recording({"status": "pending", "providerMetadata": {"gateway": {
        "asyncJob": {"jobId": "job_1", "status": "running"}, "generationId": "gen_1"}}})
    status = provider(handler).status({"gatewayJobId": "job_1"},
                                      model="klingai/kling-v2.5-turbo-i2v")
    assert status.generation_id == "gen_1"
    assert seen[0].headers["ai-model-id"] == "klingai/kling-v2.5-turbo-i2v"


# -- auth -----------------------------------------------------------------------------------------


def test_without_an_api_key_the_oidc_token_is_read_on_every_call(monkeypatch):
    handler, seen = recording({"status": "pending"})
    client = provider(handler, API_KEY=None)
    monkeypatch.setenv("VERCEL_OIDC_TOKEN", "oidc-1")
    client.status({"a": 1})
    monkeypatch.setenv("VERCEL_OIDC_TOKEN", "oidc-2")  # refreshed by the platform
    client.status({"a": 1})
    assert [r.headers["authorization"] for r in seen] == ["Bearer oidc-1", "Bearer oidc-2"]
    assert {r.headers["ai-gateway-auth-method"] for r in seen} == {"oidc"}


def test_an_api_key_wins_over_the_oidc_token(monkeypatch):
    monkeypatch.setenv("VERCEL_OIDC_TOKEN", "oidc-1")
    handler, seen = recording({"status": "pending"})
    provider(handler).status({"a": 1})
    assert seen[0].headers["authorization"] == f"Bearer {KEY}"
    assert seen[0].headers["ai-gateway-auth-method"] == "api-key"


def test_no_key_and_no_token_sends_nothing(monkeypatch):
    monkeypatch.delenv("VERCEL_OIDC_TOKEN", raising=False)
    handler, seen = recording({"status": "pending"})
    with pytest.raises(ProviderError) as caught:
        provider(handler, API_KEY=None).status({"a": 1})
    assert caught.value.code == "provider_no_credentials" and not seen


def test_the_team_header_is_sent_when_set():
    handler, seen = recording({"status": "pending"})
    provider(handler, TEAM_ID="team_abc").status({"a": 1})
    provider(handler).status({"a": 1})
    assert seen[0].headers["x-vercel-ai-gateway-team"] == "team_abc"
    assert "x-vercel-ai-gateway-team" not in seen[1].headers


def test_the_oidc_token_is_redacted_from_provider_text(monkeypatch):
    monkeypatch.setenv("VERCEL_OIDC_TOKEN", "oidc-secret-token")
    handler, _seen = recording({"error": {"message": "bad token oidc-secret-token",
                                          "type": "authentication_error"}}, status=401)
    with pytest.raises(ProviderError) as caught:
        provider(handler, API_KEY=None).status({"a": 1})
    assert "oidc-secret-token" not in caught.value.message


# -- the body -------------------------------------------------------------------------------------


def body_of(seen):
    return json.loads(seen[0].content)


def test_gateway_options_are_sent_only_when_set():
    handler, seen = recording(START_ANSWER)
    provider(handler).start(job(), idempotency_key="k")
    assert "gateway" not in body_of(seen)["providerOptions"]

    handler, seen = recording(START_ANSWER)
    provider(handler, TAGS=["django-kling"], USER="editor", BYOK={"klingai": [{"k": "v"}]},
             ORDER=["klingai"], ONLY=["klingai"],
             FALLBACK_MODELS=["klingai/kling-v2.5-turbo-i2v"]).start(
        job(source_label="shop.product", editor_id="e" * 32), idempotency_key="k")
    assert body_of(seen)["providerOptions"]["gateway"] == {
        "tags": ["django-kling", "shop.product"], "user": "e" * 32,
        "byok": {"klingai": [{"k": "v"}]}, "order": ["klingai"], "only": ["klingai"],
        "models": ["klingai/kling-v2.5-turbo-i2v"]}


def test_no_user_without_an_editor_and_none_when_switched_off():
    handler, seen = recording(START_ANSWER)
    provider(handler, TAGS=[], USER="editor").start(job(), idempotency_key="k")
    provider(handler, TAGS=[], USER=None).start(job(editor_id="e1"), idempotency_key="k")
    assert ["gateway" in json.loads(r.content)["providerOptions"] for r in seen] == [False,
                                                                                     False]


def test_no_seed_is_sent_kling_ignores_it():
    # Kling's image-to-video answers a seed with an "unsupported" warning on every clip
    # (protocol.md): the route ignores it, so the body never carries one (issue 21, item 10).
    handler, seen = recording(START_ANSWER)
    provider(handler).start(job(seed=0), idempotency_key="k")
    provider(handler).start(job(seed=3), idempotency_key="k")
    assert ["seed" in json.loads(request.content) for request in seen] == [False, False]


def test_the_requests_model_goes_in_the_header():
    handler, seen = recording(START_ANSWER)
    provider(handler).start(job(model="klingai/kling-v2.5-turbo-i2v", generate_audio=False),
                            idempotency_key="k")
    assert seen[0].headers["ai-model-id"] == "klingai/kling-v2.5-turbo-i2v"


# -- the webhook signature ------------------------------------------------------------------------


def verify(header, body=b'{"type":"video.generation.completed"}', secret="whsec_1",
           tolerance=300.0):
    return GatewayProvider.verify_callback({SIGNATURE_HEADER: header}, body, secret,
                                           tolerance=tolerance)


def test_the_signature_header_of_the_sdks_test_parses():
    # gateway-video-model.test.ts: {'x-ai-gateway-signature': 't=1,v1=abc'}: well formed,
    # but far too old and not our signature.
    with pytest.raises(CallbackRefused) as caught:
        verify("t=1,v1=abc")
    assert caught.value.code == "stale timestamp"


def test_a_resent_delivery_has_the_same_key():
    body = b'{"type":"video.generation.completed"}'
    now = int(time.time())
    first = verify(signature_header("whsec_1", now, body), body)
    again = verify(signature_header("whsec_1", now + 1, body), body)
    assert first == again
    assert verify(signature_header("whsec_1", now, b"{}"), b"{}") != first


def test_a_tolerance_under_a_second_still_checks_the_timestamp():
    body = b"{}"
    with pytest.raises(CallbackRefused):
        verify(signature_header("whsec_1", int(time.time()) - 5, body), body, tolerance=0.5)
