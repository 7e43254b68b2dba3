"""What a route (model and provider) can do, refused before paying (issue 23, items 2 and 3).

Kling's capability map lists v2.6 start+end frames as pro mode "only no audio"; the gateway's
model page promises transitions with audio. The model registry (``options.CAPABILITIES``)
says per provider which combination is known to work; a request asking for more is refused
before anything is paid, and the fallback order moves on to a provider that can.
"""

from __future__ import annotations

import httpx
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import translation

from django_kling.exceptions import InvalidInput
from django_kling.jobs import create_video_request
from django_kling.models import Status, VideoRequest
from django_kling.options import KlingModel

from .conftest import wait_for_end
from .test_admin import (  # noqa: F401  (fixtures, by their pytest names)
    CHANGELIST,
    confirm_data,
    login,
    make_product_fixture,
    producer_fixture,
)

REFUSED = "last_frame_sound_unsupported"


def only(settings, *names: str) -> None:
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "PROVIDERS_ORDER": list(names)}


def test_the_registry_says_per_model_and_provider(settings):
    from django_kling.options.routes import route

    assert route(KlingModel.V2_6, "gateway").last_frame_with_sound
    assert not route(KlingModel.V2_6, "kling").last_frame_with_sound
    assert not route(KlingModel.V2_6, "fal").last_frame_with_sound
    # A shop that knows better says so in the CAPABILITIES setting.
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "CAPABILITIES": {
        KlingModel.V2_6: {"kling": {"last_frame_with_sound": True}}}}
    assert route(KlingModel.V2_6, "kling").last_frame_with_sound
    assert route(KlingModel.V2_6, "kling").durations == (5, 10)


def test_the_api_refuses_a_last_frame_with_sound_on_kling(sandbox, settings, make_image, db):
    only(settings, "kling")
    with pytest.raises(InvalidInput) as refused:
        create_video_request(make_image(), last_frame=make_image(color=(0, 0, 200)), sound=True)
    assert (refused.value.code, refused.value.field) == (REFUSED, "sound")
    assert "last frame and sound together" in refused.value.message
    with translation.override("zh-hans"), pytest.raises(InvalidInput) as in_chinese:
        create_video_request(make_image(), last_frame=make_image(color=(0, 0, 200)),
                             sound=True, provider="kling")
    assert "尾帧" in in_chinese.value.message and in_chinese.value.code == REFUSED
    assert VideoRequest.objects.count() == 0 and sandbox.bill_count == 0
    # Silent with a last frame, or sound without one, is what Kling can do.
    create_video_request(make_image(), last_frame=make_image(color=(0, 0, 200)), sound=False)
    create_video_request(make_image(), sound=True)
    assert VideoRequest.objects.count() == 2


def test_the_fallback_order_moves_on_to_a_provider_that_can(worker, sandbox, settings,
                                                            make_image):
    only(settings, "kling", "gateway")
    job = wait_for_end(create_video_request(make_image(), last_frame=make_image(
        color=(0, 0, 200)), sound=True))
    assert job.status == Status.SUCCEEDED, (job.error_code, job.error_message)
    assert job.provider == "gateway"
    assert [(a["provider"], a["outcome"], a["code"]) for a in job.provider_attempts] == [
        ("kling", "skipped", REFUSED)]
    assert not any(c.path.startswith("/kling/") for c in sandbox.calls)


def test_the_command_refuses_it_with_the_code(sandbox, settings, make_image, tmp_path, db):
    first, last = tmp_path / "first.png", tmp_path / "last.png"
    first.write_bytes(make_image())
    last.write_bytes(make_image(color=(0, 0, 200)))
    with pytest.raises(CommandError) as refused:
        call_command("kling_generate", str(first), "--last-frame", str(last),
                     "--provider", "kling")
    assert f"[{REFUSED}]" in str(refused.value)
    assert "last frame and sound together" in str(refused.value)
    assert VideoRequest.objects.count() == 0


def test_the_admin_form_shows_it_on_the_row(producer, make_product, make_image, settings,
                                            sandbox):
    only(settings, "kling")
    product = make_product()
    data = confirm_data([product], sound=True)
    data["rows-0-last_frame"] = SimpleUploadedFile("end.png", make_image(800, 450, (0, 0, 200)),
                                                   "image/png")
    response = login(producer).post(reverse(CHANGELIST), data)
    assert response.status_code == 200
    assert VideoRequest.objects.count() == 0
    [row] = response.context["rows"]
    assert "last frame and sound together" in str(row.form.errors["last_frame"])


# -- a clip that arrives silent although sound was asked -----------------------------------------


def test_a_silent_clip_for_a_sound_request_is_kept_with_a_warning(worker, sandbox, make_image):
    sandbox.set_fault("silent_clip", route="file")
    job = wait_for_end(create_video_request(make_image(), sound=True))
    assert job.status == Status.SUCCEEDED, (job.error_code, job.error_message)
    assert job.video is not None and job.video.has_audio is False
    assert [w["code"] for w in job.warnings if w.get("type") == "no_audio"] == [
        "clip_without_audio"]
    assert job.review_status == "pending"  # review still decides
    assert sandbox.billed == {job.idempotency_key: 1}


# -- fal requires a prompt (item 3) ---------------------------------------------------------------

FAL_SUBMIT = "/fal/fal-ai/kling-video/v2.6/pro/image-to-video"


def fal_first(settings, *names: str, **fal_options) -> None:
    providers = {**settings.DJANGO_KLING["PROVIDERS"]}
    providers["fal"] = {**providers["fal"], **fal_options}
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "PROVIDERS_ORDER": ["fal", *names],
                             "PROVIDERS": providers}


def test_the_sandbox_refuses_a_submit_without_a_prompt_as_fal_does(sandbox, make_image):
    import base64

    image = "data:image/png;base64," + base64.b64encode(make_image()).decode()
    answer = httpx.post(sandbox.fal_url + "/fal-ai/kling-video/v2.6/pro/image-to-video",
                        json={"start_image_url": image, "duration": "5"},
                        headers={"authorization": f"Key {sandbox.api_key}"})
    assert answer.status_code == 422
    [error] = answer.json()["detail"]
    assert (error["loc"], error["type"]) == (["body", "prompt"], "missing")
    assert sandbox.billed_by.get("fal", {}) == {}


def test_a_request_without_a_prompt_is_sent_to_fal_with_the_default(worker, sandbox, settings,
                                                                     make_image):
    from django_kling.providers.fal import DEFAULT_PROMPT

    fal_first(settings)
    job = wait_for_end(create_video_request(make_image()))
    assert job.status == Status.SUCCEEDED, (job.error_code, job.error_message)
    submit = next(c for c in sandbox.calls if c.method == "POST" and c.path == FAL_SUBMIT)
    assert submit.json["prompt"] == DEFAULT_PROMPT
    assert job.prompt == ""  # what the editor wrote stays as written
    assert [w["type"] for w in job.warnings] == ["default_prompt"]


def test_without_a_default_fal_refuses_before_sending_and_the_order_moves_on(
        worker, sandbox, settings, make_image):
    fal_first(settings, "kling", DEFAULT_PROMPT="")
    job = wait_for_end(create_video_request(make_image()))
    assert job.status == Status.SUCCEEDED, (job.error_code, job.error_message)
    assert job.provider == "kling"
    assert [(a["provider"], a["outcome"], a["code"]) for a in job.provider_attempts] == [
        ("fal", "moved on", "provider_prompt_required")]
    assert not any(c.path.startswith("/fal/") for c in sandbox.calls)
    assert sandbox.billed_by == {"kling": {job.idempotency_key: 1}}


def test_with_only_fal_and_no_default_the_request_fails_unbilled(worker, sandbox, settings,
                                                                 make_image):
    from django_kling.jobs import billed

    fal_first(settings, DEFAULT_PROMPT="")
    job = wait_for_end(create_video_request(make_image()))
    assert (job.status, job.error_code) == (Status.FAILED, "provider_prompt_required")
    assert not any(c.path.startswith("/fal/") for c in sandbox.calls)
    assert not VideoRequest.objects.filter(billed(), pk=job.pk).exists()
