"""Model tiers and the real gateway's answers through the whole job: the v2.5 turbo (silent,
priced as itself), refused before any call when asked for sound; expired results; support ids;
gateway options and OIDC auth in what the sandbox received."""

import io
from decimal import Decimal

import av
import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from django_kling.exceptions import InvalidInput
from django_kling.jobs import create_video_request, estimate_cost
from django_kling.models import Status, VideoRequest
from django_kling.testing.worker import stop_embedded_worker
from tests.shop.models import Product

from .conftest import API_KEY, wait_for_end

TURBO = "klingai/kling-v2.5-turbo-i2v"
V26 = "klingai/kling-v2.6-i2v"


def test_turbo_end_to_end_makes_a_silent_clip_priced_as_turbo(worker, sandbox, make_image):
    job = create_video_request(make_image(), model=TURBO, sound=False, mode="std")
    assert job.model == TURBO
    assert job.estimated_cost == Decimal("0.210")  # 5 s at the turbo's 0.042
    assert estimate_cost(duration=5, mode="std", sound=False, model=V26) == Decimal("0.350")
    job = wait_for_end(job)
    assert job.status == Status.SUCCEEDED, job.error_message
    assert job.video.has_audio is False
    assert job.reported_cost == Decimal("0.210")  # what the sandbox billed for the turbo
    with job.video.file.open("rb") as fh, av.open(io.BytesIO(fh.read())) as clip:
        assert not clip.streams.audio
    starts = [c for c in sandbox.calls if c.path.endswith("/start")]
    assert [c.headers["ai-model-id"] for c in starts] == [TURBO]
    statuses = [c for c in sandbox.calls if c.path.endswith("/status")]
    assert statuses and {c.headers["ai-model-id"] for c in statuses} == {TURBO}


def test_turbo_with_sound_is_refused_before_any_call(transactional_db, sandbox, make_image):
    with pytest.raises(InvalidInput) as caught:
        create_video_request(make_image(), model=TURBO, sound=True)
    assert caught.value.code == "model_no_sound" and caught.value.field == "sound"
    assert "silent" in caught.value.message
    assert VideoRequest.objects.count() == 0
    assert sandbox.calls == [] and sandbox.bill_count == 0


def test_only_the_models_setting_may_be_chosen(transactional_db, settings, sandbox, make_image):
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "MODELS": [V26]}
    with pytest.raises(InvalidInput) as caught:
        create_video_request(make_image(), model=TURBO, sound=False)
    assert caught.value.code == "model_invalid"
    assert sandbox.calls == []


def test_kling_generate_with_the_turbo_model(worker, sandbox, make_image, tmp_path):
    image = tmp_path / "bottle.png"
    image.write_bytes(make_image(960, 540))
    out = io.StringIO()
    try:
        call_command("kling_generate", str(image), "--model", TURBO, "--no-sound", "--wait",
                     "--timeout", "60", stdout=out)
    finally:
        stop_embedded_worker()
    assert TURBO in out.getvalue() and "Succeeded:" in out.getvalue()
    assert "audio no" in out.getvalue()
    assert VideoRequest.objects.get().model == TURBO


def test_an_expired_result_fails_with_the_explanation_and_the_retry_path(worker, sandbox,
                                                                        make_image):
    sandbox.set_fault("result_expired")
    job = wait_for_end(create_video_request(make_image()))
    assert (job.status, job.error_code) == (Status.FAILED, "result_expired")
    assert "expired at" in job.error_message and "Retry" in job.error_message
    assert job.video_id is None


def test_the_generation_id_is_kept_for_support(worker, sandbox, make_image):
    job = wait_for_end(create_video_request(make_image()))
    assert job.status == Status.SUCCEEDED
    assert job.generation_id.startswith("gen_")


def test_the_generation_id_of_a_refused_call_is_kept(worker, sandbox, make_image, settings):
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "PROVIDERS": {"gateway": {
        "API_KEY": "wrong-key", "BASE_URL": sandbox.v4_url}}}
    job = wait_for_end(create_video_request(make_image()))
    assert (job.status, job.error_code) == (Status.FAILED, "provider_auth")
    assert job.generation_id.startswith("gen_")
    assert sandbox.bill_count == 0


def test_gateway_options_reach_the_gateway(worker, sandbox, settings, make_image):
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "PROVIDERS": {"gateway": {
        "API_KEY": API_KEY, "BASE_URL": sandbox.v4_url, "ONLY": ["klingai"],
        "FALLBACK_MODELS": [TURBO]}}}
    editor = get_user_model().objects.create_user("editor", email="ed@example.com")
    product = Product.objects.create(name="Salt")
    job = wait_for_end(create_video_request(make_image(), source=product, field_name="image",
                                            user=editor))
    assert job.status == Status.SUCCEEDED
    (start,) = [c for c in sandbox.calls if c.path.endswith("/start")]
    gateway = start.json["providerOptions"]["gateway"]
    assert gateway["tags"] == ["django-kling", "shop.product"]
    assert gateway["only"] == ["klingai"] and gateway["models"] == [TURBO]
    # A stable, opaque id: never the editor's name or email.
    assert len(gateway["user"]) == 32 and "editor" not in gateway["user"]
    assert "example.com" not in str(start.json)


def test_oidc_auth_end_to_end(worker, sandbox, settings, make_image, monkeypatch):
    monkeypatch.setenv("VERCEL_OIDC_TOKEN", "oidc-sandbox-token")
    sandbox.oidc_token = "oidc-sandbox-token"
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "PROVIDERS": {"gateway": {
        "API_KEY": None, "BASE_URL": sandbox.v4_url, "TEAM_ID": "team_shop"}}}
    try:
        job = wait_for_end(create_video_request(make_image()))
    finally:
        sandbox.oidc_token = None
    assert job.status == Status.SUCCEEDED, job.error_message
    api = [c for c in sandbox.calls if not c.path.startswith("/files/")]
    assert {c.headers["ai-gateway-auth-method"] for c in api} == {"oidc"}
    assert {c.headers["x-vercel-ai-gateway-team"] for c in api} == {"team_shop"}
