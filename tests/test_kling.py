"""Kling's own API: end to end against the sandbox's /kling routes, auth, errors, callbacks."""

from __future__ import annotations

import base64
import json
import time

import httpx
import pytest

from django_kling.exceptions import ProviderError
from django_kling.jobs import create_video_request
from django_kling.models import Status, VideoRequest
from django_kling.providers import GenerationInput, ImageInput, get_provider
from django_kling.providers.kling import ERROR_TYPES, KlingProvider, jwt_token, parse_task
from django_kling.providers.kling.wire import error_for

from .conftest import API_KEY, finished_by_callback, wait_for_end

CREATE = "/kling/v1/videos/image2video"


def use_kling(settings, sandbox, **options) -> None:
    providers = {**settings.DJANGO_KLING["PROVIDERS"]}
    providers["kling"] = {"BASE_URL": sandbox.kling_url, **options}
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "PROVIDERS": providers,
                             "PROVIDER": "kling"}


def generation(make_image, **fields) -> GenerationInput:
    return GenerationInput(first_frame=ImageInput("image/png", data=make_image()), **fields)


def kling_calls(sandbox):
    return [(c.method, c.path) for c in sandbox.calls if c.path.startswith("/kling/")]


def test_a_job_runs_end_to_end_and_is_billed_once(worker, sandbox, make_image):
    job = wait_for_end(create_video_request(make_image(), prompt="Waves.", provider="kling"))
    assert job.status == Status.SUCCEEDED, (job.error_code, job.error_message)
    assert job.video.has_audio and job.video.fps == 30
    assert sandbox.billed_by == {"kling": {job.idempotency_key: 1}}
    create = next(c for c in sandbox.calls if c.method == "POST" and c.path == CREATE)
    assert create.json["external_task_id"] == job.idempotency_key
    assert (create.json["model_name"], create.json["mode"], create.json["duration"],
            create.json["sound"], create.json["prompt"]) == ("kling-v2-6", "pro", "5", "on",
                                                             "Waves.")
    assert create.headers["authorization"] == "[REDACTED]"
    # The lookup by our key comes first, so a retried create can never pay twice.
    assert kling_calls(sandbox)[:2] == [("GET", f"{CREATE}/{job.idempotency_key}"),
                                        ("POST", CREATE)]
    assert job.operation == {"task_id": job.operation_id,
                             "external_task_id": job.idempotency_key}
    assert job.provider_metadata["kling"]["task_status"] == "succeed"


def test_silent_std_clip_with_a_last_frame(worker, sandbox, make_image, settings):
    use_kling(settings, sandbox, API_KEY=API_KEY)
    job = wait_for_end(create_video_request(make_image(), last_frame=make_image(
        color=(10, 10, 200)), mode="pro", sound=False, duration=10))
    assert job.status == Status.SUCCEEDED, job.error_message
    create = next(c for c in sandbox.calls if c.method == "POST" and c.path == CREATE)
    assert create.json["sound"] == "off" and create.json["duration"] == "10"
    assert "image_tail" in create.json
    assert not job.video.has_audio and job.video.duration == pytest.approx(10, abs=0.2)


def test_jwt_from_access_and_secret_key(worker, sandbox, make_image, settings):
    use_kling(settings, sandbox, ACCESS_KEY=sandbox.kling_access_key,
              SECRET_KEY=sandbox.kling_secret_key)
    job = wait_for_end(create_video_request(make_image(), provider="kling"))
    assert job.status == Status.SUCCEEDED, job.error_message
    assert sandbox.kling_tokens and all(t.count(".") == 2 for t in sandbox.kling_tokens)
    assert sandbox.kling_secret_key not in json.dumps(
        list(VideoRequest.objects.values()), default=str)


def test_jwt_claims_and_signature():
    token, expires = jwt_token("ak", "sk", now=1_700_000_000, ttl=1800)
    header, payload, _signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    assert json.loads(base64.urlsafe_b64decode(header + "==")) == {"alg": "HS256", "typ": "JWT"}
    assert claims == {"iss": "ak", "exp": 1_700_001_800, "nbf": 1_699_999_995}
    assert expires == 1_700_001_800
    from django_kling.testing.sandbox.kling import KlingError, check_jwt

    with pytest.raises(KlingError) as refused:
        check_jwt(token, "ak", "sk")  # expired long ago
    assert refused.value.code == 1004
    fresh, _ = jwt_token("ak", "sk")
    check_jwt(fresh, "ak", "sk")
    with pytest.raises(KlingError):
        check_jwt(fresh, "ak", "other secret")


def test_the_jwt_is_renewed_before_it_expires(sandbox, make_image):
    provider = KlingProvider({**dict(get_provider("kling").options), "API_KEY": None,
                              "ACCESS_KEY": sandbox.kling_access_key,
                              "SECRET_KEY": sandbox.kling_secret_key, "TOKEN_TTL": 8})
    first = provider.token()
    assert provider.token() == first  # reused while well within its life
    # Less than half the lifetime left: renewed before it runs out. (With a 2 s token the start
    # call below, under load, outlived the renewed token: a timing margin, not a renewal bug.)
    time.sleep(4.2)
    second = provider.token()
    assert second != first
    started = provider.start(generation(make_image), idempotency_key="kling_jwt_renewal")
    assert started.generation_id and sandbox.kling_tokens[-1] == second


def test_a_wrong_secret_key_is_a_final_auth_error(sandbox, make_image):
    provider = KlingProvider({**dict(get_provider("kling").options), "API_KEY": None,
                              "ACCESS_KEY": sandbox.kling_access_key, "SECRET_KEY": "wrong"})
    with pytest.raises(ProviderError) as error:
        provider.start(generation(make_image), idempotency_key="kling_bad_jwt")
    assert (error.value.code, error.value.retryable, error.value.fallback) == (
        "provider_auth", False, False)
    assert "wrong" not in error.value.message
    assert sandbox.bill_count == 0


def test_no_credentials_fail_the_job_clearly(sandbox, make_image, settings, worker):
    use_kling(settings, sandbox)
    job = wait_for_end(create_video_request(make_image()))
    assert (job.status, job.error_code) == (Status.FAILED, "provider_no_credentials")


def test_a_retried_create_finds_the_task_instead_of_paying_again(sandbox, make_image):
    provider = get_provider("kling")
    job = generation(make_image)
    first = provider.start(job, idempotency_key="kling_same_key")
    again = provider.start(job, idempotency_key="kling_same_key")
    assert again.operation == first.operation
    assert sandbox.billed == {"kling_same_key": 1}


def test_a_create_that_timed_out_is_found_by_its_key(sandbox, make_image, settings):
    use_kling(settings, sandbox, API_KEY=API_KEY, TIMEOUT=0.5)
    sandbox.set_fault("slow", times=1, route="kling.start", seconds=1.0)
    provider = get_provider("kling")
    with pytest.raises(ProviderError) as error:
        provider.start(generation(make_image), idempotency_key="kling_slow_key")
    assert (error.value.code, error.value.retryable, error.value.fallback) == (
        "provider_timeout", True, False)
    assert sandbox.wait_until_idle()  # the sandbox finishes (and bills) the create it was sent
    assert sandbox.billed == {"kling_slow_key": 1}
    started = provider.start(generation(make_image), idempotency_key="kling_slow_key")
    assert started.generation_id
    assert sandbox.billed == {"kling_slow_key": 1}


def test_a_repeated_key_refused_by_kling_is_looked_up(sandbox, make_image):
    """The other reading of external_task_id: Kling refuses the repeat; we find the task."""
    provider = get_provider("kling")
    first = provider.start(generation(make_image), idempotency_key="kling_refused_key")
    # The lookup misses once (as if Kling's index lagged), so the create is sent again.
    sandbox.set_fault("server_error", times=1, route="kling.status")
    with pytest.raises(ProviderError) as error:
        provider.start(generation(make_image), idempotency_key="kling_refused_key")
    assert (error.value.code, error.value.retryable) == ("provider_server_error", True)
    assert sandbox.billed == {"kling_refused_key": 1}
    original = provider._find
    calls = []

    def miss_once(key):
        calls.append(key)
        return None if len(calls) == 1 else original(key)

    provider._find = miss_once
    again = provider.start(generation(make_image), idempotency_key="kling_refused_key")
    assert again.operation == first.operation and len(calls) == 2
    assert sandbox.billed == {"kling_refused_key": 1}


@pytest.mark.parametrize(("fault", "code", "retryable", "fallback"), [
    ("rate_limit", "provider_rate_limited", True, True),
    ("out_of_credit", "provider_quota", False, True),
    ("server_error", "provider_server_error", True, True),
    ("bad_gateway", "provider_server_error", True, True),
])
def test_create_errors_map_into_our_codes(sandbox, make_image, fault, code, retryable,
                                          fallback):
    sandbox.set_fault(fault, times=1, route="kling.start")
    with pytest.raises(ProviderError) as error:
        get_provider("kling").start(generation(make_image), idempotency_key=f"kling_{fault}")
    assert (error.value.code, error.value.retryable, error.value.fallback) == (
        code, retryable, fallback)
    assert sandbox.bill_count == 0


def test_a_malformed_create_answer_is_retryable_but_never_moves_on(sandbox, make_image):
    sandbox.set_fault("malformed_json", times=1, route="kling.start")
    with pytest.raises(ProviderError) as error:
        get_provider("kling").start(generation(make_image), idempotency_key="kling_cut")
    assert (error.value.code, error.value.retryable, error.value.fallback) == (
        "provider_bad_response", True, False)
    assert sandbox.billed == {"kling_cut": 1}


@pytest.mark.parametrize(("kling_code", "code", "retryable", "fallback"), [
    (1000, "provider_auth", False, False),
    (1101, "provider_quota", False, True),
    (1103, "provider_forbidden", False, False),
    (1201, "provider_invalid_request", False, False),
    (1203, "provider_not_found", False, False),
    (1301, "provider_content_refused", False, False),
    (1302, "provider_rate_limited", True, True),
    (1303, "provider_concurrency_limited", True, True),
    (5001, "provider_server_error", True, True),
    (9999, "provider_server_error", True, True),  # unknown code: by its HTTP status (500)
])
def test_kling_error_codes(kling_code, code, retryable, fallback):
    status = ERROR_TYPES.get(kling_code, (500, ""))[0]
    error = error_for(status, {"code": kling_code, "message": "m", "request_id": "r"},
                      provider="kling")
    assert (error.code, error.retryable, error.fallback, error.status) == (
        code, retryable, fallback, status)


def test_connection_refused_is_retryable_and_may_move_on(make_image):
    def refuse(request):
        raise httpx.ConnectError("connection refused", request=request)

    provider = KlingProvider({**dict(get_provider("kling").options), "API_KEY": "k"},
                             transport=httpx.MockTransport(refuse))
    with pytest.raises(ProviderError) as error:
        provider._call("POST", "/v1/videos/image2video", {})
    assert (error.value.code, error.value.retryable, error.value.fallback) == (
        "provider_unreachable", True, True)


@pytest.mark.parametrize(("task", "state"), [
    ({"task_id": "t", "task_status": "submitted"}, "pending"),
    ({"task_id": "t", "task_status": "processing"}, "pending"),
    ({"task_id": "t", "task_status": "failed", "task_status_msg": "policy"}, "error"),
    ({"task_id": "t", "task_status": "succeed",
      "task_result": {"videos": [{"id": "v", "url": "https://x/v.mp4", "duration": "5"}]}},
     "completed"),
])
def test_task_states(task, state):
    assert parse_task(task, provider="kling").state == state


@pytest.mark.parametrize("task", [
    {"task_id": "t", "task_status": "succeed", "task_result": {"videos": []}},
    {"task_id": "t", "task_status": "weird"},
])
def test_bad_tasks_raise_provider_errors(task):
    with pytest.raises(ProviderError):
        parse_task(task, provider="kling")


def test_a_failed_task_fails_the_job(worker, sandbox, make_image):
    sandbox.set_fault("generation_error", route="kling.status", message="Content policy.")
    job = wait_for_end(create_video_request(make_image(), provider="kling"))
    assert (job.status, job.error_code, job.error_message) == (
        Status.FAILED, "generation_failed", "Content policy.")


def test_the_beijing_host_and_unknown_regions(settings):
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "PROVIDERS": {"kling": {
        "REGION": "beijing"}}}
    assert get_provider("kling").base_url == "https://api-beijing.klingai.com"
    assert KlingProvider.check({"REGION": "mars"})[0].id == "django_kling.E012"
    assert KlingProvider.check({"REGION": "global"}) == []
    assert KlingProvider.check_deploy({"ACCESS_KEY": "a", "SECRET_KEY": "s"}) == []
    assert KlingProvider.check_deploy({"ACCESS_KEY": "a"})[0].id == "django_kling.E003"


# -- callbacks -----------------------------------------------------------------------------------


def test_a_callback_finishes_the_job_early(worker, hooks, sandbox, make_image):
    job = finished_by_callback(sandbox, make_image(), "kling")
    assert kling_calls(sandbox) == [("GET", f"{CREATE}/{job.idempotency_key}"),
                                    ("POST", CREATE), ("GET", f"{CREATE}/{job.operation_id}")]
    assert sandbox.webhooks[0].status_code == 200
    create = next(c for c in sandbox.calls if c.method == "POST" and c.path == CREATE)
    assert create.json["callback_url"].startswith(hooks.url)


def test_callback_bodies_are_checked():
    verify = KlingProvider.verify_callback
    body = json.dumps({"task_id": "t1", "task_status": "succeed",
                       "task_info": {"external_task_id": "kling_ours"}}).encode()
    assert verify({}, body, "kling_ours", tolerance=300) == "kling:t1:succeed"
    wrapped = json.dumps({"code": 0, "data": json.loads(body)}).encode()
    assert verify({}, wrapped, "kling_ours", tolerance=300) == "kling:t1:succeed"
    from django_kling.exceptions import CallbackRefused

    for bad, secret in ((body, "kling_other"), (b"not json", "kling_ours"),
                        (b'{"task_status": "succeed"}', "kling_ours"), (b"[]", "kling_ours")):
        with pytest.raises(CallbackRefused):
            verify({}, bad, secret, tolerance=300)


def test_encoded_or_oversized_answers_are_refused(make_image):
    def gzipped(request):
        return httpx.Response(200, headers={"content-encoding": "gzip"}, content=b"\x1f\x8b")

    def huge(request):
        return httpx.Response(200, content=b"{" + b" " * (5 * 1024 * 1024) + b"}")

    for handler in (gzipped, huge):
        provider = KlingProvider({**dict(get_provider("kling").options), "API_KEY": "k"},
                                 transport=httpx.MockTransport(handler))
        with pytest.raises(ProviderError) as error:
            provider.status({"task_id": "t"})
        assert (error.value.code, error.value.retryable) == ("provider_bad_response", False)
    seen = []

    def record(request):
        seen.append(request.headers.get("accept-encoding"))
        return httpx.Response(429, headers={"retry-after": "7"},
                              json={"code": 1302, "message": "slow down"})

    provider = KlingProvider({**dict(get_provider("kling").options), "API_KEY": "k"},
                             transport=httpx.MockTransport(record))
    with pytest.raises(ProviderError) as error:
        provider.status({"task_id": "t"})
    assert (error.value.code, error.value.retry_after, seen) == (
        "provider_rate_limited", 7.0, ["identity"])


# -- one task per job (issue 23, item 1) ---------------------------------------------------------


def test_a_new_job_never_adopts_the_accounts_newest_task(sandbox, make_image):
    """The list endpoint ignores ``external_task_id``: reading it as "our task" took another
    job's task (nothing generated, another product's clip shown)."""
    provider = get_provider("kling")
    first = provider.start(generation(make_image), idempotency_key="kling_first_product")
    second = provider.start(generation(make_image), idempotency_key="kling_second_product")
    assert second.operation["task_id"] != first.operation["task_id"]
    assert sandbox.billed == {"kling_first_product": 1, "kling_second_product": 1}
    # The lookup is the single query by path, never the list.
    lookups = [c.path for c in sandbox.calls if c.method == "GET" and c.path.startswith(CREATE)]
    assert lookups == [f"{CREATE}/kling_first_product", f"{CREATE}/kling_second_product"]


def test_the_sandbox_lists_tasks_newest_first_and_queries_one_by_path(sandbox, make_image):
    provider = get_provider("kling")
    older = provider.start(generation(make_image), idempotency_key="kling_older")
    newer = provider.start(generation(make_image), idempotency_key="kling_newer")
    headers = {"authorization": f"Bearer {API_KEY}"}
    url = sandbox.kling_url + "/v1/videos/image2video"
    listed = httpx.get(url, params={"pageNum": 1, "pageSize": 1,
                                    "external_task_id": "kling_older"}, headers=headers).json()
    assert [t["task_id"] for t in listed["data"]] == [newer.operation["task_id"]]
    page_two = httpx.get(url, params={"pageNum": 2, "pageSize": 1}, headers=headers).json()
    assert [t["task_id"] for t in page_two["data"]] == [older.operation["task_id"]]
    for path in ("kling_older", older.operation["task_id"]):
        one = httpx.get(f"{url}/{path}", headers=headers).json()["data"]
        assert (one["task_id"], one["task_info"]["external_task_id"]) == (
            older.operation["task_id"], "kling_older")
    assert httpx.get(f"{url}/kling_nobody", headers=headers).status_code == 404


@pytest.mark.parametrize("answer", [
    {"code": 0, "data": {"task_id": "t_other", "task_status": "succeed",
                         "task_info": {"external_task_id": "kling_someone_else"}}},
    {"code": 0, "data": {"task_id": "t_unnamed", "task_status": "succeed"}},
    {"code": 0, "data": [{"task_id": "t_other", "task_status": "succeed",
                          "task_info": {"external_task_id": "kling_someone_else"}}]},
])
def test_a_lookup_naming_another_key_is_not_found(answer):
    """Only a task whose ``task_info.external_task_id`` is ours is ours; anything else is a
    miss, and the create goes out (Kling refuses it if the key really exists)."""
    seen = []

    def kling(request):
        seen.append((request.method, request.url.path))
        if request.method == "GET":
            return httpx.Response(200, json=answer)
        return httpx.Response(200, json={"code": 0, "data": {
            "task_id": "t_ours", "task_status": "submitted",
            "task_info": {"external_task_id": "kling_ours"}}})

    provider = KlingProvider({**dict(get_provider("kling").options), "API_KEY": "k"},
                             transport=httpx.MockTransport(kling))
    started = provider.start(GenerationInput(first_frame=ImageInput(
        "image/png", url="https://example.com/a.png")), idempotency_key="kling_ours")
    assert started.operation["task_id"] == "t_ours"
    assert seen == [("GET", "/v1/videos/image2video/kling_ours"),
                    ("POST", "/v1/videos/image2video")]


def test_no_two_jobs_hold_the_same_provider_task(db):
    from django.db import IntegrityError, transaction

    from django_kling.models import Asset

    frame = Asset.objects.create(kind="source_image", file="x.png", mime="image/png")
    for provider, task in (("kling", "task_1"), ("kling", ""), ("kling", ""), ("fal", "task_1")):
        # Jobs not sent yet all hold "": only real task ids are unique per provider.
        VideoRequest.objects.create(provider=provider, model="m", operation_id=task,
                                    first_frame=frame)
    with pytest.raises(IntegrityError), transaction.atomic():
        VideoRequest.objects.create(provider="kling", model="m", operation_id="task_1",
                                    first_frame=frame)


def test_a_status_answer_about_another_task_is_refused():
    def other(request):
        return httpx.Response(200, json={"code": 0, "data": {
            "task_id": "t_other", "task_status": "succeed",
            "task_result": {"videos": [{"id": "v", "url": "https://x/other.mp4"}]}}})

    provider = KlingProvider({**dict(get_provider("kling").options), "API_KEY": "k"},
                             transport=httpx.MockTransport(other))
    with pytest.raises(ProviderError) as error:
        provider.status({"task_id": "t_ours"})
    assert error.value.code == "provider_bad_response"


def test_a_task_another_job_holds_fails_the_job_clearly(db, sandbox, make_image):
    """The constraint's other side: if a provider ever names a task another request holds,
    the job fails with a reason instead of erroring in the worker for ever."""
    from django_kling.flow import pipeline

    job = create_video_request(make_image(), provider="kling")
    # The task exists at Kling under this job's key, and a (damaged) row already holds it.
    task = get_provider("kling").start(generation(make_image),
                                       idempotency_key=job.idempotency_key)
    VideoRequest.objects.create(provider="kling", model=job.model, first_frame=job.first_frame,
                                operation_id=task.job_id)
    assert pipeline.submit_step(job.pk) is None
    job.refresh_from_db()
    assert (job.status, job.error_code, job.operation_id) == (
        Status.FAILED, "provider_task_taken", "")
    assert sandbox.billed_by == {"kling": {job.idempotency_key: 1}}
