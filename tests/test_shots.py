"""Multi-shot prompts (issue 26): Kling v3.0's shots stored on a request, sent in each
provider's documented field, refused before any call where the route or the shots are wrong;
all against the sandbox."""

from __future__ import annotations

import pytest
from django.utils import translation

from django_kling import capabilities
from django_kling.exceptions import InvalidInput
from django_kling.jobs import create_video_request
from django_kling.models import Status, VideoRequest
from django_kling.request_shots import RequestShot, shots_of

from .conftest import wait_for_end

V3 = capabilities.V3_0
V26 = capabilities.V2_6
SHOTS = (("The bottle stands on a white table.", 4), ("Close-up of the label.", 3),
         ("The bottle turns slowly.", 3))


def only(settings, *names: str) -> None:
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "PROVIDERS_ORDER": list(names)}


def sent_shots(sandbox, provider: str) -> tuple[dict, list]:
    """The create call's body and the shots in it, as the provider's field holds them."""
    if provider == "gateway":
        [call] = [c for c in sandbox.calls if c.path.endswith("/video-model/start")]
        return call.json, call.json["providerOptions"]["klingai"]["multiPrompt"]
    if provider == "kling":
        [call] = [c for c in sandbox.calls
                  if c.method == "POST" and c.path == "/kling/v1/videos/image2video"]
        return call.json, call.json["multi_prompt"]
    [call] = [c for c in sandbox.calls if c.method == "POST" and c.path.endswith(
        "/fal-ai/kling-video/v3/pro/image-to-video")]
    return call.json, call.json["multi_prompt"]


@pytest.mark.parametrize("provider", ["gateway", "kling", "fal"])
def test_three_shots_reach_each_provider_in_its_field(worker, sandbox, settings, make_image,
                                                     provider):
    only(settings, provider)
    job = create_video_request(make_image(), model=V3, duration=10, prompt="A bottle",
                               shots=SHOTS)
    assert [(s.position, s.prompt, s.duration) for s in job.shots.all()] == [
        (1, SHOTS[0][0], 4), (2, SHOTS[1][0], 3), (3, SHOTS[2][0], 3)]
    job = wait_for_end(job)
    assert job.status == Status.SUCCEEDED, (job.error_code, job.error_message)
    body, shots = sent_shots(sandbox, provider)
    if provider == "fal":
        assert shots == [{"prompt": p, "duration": str(d)} for p, d in SHOTS]
        assert body["shot_type"] == "customize" and "prompt" not in body
    else:
        assert shots == [{"index": i, "prompt": p, "duration": str(d)}
                         for i, (p, d) in enumerate(SHOTS, start=1)]
        options = body["providerOptions"]["klingai"] if provider == "gateway" else body
        flag, kind = ("multiShot", "shotType") if provider == "gateway" else (
            "multi_shot", "shot_type")
        assert (options[flag], options[kind]) == (True, "customize")
        assert "prompt" not in body  # ignored with shots: not sent
    assert 9.5 < job.video.duration < 10.5


def test_a_request_without_shots_sends_none(worker, sandbox, settings, make_image):
    only(settings, "kling")
    job = wait_for_end(create_video_request(make_image(), model=V3, prompt="A bottle"))
    assert job.status == Status.SUCCEEDED
    [call] = [c for c in sandbox.calls
              if c.method == "POST" and c.path == "/kling/v1/videos/image2video"]
    assert "multi_prompt" not in call.json and call.json["prompt"] == "A bottle"
    assert shots_of(job) == ()


@pytest.mark.django_db
def test_a_preset_fills_its_shots_per_object(sandbox, settings, make_image):
    from django.contrib.auth.models import Group

    from django_kling.editorial.preset_jobs import create_preset_requests
    from django_kling.models import VideoPreset

    only(settings, "kling")
    preset = VideoPreset(name="Story", slug="story", model=V3, duration=6, sound=False,
                         shots=[{"prompt": "{name} on a shelf", "duration": 3},
                                {"prompt": "A hand picks up {object}", "duration": 3}])
    preset.full_clean()
    preset.save()
    jobs = [job for name in ("Admins", "Editors") for job in create_preset_requests(
        preset, source=Group.objects.create(name=name), image=make_image())]
    assert [shots_of(job) for job in jobs] == [
        (("Admins on a shelf", 3), ("A hand picks up Admins", 3)),
        (("Editors on a shelf", 3), ("A hand picks up Editors", 3))]


@pytest.mark.django_db
@pytest.mark.parametrize(("language", "changes", "code", "words"), [
    ("en", {"model": V26}, "model_no_shots",
     "Kling v2.6 (sound) takes no multi-shot prompts"),
    ("zh-hans", {"model": V26}, "model_no_shots", "不支持多镜头"),
    ("en", {"shots": SHOTS * 2 + SHOTS[:1]}, "shots_too_many", "at most 6 shots, not 7"),
    ("zh-hans", {"shots": SHOTS * 2 + SHOTS[:1]}, "shots_too_many", "最多 6 个镜头"),
    ("en", {"duration": 12}, "shots_duration_mismatch", "must add up to the clip's 12"),
    ("zh-hans", {"duration": 12}, "shots_duration_mismatch", "12 秒"),
    ("en", {"shots": (("a" * 513, 5), ("b", 5))}, "shot_prompt_too_long", "at most 512"),
    ("en", {"shots": (("a", 5),)}, "shots_too_few", "at least 2 shots"),
    ("en", {"shots": (("", 5), ("b", 5))}, "shot_prompt_empty", "Shot 1 has no prompt"),
])
def test_shots_are_refused_before_any_call(sandbox, settings, make_image, language, changes,
                                           code, words):
    only(settings, "gateway", "kling", "fal")
    arguments = {"model": V3, "duration": 10, "shots": SHOTS, **changes}
    with translation.override(language), pytest.raises(InvalidInput) as refused:
        create_video_request(make_image(), **arguments)
    assert refused.value.code == code
    assert words in refused.value.message
    assert VideoRequest.objects.count() == RequestShot.objects.count() == 0
    assert not [c for c in sandbox.calls if c.method == "POST"]


@pytest.mark.django_db
def test_fal_takes_no_shot_under_three_seconds_so_the_next_provider_does(sandbox, settings,
                                                                        make_image):
    only(settings, "fal", "kling")
    job = create_video_request(make_image(), model=V3, duration=5,
                               shots=(("Wide", 1), ("Close", 4)))
    assert job.provider == "kling"
    assert [(a["provider"], a["code"]) for a in job.provider_attempts] == [
        ("fal", "shot_too_short")]


@pytest.mark.django_db
def test_shots_with_a_last_frame_are_refused_until_a_shop_says_otherwise(sandbox, settings,
                                                                       make_image):
    only(settings, "kling")
    arguments = {"model": V3, "duration": 10, "shots": SHOTS, "sound": False,
                 "last_frame": make_image()}
    with pytest.raises(InvalidInput) as refused:
        create_video_request(make_image(), **arguments)
    assert refused.value.code == "shots_last_frame_unsupported"
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "CAPABILITIES": {
        V3: {"kling": {"shots_with_last_frame": True}}}}
    assert create_video_request(make_image(), **arguments).provider == "kling"
