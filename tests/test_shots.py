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
from .test_admin import (  # noqa: F401  (fixtures, by their pytest names)
    make_product_fixture,
    producer_fixture,
)

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


# -- the admin's Generate page, without JavaScript ----------------------------------------------

def shot_rows(shots) -> dict:
    data = {}
    for index, (prompt, seconds) in enumerate(shots):
        data[f"options-shots_{2 * index}"] = prompt
        data[f"options-shots_{2 * index + 1}"] = str(seconds)
    return data


def post_page(client, products, *, model, duration, shots, language=None):
    from django.urls import reverse

    from .test_admin import CHANGELIST, confirm_data

    form = confirm_data(products, sound=False, duration=duration)
    form.update({"options-model": model, **shot_rows(shots)})
    return client.post(reverse(CHANGELIST), form)


def test_the_generate_page_refuses_shots_on_v26_and_queues_them_on_v3(
        producer, make_product, sandbox, settings):
    from .test_admin import login

    only(settings, "kling")
    product = make_product()
    client = login(producer)
    refused = post_page(client, [product], model=V26, duration=10, shots=SHOTS)
    assert refused.status_code == 200 and VideoRequest.objects.count() == 0
    assert "takes no multi-shot prompts" in str(refused.context["batch_form"].errors["shots"])
    page = refused.content.decode()
    assert 'data-kling-shots' in page and 'name="options-shots_0"' in page
    # v2.6 is the model shown: the rows are there, disabled (the script also hides them).
    import re
    [first] = re.findall(r'<input[^>]*name="options-shots_0"[^>]*>', page)
    assert "disabled" in first
    with translation.override("zh-hans"):
        mismatch = post_page(login(producer, HTTP_ACCEPT_LANGUAGE="zh-hans"), [product],
                             model=V3, duration=12, shots=SHOTS)
    assert "12 秒" in str(mismatch.context["batch_form"].errors["shots"])
    assert VideoRequest.objects.count() == 0 and not [
        c for c in sandbox.calls if c.method == "POST"]

    shots = (("{name} on a table", 5), ("Close-up of {object}", 5))
    queued = post_page(client, [product], model=V3, duration=10, shots=shots)
    assert queued.status_code == 302, queued.context["batch_form"].errors
    job = VideoRequest.objects.get()
    assert shots_of(job) == ((f"{product.name} on a table", 5), (f"Close-up of {product}", 5))
    # The request's own page lists them, in order, with their seconds.
    from django.urls import reverse
    page = client.get(reverse("admin:django_kling_videorequest_change", args=[job.pk]))
    listed = re.search(r'<ol class="kling-shots">(.*?)</ol>', page.content.decode(), re.S)
    assert listed, "the request's page shows no shots"
    assert re.findall(r"<li>(.*?) <span>\((\d+) s\)</span></li>", listed.group(1)) == [
        (f"{product.name} on a table", "5"), (f"Close-up of {product}", "5")]


def test_a_preset_applied_on_the_page_fills_the_shot_rows(producer, make_product, sandbox):
    from django.urls import reverse

    from django_kling.models import VideoPreset

    from .test_admin import CHANGELIST, confirm_data, login

    preset = VideoPreset.objects.create(
        name="Story", slug="story", model=V3, duration=6, sound=False,
        shots=[{"prompt": "{name} on a shelf", "duration": 3},
               {"prompt": "A hand picks it up", "duration": 3}])
    product = make_product()
    form = confirm_data([product], sound=False)
    form.update({"options-preset": str(preset.pk), "kling_apply_preset": "1"})
    page = login(producer).post(reverse(CHANGELIST), form).content.decode()
    assert 'value="{name} on a shelf"' in page and 'name="options-shots_3" value="3"' in page


# -- kling_generate -------------------------------------------------------------------------

def test_kling_generate_with_shots_waits_for_the_clip(worker, sandbox, settings, make_image,
                                                     tmp_path):
    import io

    from django.core.management import call_command

    from django_kling.testing.worker import stop_embedded_worker

    only(settings, "gateway")
    image = tmp_path / "bottle.png"
    image.write_bytes(make_image(960, 540))
    out = io.StringIO()
    try:
        call_command("kling_generate", str(image), "--model", V3, "--duration", "8",
                     "--no-sound", "--shot", "The bottle on a table|5",
                     "--shot", "Close-up of the cap|3", "--wait", "--timeout", "90", stdout=out)
    finally:
        stop_embedded_worker()
    assert "Succeeded:" in out.getvalue(), out.getvalue()
    job = VideoRequest.objects.get()
    assert shots_of(job) == (("The bottle on a table", 5), ("Close-up of the cap", 3))
    [start] = [c for c in sandbox.calls if c.path.endswith("/video-model/start")]
    assert [s["duration"] for s in start.json["providerOptions"]["klingai"]["multiPrompt"]] \
        == ["5", "3"]


@pytest.mark.django_db
def test_kling_generate_refuses_shots_that_do_not_add_up(sandbox, make_image, tmp_path):
    import json

    from django.core.management import CommandError, call_command

    image = tmp_path / "bottle.png"
    image.write_bytes(make_image())
    shots = tmp_path / "shots.json"
    shots.write_text(json.dumps([{"prompt": "Wide", "duration": 4},
                                 {"prompt": "Close", "duration": 4}]))
    with pytest.raises(CommandError) as refused:
        call_command("kling_generate", str(image), "--model", V3, "--duration", "10",
                     "--shots-json", str(shots))
    assert "[shots_duration_mismatch]" in str(refused.value)
    with pytest.raises(CommandError) as malformed:
        call_command("kling_generate", str(image), "--model", V3, "--shot", "no seconds")
    assert "[shot_invalid]" in str(malformed.value)
    assert VideoRequest.objects.count() == 0


# -- the sandbox refuses what the services refuse, in each one's error shape --------------------

def malformed(case: str) -> dict:
    seven = tuple((f"Shot {n}", 1) for n in range(1, 8))
    return {"v26": {"model": V26, "duration": 10, "shots": SHOTS},
            "seven": {"model": V3, "duration": 7, "shots": seven},
            "sum": {"model": V3, "duration": 12, "shots": SHOTS},
            "long": {"model": V3, "duration": 10,
                     "shots": (("a" * 513, 4),) + SHOTS[1:]}}[case]


@pytest.mark.parametrize("provider", ["gateway", "kling", "fal"])
@pytest.mark.parametrize(("case", "words"), [
    ("v26", "not supported"), ("seven", "at most 6 shots"), ("sum", "add up to 10, not"),
    ("long", "more than 512 characters")])
def test_the_sandbox_refuses_malformed_shots(sandbox, make_image, provider, case, words):
    from django_kling.exceptions import ProviderError
    from django_kling.providers import GenerationInput, ImageInput, get_provider

    job = GenerationInput(first_frame=ImageInput("image/png", data=make_image()),
                          generate_audio=False, **malformed(case))
    if provider == "fal" and case == "seven":  # fal's shots are 3 s or more: 7 of 21 s
        job = GenerationInput(first_frame=job.first_frame, generate_audio=False, model=V3,
                              duration=15, shots=tuple((f"Shot {n}", 3) for n in range(7)))
        words = "at most 6 shots"
    with pytest.raises(ProviderError) as refused:
        get_provider(provider).start(job, idempotency_key=f"kling_shots_{case}")
    assert refused.value.status in (400, 422), refused.value
    assert words in str(refused.value), str(refused.value)
    assert len([c for c in sandbox.calls if c.method == "POST"]) == 1  # sent, refused
    assert not sandbox.billed_by.get(provider)  # and never billed


# -- what a submit costs ------------------------------------------------------------------------

def submit_statements(job_pk) -> list[str]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from django_kling.flow import pipeline

    with CaptureQueriesContext(connection) as captured:
        pipeline.submit_step(job_pk)
    return [q["sql"] for q in captured.captured_queries
            if not q["sql"].startswith(("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE"))]


@pytest.mark.django_db
def test_shots_cost_a_submit_one_statement_and_a_request_without_none(sandbox, settings,
                                                                    make_image):
    only(settings, "kling")
    plain = create_video_request(make_image(), model=V3, duration=10)
    without = submit_statements(plain.pk)
    # The load knows there are no shots (an EXISTS in its one statement): nothing more.
    assert "django_kling_requestshot" in without[0]
    assert not [sql for sql in without[1:] if "django_kling_requestshot" in sql]
    multi = create_video_request(make_image(), model=V3, duration=10, shots=SHOTS)
    with_shots = submit_statements(multi.pk)
    # The same statements (the plan of v3.0's 10 s clips was read once, above), plus the shots.
    extra = [sql for sql in with_shots[1:] if "django_kling_requestshot" in sql]
    assert len(extra) == 1 and len(with_shots) <= len(without) + 1, with_shots
    assert VideoRequest.objects.get(pk=multi.pk).status == Status.RUNNING


@pytest.mark.django_db
def test_a_preset_with_wrong_shots_is_refused_when_saved_in_both_languages():
    from django.core.exceptions import ValidationError

    from django_kling.models import VideoPreset

    shots = [{"prompt": "{name} on a shelf", "duration": 3}, {"prompt": "A hand", "duration": 3}]
    on_v26 = VideoPreset(name="Story", slug="story", model=V26, duration=10, shots=shots)
    with pytest.raises(ValidationError) as refused:
        on_v26.full_clean()
    assert "must add up to the clip's 10 seconds" in str(refused.value.message_dict["shots"])
    on_v26.duration = 6
    with translation.override("zh-hans"), pytest.raises(ValidationError) as in_chinese:
        on_v26.full_clean()
    assert "不支持多镜头" in str(in_chinese.value.message_dict["shots"])
    spoken = VideoPreset(name="Story", slug="story", model=V3, duration=6, shots=shots,
                         spoken_line_en="Fresh from the sea.")
    with pytest.raises(ValidationError) as speech:
        spoken.full_clean()
    assert "write it into a shot's prompt" in str(speech.value.message_dict["shots"])


@pytest.mark.django_db
def test_the_preset_admin_edits_shots_as_rows(admin_client):
    from django.urls import reverse

    from django_kling.models import VideoPreset

    add = reverse("admin:django_kling_videopreset_add")
    form = {"name": "Story", "slug": "story", "prompt_template": "The {name}.",
            "negative_prompt": "", "duration": "10", "formats": "16:9", "mode": "pro",
            "model": V3, "speaker": "", "spoken_line_en": "", "spoken_line_zh": "",
            "shots_0": "{name} on a shelf", "shots_1": "4", "shots_2": "A hand lifts it",
            "shots_3": "6"}
    page = admin_client.get(add).content.decode()
    assert 'name="shots_0"' in page and 'name="shots_11"' in page  # six rows, no JSON box
    wrong = admin_client.post(add, {**form, "shots_3": "5"})
    assert wrong.status_code == 200 and not VideoPreset.objects.exists()
    assert "must add up to the clip's 10 seconds" in " ".join(
        wrong.context["adminform"].form.errors["shots"])
    saved = admin_client.post(add, form)
    assert saved.status_code == 302, saved.context["adminform"].form.errors
    preset = VideoPreset.objects.get()
    assert preset.shots == [{"prompt": "{name} on a shelf", "duration": 4},
                            {"prompt": "A hand lifts it", "duration": 6}]
    change = admin_client.get(reverse("admin:django_kling_videopreset_change", args=[preset.pk]))
    assert 'value="A hand lifts it"' in change.content.decode()
