"""Captions: made from the spoken line, timed to the speech the sandbox put into the clip.

The end-to-end tests run real jobs (a Dramatiq worker, the sandbox, storage); the sandbox
voices the prompt's spoken line from ``voice.SPEECH_START``, so the first cue must start
there (within 0.5 s). The WebVTT read back from storage goes through webvtt-py, a parser that
is not ours.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import webvtt as webvtt_py
from django.core.management import call_command
from django.template import Context, Template

from django_kling.caption_tracks import CaptionTiming, CaptionTrack
from django_kling.editorial.captions import CaptionTrackForm, regenerate
from django_kling.files import webvtt
from django_kling.files.captions import captions_for
from django_kling.files.speech_activity import RATE, Speech, find_speech
from django_kling.flow import captioning
from django_kling.jobs import create_video_request
from django_kling.models import Asset, AssetKind, Status
from django_kling.testing.sandbox import voice

from .conftest import wait_for_end

LINE = "Meet the Aurora bottle. Made to last, made for you, and refilled in seconds."
LINE_ZH = "为您介绍极光水瓶，经久耐用，专为您打造。"


def read_vtt(track: CaptionTrack) -> str:
    with track.asset.file.open("rb") as fh:
        return fh.read().decode()


# -- the measure, on known audio ---------------------------------------------------------------

def test_speech_found_where_the_sandbox_voice_speaks() -> None:
    samples = voice.samples(LINE, 8.0, RATE)
    start, end = voice.speech_span(LINE, 8.0)
    speech = find_speech(samples.astype(np.float32))
    assert speech.found
    assert speech.segments[0][0] == pytest.approx(start, abs=0.1)
    assert speech.segments[-1][1] == pytest.approx(end, abs=0.3)


@pytest.mark.parametrize("kind", ["white noise", "pure tone", "silence"])
def test_noise_tones_and_silence_are_not_speech(kind: str) -> None:
    t = np.arange(5 * RATE) / RATE
    rng = np.random.default_rng(1)
    samples = {"white noise": 0.3 * rng.standard_normal(len(t)),
               "pure tone": 0.3 * np.sin(2 * np.pi * 220 * t),
               "silence": np.zeros(len(t))}[kind]
    assert find_speech(samples.astype(np.float32)).segments == []


def test_noise_burst_next_to_speech_is_left_out() -> None:
    samples = voice.samples("Hello there, friend.", 6.0, RATE)
    rng = np.random.default_rng(2)
    samples[int(4.5 * RATE):int(5.5 * RATE)] += 0.3 * rng.standard_normal(RATE)  # loud hiss
    segments = find_speech(samples.astype(np.float32)).segments
    assert segments and all(end < 4.4 for _start, end in segments), segments


# -- cues -----------------------------------------------------------------------------------

def test_cues_hold_two_lines_of_42_columns_at_most() -> None:
    text = " ".join(["Everything you need for a day outdoors, packed light."] * 5)
    for cue in webvtt.cue_texts(text):
        lines = cue.split("\n")
        assert len(lines) <= 2 and all(webvtt.width(line) <= 42 for line in lines), cue
    for cue in webvtt.cue_texts(LINE_ZH * 3):
        assert all(webvtt.width(line) <= 42 for line in cue.split("\n"))


def test_cues_spread_over_the_speech_in_proportion_and_skip_pauses() -> None:
    speech = Speech([(1.0, 3.0), (4.0, 6.0)], 8.0)
    text = "One two three four five six seven eight nine ten. " * 3
    made = captions_for(text, "The presenter", speech, 8.0)
    assert made.timed
    assert made.cues[0].start == pytest.approx(1.0) and made.cues[-1].end == pytest.approx(6.0)
    assert all(not 3.0 < cue.start < 4.0 for cue in made.cues)
    assert all(a.end <= b.start + 1e-6 for a, b in zip(made.cues, made.cues[1:], strict=False))
    assert made.cues[0].text.startswith("<v The presenter>")


def test_no_speech_spans_the_whole_clip_untimed() -> None:
    made = captions_for(LINE, "", Speech([], 5.0), 5.0)
    assert not made.timed
    assert made.cues[0].start == 0.0 and made.cues[-1].end == pytest.approx(5.0)


@pytest.mark.parametrize("text, message", [
    ("00:00:01.000 --> 00:00:02.000\nHi\n", "WEBVTT"),
    ("WEBVTT\n\n00:00:01.000 --> 00:00:02\nHi\n", "not a WebVTT time"),
    ("WEBVTT\n\n00:00:02.000 --> 00:00:01.000\nHi\n", "ends before it starts"),
    ("WEBVTT\n\n00:00:01.000 --> 00:00:09.000\nHi\n", "after the clip's end"),
    ("WEBVTT\n\n00:00:02.000 --> 00:00:03.000\nA\n\n00:00:01.000 --> 00:00:02.000\nB\n",
     "in order"),
    ("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n<v Anna></v>\n", "no text"),
    ("WEBVTT\n", "no cue"),
])
def test_invalid_webvtt_is_refused(text: str, message: str) -> None:
    with pytest.raises(webvtt.WebVTTError, match=message):
        webvtt.parse(text, duration=5.0)


def test_our_files_parse_with_webvtt_py() -> None:
    made = captions_for(LINE, "The presenter", Speech([(1.0, 4.0)], 5.0), 5.0)
    parsed = webvtt_py.from_buffer(io.StringIO(made.text))
    assert len(parsed.captions) == len(made.cues) >= 2
    assert parsed.captions[0].start == "00:00:01.000"


# -- end to end, against the sandbox --------------------------------------------------------

def _track(job) -> CaptionTrack:
    job.refresh_from_db()
    assert job.status == Status.SUCCEEDED, (job.error_code, job.error_message)
    assert not [w for w in job.warnings if w.get("type") == "captions"], job.warnings
    return CaptionTrack.objects.select_related("asset").get(request=job)


def test_english_line_gets_a_track_timed_to_the_speech(worker, sandbox, make_image) -> None:
    job = wait_for_end(create_video_request(
        make_image(), prompt="A bottle on a desk.", language="en", spoken_line=LINE,
        speaker="A young woman", duration=5))
    track = _track(job)
    assert (track.language, track.timing, track.transcript) == ("en", CaptionTiming.TIMED, LINE)
    assert track.asset.kind == AssetKind.CAPTIONS and track.asset.mime == "text/vtt"
    text = read_vtt(track)
    assert text == track.webvtt
    parsed = webvtt_py.from_buffer(io.StringIO(text))
    assert abs(parsed.captions[0].start_in_seconds - voice.SPEECH_START) <= 0.5
    assert parsed.captions[-1].end_in_seconds <= job.video.duration
    assert " ".join(c.text.replace("\n", " ") for c in parsed.captions) == LINE
    assert "<v A young woman>" in text


def test_chinese_line_gets_zh_hans_cues(worker, sandbox, make_image, settings) -> None:
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "REQUIRE_APPROVAL": False}
    job = wait_for_end(create_video_request(make_image(), prompt="一只水瓶。", language="zh",
                                            spoken_line=LINE_ZH, duration=5))
    track = _track(job)
    assert (track.language, track.timing) == ("zh-Hans", CaptionTiming.TIMED)
    html = Template("{% load kling %}{% kling_video job %}").render(Context({"job": job}))
    assert 'srclang="zh-Hans"' in html
    parsed = webvtt_py.from_buffer(io.StringIO(read_vtt(track)))
    assert "".join(c.text.replace("\n", "") for c in parsed.captions) == LINE_ZH


@pytest.mark.parametrize("sound", [False, True])
def test_no_spoken_line_no_track(worker, sandbox, make_image, sound) -> None:
    job = wait_for_end(create_video_request(make_image(), prompt="Waves.", sound=sound))
    assert job.status == Status.SUCCEEDED
    assert not CaptionTrack.objects.filter(request=job).exists()
    assert not Asset.objects.filter(kind=AssetKind.CAPTIONS).exists()


def test_caption_failure_keeps_the_paid_clip(worker, sandbox, make_image, monkeypatch) -> None:
    def broken(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(captioning, "caption_clip", broken)
    job = wait_for_end(create_video_request(make_image(), language="en", spoken_line=LINE))
    assert job.status == Status.SUCCEEDED and job.video is not None
    assert [w["code"] for w in job.warnings if w.get("type") == "captions"] == [
        "captions_failed"]
    assert not CaptionTrack.objects.filter(request=job).exists()


def test_no_speech_found_makes_an_untimed_track_and_warns(worker, sandbox, make_image,
                                                          monkeypatch) -> None:
    monkeypatch.setattr("django_kling.files.captions.speech_in",
                        lambda source: Speech([], 5.0))
    job = wait_for_end(create_video_request(make_image(), language="en", spoken_line=LINE,
                                            duration=5))
    track = CaptionTrack.objects.get(request=job)
    assert track.timing == CaptionTiming.UNTIMED and track.is_untimed
    parsed = webvtt_py.from_buffer(io.StringIO(read_vtt(track)))
    assert parsed.captions[0].start == "00:00:00.000"
    assert [w["code"] for w in job.warnings if w.get("type") == "captions"] == [
        "captions_untimed"]


# -- editors --------------------------------------------------------------------------------

@pytest.fixture
def captioned(worker, sandbox, make_image):
    job = wait_for_end(create_video_request(make_image(), language="en", spoken_line=LINE,
                                            duration=5))
    return _track(job)


GOOD = "WEBVTT\n\n00:00:01.000 --> 00:00:03.000\nMeet the Aurora.\n"


@pytest.mark.parametrize("text, valid", [
    (GOOD, True),
    (GOOD.replace("00:00:03.000", "00:00:07.000"), False),  # past the 5 s clip
    (GOOD.replace("WEBVTT", "WEBVT"), False),
    (GOOD.replace("Meet the Aurora.", " "), False),
])
def test_form_validates_times_and_text(captioned, text, valid) -> None:
    form = CaptionTrackForm({"webvtt": text}, instance=captioned)
    assert form.is_valid() is valid, form.errors
    before = captioned.asset_id
    if valid:
        track = form.store()
        assert track.timing == CaptionTiming.EDITED and track.transcript == "Meet the Aurora."
        assert track.asset_id != before and read_vtt(track) == GOOD
        assert not Asset.objects.filter(pk=before).exists()  # the old file went
    else:
        assert CaptionTrack.objects.get(pk=captioned.pk).asset_id == before


def test_corrections_survive_until_regenerated(captioned) -> None:
    CaptionTrackForm({"webvtt": GOOD}, instance=captioned).is_valid()
    form = CaptionTrackForm({"webvtt": GOOD}, instance=captioned)
    assert form.is_valid()
    form.store()
    job = captioned.request
    with job.video.file.open("rb") as clip:
        kept = captioning.make_track(job, clip, 5.0)
    assert kept.webvtt == GOOD  # an automatic pass leaves the editor's text alone
    again = regenerate(job)
    assert again.timing == CaptionTiming.TIMED and again.transcript == LINE


def test_admin_correction_and_error(captioned, admin_client) -> None:
    from django.urls import reverse

    url = reverse("admin:django_kling_captiontrack_change", args=[captioned.pk])
    page = admin_client.get(url)
    assert page.status_code == 200 and b"<track kind=\"captions\"" in page.content
    bad = admin_client.post(url, {"webvtt": GOOD.replace("00:00:03.000", "00:00:00.500")})
    assert bad.status_code == 200 and b"ends before it starts" in bad.content
    assert CaptionTrack.objects.get(pk=captioned.pk).timing == CaptionTiming.TIMED
    assert admin_client.post(url, {"webvtt": GOOD}).status_code == 302
    assert CaptionTrack.objects.get(pk=captioned.pk).webvtt == GOOD
    change = reverse("admin:django_kling_videorequest_change", args=[captioned.request_id])
    assert b"Meet the Aurora." in admin_client.get(change).content  # beside the player


# -- the site -------------------------------------------------------------------------------

def test_template_track_description_and_jsonld(captioned, settings) -> None:
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "REQUIRE_APPROVAL": False}
    job = captioned.request
    html = Template('{% load kling %}{% kling_video job description="A bottle turns." %}'
                    "{% kling_video_jsonld job %}").render(Context({"job": job}))
    assert '<track kind="captions" srclang="en" label="English" src="' in html
    assert " default>" in html and "crossorigin" not in html  # same origin: no CORS
    assert 'aria-describedby="kling-description-' in html and "A bottle turns." in html
    assert '"transcript": "Meet the Aurora bottle.' in html and '"text/vtt"' in html


def test_remote_captions_are_crossorigin_once_cors_is_in_place(captioned, settings) -> None:
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "REQUIRE_APPROVAL": False}
    storage = captioned.asset.file.storage
    settings.MEDIA_URL = "https://cdn.example.com/media/"
    storage.__dict__.pop("base_url", None)

    def render() -> str:
        return Template("{% load kling %}{% kling_video job %}").render(
            Context({"job": captioned.request}))

    try:
        before = render()  # no word of a CORS rule: the clip must keep playing
        settings.DJANGO_KLING = {**settings.DJANGO_KLING, "CAPTIONS_CORS": True}
        html = render()
    finally:
        storage.__dict__.pop("base_url", None)
    assert "crossorigin" not in before and 'src="https://cdn.example.com/' in before
    assert 'crossorigin="anonymous"' in html and 'src="https://cdn.example.com/' in html


def test_deploy_check_warns_about_cors_on_remote_storage(s3_storage, settings) -> None:
    from django_kling.checks import check_deploy

    assert "django_kling.W005" in [w.id for w in check_deploy()]
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "CAPTIONS_CORS": True}
    assert "django_kling.W005" not in [w.id for w in check_deploy()]


def test_deploy_check_quiet_for_local_files(settings) -> None:
    from django_kling.checks import check_deploy

    assert "django_kling.W005" not in [w.id for w in check_deploy()]


def test_check_command_lists_w005(s3_storage, capsys) -> None:
    call_command("check", "--deploy", "--tag", "django_kling", fail_level="CRITICAL")
    assert "W005" in capsys.readouterr().err


def test_deleting_the_request_deletes_its_caption_file(captioned) -> None:
    storage, name = captioned.asset.file.storage, captioned.asset.file.name
    assert storage.exists(name)
    captioned.request.delete()
    assert not CaptionTrack.objects.exists()
    assert not Asset.objects.filter(kind=AssetKind.CAPTIONS).exists()
    assert not storage.exists(name)
