"""The gateway client at its transport boundary: exact requests out, every answer mapped."""

import base64
import contextlib
import json

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from django_kling.exceptions import KlingError, ProviderError
from django_kling.providers import GenerationInput, ImageInput
from django_kling.providers.gateway import (
    GatewayProvider,
    iter_sse_data,
    parse_retry_after,
    parse_status,
    parse_stream_event,
)

KEY = "sk-test-key-1234567890"
V4 = "https://ai-gateway.vercel.sh/v4/ai"
PNG = b"\x89PNG\r\n\x1a\nfake"


def provider(handler, base=V4, **options) -> GatewayProvider:
    opts = {"API_KEY": KEY, "BASE_URL": base, "MODEL": "klingai/kling-v2.6-i2v",
            "PROTOCOL": "async", "TIMEOUT": 5.0, "STREAM_TIMEOUT": 5.0, **options}
    return GatewayProvider(opts, transport=httpx.MockTransport(handler))


def job(**kwargs) -> GenerationInput:
    return GenerationInput(first_frame=ImageInput("image/png", data=PNG), **kwargs)


def test_start_sends_exact_headers_and_body():
    seen = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen["url"] = str(request.url)
        seen["headers"] = dict(request.headers)
        seen["body"] = json.loads(request.content)
        return httpx.Response(200, json={"operation": {"gatewayJobId": "job_1"}})

    last = ImageInput("image/jpeg", url="https://cdn.example.com/last.jpg")
    started = provider(handler).start(
        job(last_frame=last, prompt="waves", negative_prompt="blur", duration=10,
            mode="pro", generate_audio=True, seed=7),
        idempotency_key="kling_abc")
    assert started.operation == {"gatewayJobId": "job_1"}
    assert seen["url"] == V4 + "/video-model/start"
    headers = seen["headers"]
    assert headers["authorization"] == f"Bearer {KEY}"
    assert headers["ai-gateway-protocol-version"] == "0.0.1"
    assert headers["ai-gateway-auth-method"] == "api-key"
    assert headers["ai-model-id"] == "klingai/kling-v2.6-i2v"
    assert headers["ai-video-model-specification-version"] == "4"
    assert headers["content-type"] == "application/json"
    assert headers["idempotency-key"] == "kling_abc"
    first = {"type": "file", "mediaType": "image/png", "data": base64.b64encode(PNG).decode()}
    assert seen["body"] == {
        "prompt": "waves", "n": 1, "duration": 10, "generateAudio": True,
        "image": first,
        "frameImages": [{"frameType": "first_frame", "image": first},
                        {"frameType": "last_frame",
                         "image": {"type": "url", "url": "https://cdn.example.com/last.jpg"}}],
        "providerOptions": {"klingai": {"mode": "pro", "negativePrompt": "blur"}},
    }


def test_unset_keys_are_omitted():
    seen = {}

    def handler(request):
        seen["body"] = json.loads(request.content)
        return httpx.Response(200, json={"operation": "op"})

    provider(handler).start(job(mode="std", generate_audio=False), idempotency_key="k")
    body = seen["body"]
    assert "prompt" not in body and "seed" not in body and "aspectRatio" not in body
    assert body["providerOptions"] == {"klingai": {"mode": "std"}}
    assert body["generateAudio"] is False


def test_status_sends_operation_back_unchanged():
    operation = {"gatewayJobId": "job_9", "nested": [1, {"a": None}]}

    def handler(request):
        assert request.url.path == "/v4/ai/video-model/status"
        assert json.loads(request.content) == {"operation": operation}
        return httpx.Response(200, json={"status": "completed", "videos": [
            {"type": "url", "url": "https://files.example.com/v.mp4", "mediaType": "video/mp4"}],
            "providerMetadata": {"gateway": {"cost": "0.70"}}})

    status = provider(handler).status(operation)
    assert status.state == "completed"
    assert status.videos[0].url == "https://files.example.com/v.mp4"
    assert status.metadata["gateway"]["cost"] == "0.70"


def test_stream_call_skips_heartbeats_and_reads_one_event():
    def handler(request):
        assert request.url.path == "/v3/ai/video-model"
        assert request.headers["accept"] == "text/event-stream"
        assert request.headers["ai-video-model-specification-version"] == "3"
        assert "idempotency-key" not in request.headers
        body = (": \n\n: \n\n" 'data: {"type":"result","videos":[{"type":"base64",'
                '"data":"AAAA","mediaType":"video/mp4"}],"warnings":[{"type":"other",'
                '"message":"hi"}]}\n\n')
        return httpx.Response(200, content=body.encode(),
                              headers={"content-type": "text/event-stream"})

    status = provider(handler, base="https://ai-gateway.vercel.sh/v3/ai",
                      PROTOCOL="stream").generate(job())
    assert status.state == "completed"
    assert status.videos[0].kind == "base64" and status.videos[0].data == "AAAA"
    assert status.warnings == [{"type": "other", "message": "hi"}]


def test_stream_cut_before_data_is_not_retried():
    def handler(request):
        return httpx.Response(200, content=b": \n\n: \n\n")

    with pytest.raises(ProviderError) as caught:
        provider(handler, PROTOCOL="stream").generate(job())
    assert caught.value.code == "provider_stream_cut"
    assert caught.value.retryable is False


def test_stream_error_event():
    def handler(request):
        return httpx.Response(200, content=b'data: {"type":"error","message":"slow down",'
                                           b'"errorType":"rate_limit_exceeded",'
                                           b'"statusCode":429,"param":null}\n\n')

    with pytest.raises(ProviderError) as caught:
        provider(handler).generate(job())
    assert (caught.value.code, caught.value.status, caught.value.retryable) == (
        "provider_rate_limited", 429, True)
    assert caught.value.message == "slow down"


@pytest.mark.parametrize("error_type, status, code, retryable", [
    ("invalid_request_error", 400, "provider_invalid_request", False),
    ("authentication_error", 401, "provider_auth", False),
    ("forbidden", 403, "provider_forbidden", False),
    ("model_not_found", 404, "provider_model_not_found", False),
    ("failed_dependency", 424, "provider_failed_dependency", False),
    ("rate_limit_exceeded", 429, "provider_rate_limited", True),
    ("internal_server_error", 500, "provider_server_error", True),
    ("not_found", 404, "provider_not_found", False),
    # Unknown types: the AI SDK makes them internal server errors, with the real status.
    ("something_new", 503, "provider_server_error", True),
    ("something_new", 409, "provider_error", True),
])
def test_error_mapping(error_type, status, code, retryable):
    def handler(request):
        return httpx.Response(status, json={"error": {"message": "nope", "type": error_type,
                                                      "param": None, "code": None}})

    with pytest.raises(ProviderError) as caught:
        provider(handler).start(job(), idempotency_key="k")
    error = caught.value
    assert (error.status, error.code, error.retryable) == (status, code, retryable)
    assert error.message == "nope"


@pytest.mark.parametrize("status", [408, 409])
def test_conflict_and_timeout_statuses_are_retryable(status):
    def handler(request):
        return httpx.Response(status, json={"error": {"message": "m", "type": "x"}})

    with pytest.raises(ProviderError) as caught:
        provider(handler).start(job(), idempotency_key="k")
    assert caught.value.retryable


def test_retry_after_is_honoured():
    def handler(request):
        return httpx.Response(429, headers={"retry-after": "7"},
                              json={"error": {"message": "m", "type": "rate_limit_exceeded"}})

    with pytest.raises(ProviderError) as caught:
        provider(handler).start(job(), idempotency_key="k")
    assert caught.value.retry_after == 7.0


def test_retry_after_ms_wins_and_dates_parse():
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None


@pytest.mark.parametrize("status, code, retryable", [
    (400, "provider_invalid_request", False),
    (401, "provider_auth", False),
    (403, "provider_forbidden", False),
    (404, "provider_not_found", False),
    (413, "provider_invalid_request", False),
    (408, "provider_timeout", True),
    (409, "provider_error", True),
    (429, "provider_rate_limited", True),
    (500, "provider_server_error", True),
    (502, "provider_server_error", True),
    (503, "provider_server_error", True),
])
def test_an_unparseable_error_body_keeps_its_http_status(status, code, retryable):
    # errors/create-gateway-error.ts: a body that is not the error JSON keeps the status.
    def handler(request):
        return httpx.Response(status, content=b"<html>a proxy says no</html>")

    with pytest.raises(ProviderError) as caught:
        provider(handler).status({"x": 1})
    assert (caught.value.code, caught.value.status, caught.value.retryable) == (
        code, status, retryable)


def test_malformed_json_success_is_retryable():
    def handler(request):
        return httpx.Response(200, content=b'{"status": "pend')

    with pytest.raises(ProviderError) as caught:
        provider(handler).status({"x": 1})
    assert caught.value.code == "provider_bad_response" and caught.value.retryable


def test_timeouts_and_connection_errors_are_retryable():
    def timeout(request):
        raise httpx.ReadTimeout("slow", request=request)

    def refused(request):
        raise httpx.ConnectError("refused", request=request)

    for handler, code in ((timeout, "provider_timeout"), (refused, "provider_unreachable")):
        with pytest.raises(ProviderError) as caught:
            provider(handler).status({"x": 1})
        assert caught.value.code == code and caught.value.retryable


def test_api_key_never_in_errors():
    def handler(request):
        echoed = request.headers["authorization"]
        return httpx.Response(401, json={"error": {"message": f"bad token {echoed}",
                                                   "type": "authentication_error"}})

    with pytest.raises(ProviderError) as caught:
        provider(handler).start(job(), idempotency_key="k")
    error = caught.value
    for text in (str(error), repr(error), error.message):
        assert KEY not in text
    assert "[redacted]" in error.message


@pytest.mark.parametrize("answer, state", [
    ({"status": "pending"}, "pending"),
    ({"status": "error", "error": "content policy"}, "error"),
    ({"status": "cancelled"}, "cancelled"),
])
def test_status_states(answer, state):
    status = parse_status(answer)
    assert status.state == state
    if state == "error":
        assert status.error == "content policy"


def test_an_unknown_video_type_fails_clearly():
    # The gateway's schema knows "url" and "base64" only ("uploaded" is nowhere in its source).
    with pytest.raises(ProviderError) as caught:
        parse_status({"status": "completed",
                      "videos": [{"type": "uploaded", "mediaType": "video/mp4"}]})
    assert caught.value.code == "provider_no_video"
    assert "'uploaded'" in caught.value.message


@pytest.mark.parametrize("answer", [
    {"status": "completed"},
    {"status": "completed", "videos": [{"type": "weird"}]}, {"status": "later"}, [], "x", None,
])
def test_bad_status_answers_raise_provider_errors(answer):
    with pytest.raises(ProviderError):
        parse_status(answer)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(["status", "videos", "type", "url", "data", "error",
                                       "message", "statusCode", "errorType", "warnings",
                                       "providerMetadata", "mediaType"]) | st.text(max_size=5),
                      children, max_size=5),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_parsing_any_json_raises_only_our_errors(value):
    for parse in (parse_status, parse_stream_event):
        with contextlib.suppress(KlingError):
            parse(value)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_through_the_client_raise_only_our_errors(raw):
    def handler(request):
        path = request.url.path
        if path.endswith("/video-model"):
            return httpx.Response(200, content=raw)
        return httpx.Response(200 if raw[:1] != b"5" else 500, content=raw)

    client = provider(handler)
    for call in (lambda: client.status({"a": 1}),
                 lambda: client.start(job(), idempotency_key="k"),
                 lambda: client.generate(job())):
        with contextlib.suppress(KlingError):
            call()


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(max_size=40), max_size=12))
def test_sse_reader_raises_only_our_errors(lines):
    try:
        for event in iter_sse_data(iter(lines)):
            with contextlib.suppress(KlingError):
                parse_stream_event(event)
    except KlingError:
        pass


def test_stream_broken_off_mid_body_is_not_retried_but_unreachable_is():
    def broken(request):
        raise httpx.RemoteProtocolError("peer closed connection", request=request)

    def refused(request):
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(ProviderError) as caught:
        provider(broken, PROTOCOL="stream").generate(job())
    assert (caught.value.code, caught.value.retryable) == ("provider_stream_cut", False)
    with pytest.raises(ProviderError) as caught:
        provider(refused, PROTOCOL="stream").generate(job())
    assert (caught.value.code, caught.value.retryable) == ("provider_unreachable", True)
