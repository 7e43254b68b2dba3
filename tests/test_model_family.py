"""The model family (issue 26): Kling v3.0 as a tier, durations from the capability registry,
voices in each provider's documented field, all against the sandbox."""

from __future__ import annotations

import base64
import io
from decimal import Decimal

import httpx
import pytest
from django.core.management import CommandError, call_command
from django.utils import translation

from django_kling import capabilities
from django_kling.exceptions import InvalidInput
from django_kling.jobs import create_video_request, estimate_cost
from django_kling.models import Status, VideoRequest
from django_kling.testing.worker import stop_embedded_worker
from django_kling.voices import Voice

from .conftest import wait_for_end

V3 = capabilities.V3_0
V26 = capabilities.V2_6


def only(settings, *names: str) -> None:
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "PROVIDERS_ORDER": list(names)}


def generate(image, *args: str) -> str:
    out = io.StringIO()
    try:
        call_command("kling_generate", str(image), *args, "--wait", "--timeout", "90",
                     stdout=out)
    finally:
        stop_embedded_worker()
    return out.getvalue()


@pytest.mark.parametrize("provider", ["gateway", "kling"])
def test_kling_generate_v3_for_twelve_seconds(worker, sandbox, make_image, tmp_path, provider):
    image = tmp_path / "bottle.png"
    image.write_bytes(make_image(960, 540))
    out = generate(image, "--model", V3, "--duration", "12", "--provider", provider)
    assert "Succeeded:" in out, out
    job = VideoRequest.objects.get()
    assert (job.model, job.duration, job.provider, job.status) == (
        V3, 12, provider, Status.SUCCEEDED)
    assert 11.5 < job.video.duration < 12.5  # the sandbox rendered what was asked
    if provider == "gateway":
        [start] = [c for c in sandbox.calls if c.path.endswith("/video-model/start")]
        assert start.headers["ai-model-id"] == V3 and start.json["duration"] == 12
    else:
        [create] = [c for c in sandbox.calls if c.method == "POST" and c.path.startswith(
            "/kling/")]
        assert (create.json["model_name"], create.json["duration"]) == ("kling-v3", "12")


def test_twelve_seconds_on_v26_is_refused_before_any_call(sandbox, make_image, tmp_path, db):
    image = tmp_path / "bottle.png"
    image.write_bytes(make_image(960, 540))
    with pytest.raises(CommandError) as refused:
        call_command("kling_generate", str(image), "--model", V26, "--duration", "12")
    assert "[duration_unsupported]" in str(refused.value)
    assert "5, 10 seconds, not 12" in str(refused.value)
    with translation.override("zh-hans"), pytest.raises(CommandError) as in_chinese:
        call_command("kling_generate", str(image), "--model", V26, "--duration", "12")
    assert "[duration_unsupported]" in str(in_chinese.value) and "秒" in str(in_chinese.value)
    assert VideoRequest.objects.count() == 0 and sandbox.calls == []


def test_each_provider_refuses_twelve_seconds_on_v26_in_its_own_shape(sandbox, make_image):
    image = base64.b64encode(make_image()).decode()
    key = {"authorization": f"Bearer {sandbox.api_key}"}
    gateway = httpx.post(sandbox.v4_url + "/video-model/start", headers={
        **key, "ai-gateway-protocol-version": "0.0.1", "ai-gateway-auth-method": "api-key",
        "ai-model-id": V26, "ai-video-model-specification-version": "4",
        "idempotency-key": "k1"}, json={
        "duration": 12, "generateAudio": False, "image": {
            "type": "file", "mediaType": "image/png", "data": image}})
    assert gateway.status_code == 400
    assert gateway.json()["error"]["type"] == "invalid_request_error"
    assert gateway.json()["error"]["param"] == "duration"
    kling = httpx.post(sandbox.kling_url + "/v1/videos/image2video", headers=key, json={
        "model_name": "kling-v2-6", "image": image, "duration": "12"})
    assert (kling.status_code, kling.json()["code"]) == (400, 1201)
    assert httpx.post(sandbox.kling_url + "/v1/videos/image2video", headers=key, json={
        "model_name": "kling-v3", "image": image, "duration": "12"}).status_code == 200
    fal = httpx.post(sandbox.fal_url + "/fal-ai/kling-video/v2.6/pro/image-to-video",
                     headers={"authorization": f"Key {sandbox.api_key}"},
                     json={"prompt": "x", "start_image_url": "data:image/png;base64," + image,
                           "duration": "12"})
    assert fal.status_code == 422
    assert fal.json()["detail"][0]["loc"] == ["body", "duration"]
    assert sandbox.billed_by.get("fal", {}) == {} and sandbox.bill_count == 1  # the v3 one


def test_the_turbo_offers_no_sound_on_any_route():
    from django_kling.options.routes import routes_of

    routes = routes_of(capabilities.V2_5_TURBO)
    assert routes and not any(r.sound or r.voices for r in routes.values())
    assert all(r.sources for r in capabilities.ROUTES.values())  # every fact has its source


# -- voices ----------------------------------------------------------------------------------


@pytest.fixture
def voice(db) -> Voice:
    return Voice.objects.create(name="Mei", language="zh", gateway_id="kling_voice_mei",
                                kling_id="kling_voice_mei", fal_id="fal_voice_mei")


@pytest.fixture
def preset(voice):
    from django_kling.models import VideoPreset

    return VideoPreset.objects.create(
        name="Host", slug="host", prompt_template="A bottle on a table", voice=voice,
        model=V3, spoken_line_en="Fresh from the sea.")


@pytest.mark.parametrize(("provider", "path", "read"), [
    ("gateway", "/video-model/start",
     lambda body: body["providerOptions"]["klingai"]["voiceList"]),
    ("kling", "/kling/v1/videos/image2video", lambda body: body["voice_list"]),
    ("fal", "/fal/fal-ai/kling-video/v3/pro/image-to-video", lambda body: body["voice_ids"]),
])
def test_a_preset_voice_reaches_each_provider_in_its_field(worker, sandbox, settings, preset,
                                                           make_image, provider, path, read):
    from django_kling.editorial.preset_jobs import create_preset_requests

    only(settings, provider)
    [job] = create_preset_requests(preset, image=make_image(), languages=["en"])
    job = wait_for_end(job)
    assert job.status == Status.SUCCEEDED, (job.error_code, job.error_message)
    [call] = [c for c in sandbox.calls if c.method == "POST" and c.path.endswith(path)]
    expected = {"gateway": [{"voice_id": "kling_voice_mei"}],
                "kling": [{"voice_id": "kling_voice_mei"}], "fal": ["fal_voice_mei"]}[provider]
    assert read(call.json) == expected
    assert '<<<voice_1>>> says in English: "Fresh from the sea."' in call.json["prompt"]
    # Priced with a voice: the documented rate.
    assert job.estimated_cost == estimate_cost(duration=5, mode="pro", sound=True, model=V3,
                                               voice=True) == Decimal("1.960")


def test_a_voice_without_an_id_on_the_provider_moves_to_one_with(sandbox, settings, voice,
                                                                 make_image):
    voice.fal_id = ""
    voice.save()
    only(settings, "fal", "kling")
    job = create_video_request(make_image(), model=V3, voices=(voice.pk,),
                               spoken_line="Hello", language="en")
    assert job.provider == "kling"
    assert [(a["provider"], a["code"]) for a in job.provider_attempts] == [
        ("fal", "voice_not_on_provider")]


def test_voices_are_refused_where_the_route_takes_none(sandbox, settings, voice, make_image):
    only(settings, "replicate")
    with pytest.raises(InvalidInput) as refused:
        create_video_request(make_image(), voices=(voice.pk,), spoken_line="Hi", language="en")
    assert refused.value.code == "provider_unsupported_feature"
    assert "voices" in refused.value.message
    with pytest.raises(InvalidInput) as silent:
        create_video_request(make_image(), voices=(voice.pk,), sound=False)
    assert silent.value.code == "voice_needs_sound"
    assert VideoRequest.objects.count() == 0


def test_a_capabilities_typo_is_a_system_check_error(settings):
    from django_kling.checks import check_settings

    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "CAPABILITIES": {
        V3: {"gateway": {"last_frame_sound": True}, "nope": {}}}}
    errors = [e for e in check_settings() if e.id == "django_kling.E014"]
    assert len(errors) == 2 and "last_frame_sound" in errors[0].msg
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "CAPABILITIES": {
        V3: {"gateway": {"last_frame_with_sound": True}}}}
    assert not [e for e in check_settings() if e.id == "django_kling.E014"]
