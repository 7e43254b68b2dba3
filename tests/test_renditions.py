"""Issue 25: every stored file is faststart, and a clip gets smaller renditions after it is stored.

Clips are made by real jobs against the sandbox (its steps run in this thread, as in
``test_templatetags``); renditions are encoded by the same function the ``kling_rendition``
actor runs, and every file is read back: its box order, and PyAV's probe of its streams.
"""

from __future__ import annotations

import io
import os
from datetime import timedelta
from io import StringIO
from pathlib import Path

import av
import pytest
from django.core.files.storage import FileSystemStorage
from django.core.management import call_command
from django.template import Context, Template
from django.utils import timezone
from PIL import Image

from django_kling.clip_renditions import Rendition, RenditionStatus
from django_kling.files import faststart, media
from django_kling.files import renditions as encoder
from django_kling.files.frames import ENCODED_SUFFIX
from django_kling.flow import renditions, sync
from django_kling.jobs import create_video_request
from django_kling.models import Asset, StagedFile, Status, VideoRequest
from django_kling.site.clips import resolve_clip
from django_kling.testing.sandbox.render import render_clip

from .conftest import run_steps

pytestmark = pytest.mark.django_db

RENDITIONS = [
    {"name": "480p", "height": 480, "max_bitrate": 1_000_000, "audio_bitrate": 96_000,
     "media": "(max-width: 640px)"},
    {"name": "720p", "height": 720, "max_bitrate": 2_500_000, "audio_bitrate": 128_000,
     "media": "(max-width: 1280px)"},
]


class Killed(BaseException):
    """What a SIGKILL is to the code it interrupts: nothing after it runs."""


class DyingStorage(FileSystemStorage):
    #: A fragment of a name: die right after writing the first file whose name holds it.
    die_after: str = ""

    def _save(self, name, content):
        saved = super()._save(name, content)
        if DyingStorage.die_after and DyingStorage.die_after in name:
            DyingStorage.die_after = ""
            raise Killed(name)
        return saved


@pytest.fixture
def storage(settings, tmp_path) -> Path:
    settings.STORAGES = {**settings.STORAGES, "videos": {
        "BACKEND": f"{__name__}.DyingStorage", "OPTIONS": {"location": str(tmp_path / "s")}}}
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "STORAGE": "videos",
                             "RENDITIONS": RENDITIONS}
    yield tmp_path / "s"
    DyingStorage.die_after = ""


def stored_job(sandbox, make_image, *, scale: float, sound: bool = True) -> VideoRequest:
    """A real job run to its end (pro 16:9 is 1920x1080 at scale 1)."""
    sandbox.render_scale = scale
    job = create_video_request(make_image(640, 360), prompt="The bottle turns.", sound=sound)
    run_steps(job.pk)
    job.refresh_from_db()
    assert job.status == Status.SUCCEEDED, (job.error_code, job.error_message)
    return job


def local(asset: Asset, tmp_path: Path) -> Path:
    path = tmp_path / f"copy-{asset.pk}.mp4"
    with asset.file.open("rb") as fh:
        path.write_bytes(fh.read())
    return path


def video_duration(path: Path) -> float:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return float(stream.duration * stream.time_base)


# -- faststart --------------------------------------------------------------------------------


def test_a_provider_file_with_the_index_last_is_remuxed_without_reencoding(tmp_path):
    first, last = Image.new("RGB", (64, 36), (200, 30, 30)), Image.new("RGB", (64, 36), "blue")
    path = tmp_path / "clip.mp4"
    path.write_bytes(render_clip(first, last, width=320, height=180, duration=1, audio=True))
    boxes = faststart.top_level_boxes(path)
    assert boxes.index("mdat") < boxes.index("moov")  # what PyAV (and most muxers) write

    def packets(p: Path) -> list[bytes]:
        with av.open(str(p)) as container:
            return [bytes(packet) for packet in container.demux() if packet.size]

    before = packets(path)
    size, sha256 = faststart.make_faststart(str(path))
    boxes = faststart.top_level_boxes(path)
    assert boxes.index("moov") < boxes.index("mdat")
    assert packets(path) == before  # the very same compressed frames: no re-encoding
    assert size == path.stat().st_size and len(sha256) == 64
    assert faststart.make_faststart(str(path)) is None  # already faststart: left alone


def test_every_stored_clip_is_faststart(sandbox, make_image, storage, tmp_path):
    job = stored_job(sandbox, make_image, scale=0.25)
    path = local(job.video, tmp_path)
    assert faststart.is_faststart(path), faststart.top_level_boxes(path)
    assert job.video.size == path.stat().st_size
    assert media.probe(path).duration == pytest.approx(5.0, abs=0.05)


# -- renditions --------------------------------------------------------------------------------


def test_a_1080p_clip_gets_720p_and_480p_renditions(sandbox, make_image, storage, tmp_path,
                                                    django_capture_on_commit_callbacks):
    job = stored_job(sandbox, make_image, scale=1.0)
    assert (job.video.width, job.video.height) == (1920, 1080)
    pks = renditions.start(job.video)
    assert len(pks) == 2
    for pk in pks:
        assert renditions.make(pk) is True
    original = local(job.video, tmp_path)
    frame = 1 / job.video.fps
    for row in Rendition.objects.filter(clip=job.video).select_related("asset"):
        spec = {s["name"]: s for s in RENDITIONS}[row.name]
        asset = row.asset
        assert row.status == RenditionStatus.READY and asset is not None
        path = local(asset, tmp_path)
        boxes = faststart.top_level_boxes(path)
        assert boxes.index("moov") < boxes.index("mdat"), (row.name, boxes)
        info = media.probe(path, require_audio=True)
        assert info.height == spec["height"] == asset.height
        assert info.width == asset.width == round(spec["height"] * 16 / 9 / 2) * 2
        assert (info.video_codec, info.audio_codec) == ("h264", "aac")
        assert abs(video_duration(path) - video_duration(original)) <= frame
        assert asset.size == path.stat().st_size and asset.mime == "video/mp4"
        assert row.bitrate == pytest.approx(asset.size * 8 / asset.duration, rel=0.01)
        assert asset.size < job.video.size
        assert row.poster is not None and (row.poster.width, row.poster.height) == (
            asset.width, asset.height)
    # The clip itself is untouched, and nothing is left staged.
    job.refresh_from_db()
    assert job.status == Status.SUCCEEDED
    assert not [w for w in job.warnings if w["type"] == "rendition"]
    assert not StagedFile.objects.exists()
    # Deleting the request deletes the renditions' files too, once the delete commits.
    names = [a.file.name for a in Asset.objects.all()]
    with django_capture_on_commit_callbacks(execute=True):
        job.delete()
    assert not Rendition.objects.exists()
    assert not [name for name in names if (storage / name).exists()]


def test_a_clip_is_never_upscaled(sandbox, make_image, storage):
    job = stored_job(sandbox, make_image, scale=0.5)  # 960x540: 480p only
    assert [row.name for row in renditions.plan_rows(job.video)] == ["480p"]
    assert encoder.plan(1280, 720, RENDITIONS) == [RENDITIONS[0]]
    assert encoder.plan(854, 480, RENDITIONS) == []
    assert encoder.scaled_size(1080, 1920, 480) == (480, 854)  # portrait: the short side


def test_a_rendition_that_keeps_failing_is_reported_and_the_clip_kept(
        sandbox, make_image, storage, monkeypatch):
    job = stored_job(sandbox, make_image, scale=0.5)
    [pk] = renditions.start(job.video)

    def broken(*args, **kwargs):
        raise av.FFmpegError(1, "encoder broke")

    monkeypatch.setattr(encoder, "encode", broken)
    for _attempt in range(renditions.RENDITION_ATTEMPTS - 1):
        with pytest.raises(av.FFmpegError):
            renditions.make(pk)  # raised: Dramatiq retries it
        assert Rendition.objects.get(pk=pk).status == RenditionStatus.PENDING
    assert renditions.make(pk) is False  # the last try reports instead
    row = Rendition.objects.get(pk=pk)
    assert row.status == RenditionStatus.FAILED and "FFmpegError" in row.error
    job.refresh_from_db()
    assert job.status == Status.SUCCEEDED and job.video is not None
    assert [w["code"] for w in job.warnings if w["type"] == "rendition"] == ["rendition_failed"]
    assert renditions.make(pk) is False  # a late duplicate message does nothing


def test_a_worker_killed_while_making_a_rendition(sandbox, make_image, storage, tmp_path):
    job = stored_job(sandbox, make_image, scale=0.5)
    clip_before = (job.video.file.name, job.video.size, job.video.sha256)
    [pk] = renditions.start(job.video)
    DyingStorage.die_after = "/video/"
    with pytest.raises(Killed):
        renditions.make(pk)
    assert StagedFile.objects.filter(kind=renditions.staged_kind(pk)).count() == 1
    assert renditions.make(pk) is False  # a redelivered message: the claim still holds
    assert str(pk) not in sync.sync(grace=0).requeued.get("rendition", [])
    # The dead worker's claim runs out: kling_sync sends it again, and it is made.
    Rendition.objects.filter(pk=pk).update(claimed_until=timezone.now() - timedelta(seconds=1))
    assert sync.sync(grace=0).requeued["rendition"] == [str(pk)]
    assert renditions.make(pk) is True
    files = {str(p.relative_to(storage)) for p in storage.rglob("*") if p.is_file()
             and not p.name.endswith(ENCODED_SUFFIX)}  # a frame's base64 companion
    assert files == set(Asset.objects.values_list("file", flat=True)) - {""}  # no orphan
    assert not StagedFile.objects.exists()
    job.refresh_from_db()
    assert (job.video.file.name, job.video.size, job.video.sha256) == clip_before
    assert Rendition.objects.get(pk=pk).attempts == 2


def test_kling_renditions_makes_older_clips_faststart_and_their_renditions(
        sandbox, make_image, storage, tmp_path, settings, django_capture_on_commit_callbacks):
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "RENDITIONS": []}
    job = stored_job(sandbox, make_image, scale=0.5)
    # A clip stored before faststart existed: its index last.
    first, last = Image.new("RGB", (64, 36), "red"), Image.new("RGB", (64, 36), "blue")
    old = render_clip(first, last, width=960, height=540, duration=1, audio=True)
    with job.video.file.storage.open(job.video.file.name, "wb") as fh:
        fh.write(old)
    assert not faststart.is_faststart(io.BytesIO(old))
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "RENDITIONS": RENDITIONS}
    out = StringIO()
    with django_capture_on_commit_callbacks(execute=True):  # the old file goes on commit
        call_command("kling_renditions", stdout=out)
    assert "1 rendition(s) made, 1 clip(s) made faststart." in out.getvalue()
    job.refresh_from_db()
    path = local(job.video, tmp_path)
    assert faststart.is_faststart(path) and job.video.size == path.stat().st_size
    assert [r.name for r in Rendition.objects.filter(status=RenditionStatus.READY)] == ["480p"]
    files = {str(p.relative_to(storage)) for p in storage.rglob("*") if p.is_file()
             and not p.name.endswith(ENCODED_SUFFIX)}  # a frame's base64 companion
    assert files == set(Asset.objects.values_list("file", flat=True)) - {""}
    out = StringIO()
    call_command("kling_renditions", stdout=out)  # again: nothing left to do
    assert "0 rendition(s) made, 0 clip(s) made faststart." in out.getvalue()


# -- the site ---------------------------------------------------------------------------------


def test_the_video_tag_lists_the_renditions_smallest_first_then_the_original(
        sandbox, make_image, storage, settings):
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "REQUIRE_APPROVAL": False}
    job = stored_job(sandbox, make_image, scale=0.5)
    html = Template("{% load kling %}{% kling_video job.video %}").render(
        Context({"job": job}))
    assert html.count("<source") == 1  # no rendition yet: the original alone
    [pk] = renditions.start(job.video)
    renditions.make(pk)
    clip = resolve_clip(job.video)
    html = Template("{% load kling %}{% kling_video clip %}").render(Context({"clip": clip}))
    sources = [line.strip() for line in html.splitlines() if "<source" in line]
    small = Rendition.objects.get(pk=pk).asset
    assert sources == [
        f'<source src="{small.file.url}" type="video/mp4" media="(max-width: 640px)">',
        f'<source src="{job.video.file.url}" type="video/mp4">']
    assert os.path.basename(small.file.name) != os.path.basename(job.video.file.name)


@pytest.mark.parametrize("value, ok", [
    (RENDITIONS, True), ([], True),
    ([{"name": "480p", "height": "480", "max_bitrate": 1}], False),
    ([{"name": "a", "height": 480, "max_bitrate": 1}] * 2, False),
    ("480p", False),
])
def test_the_renditions_setting_is_checked(settings, value, ok):
    from django_kling.checks import check_settings

    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "RENDITIONS": value}
    ids = [e.id for e in check_settings(None)]
    assert ("django_kling.E020" not in ids) is ok


def test_a_clip_deleted_while_its_rendition_is_made_leaves_no_file(
        sandbox, make_image, storage, monkeypatch, django_capture_on_commit_callbacks):
    job = stored_job(sandbox, make_image, scale=0.5)
    [pk] = renditions.start(job.video)
    real_encode = encoder.encode

    def encode_then_delete(*args, **kwargs):
        encoded = real_encode(*args, **kwargs)
        with django_capture_on_commit_callbacks(execute=True):
            VideoRequest.objects.get(pk=job.pk).delete()  # an editor deletes the request
        return encoded

    monkeypatch.setattr(encoder, "encode", encode_then_delete)
    assert renditions.make(pk) is False
    assert not Asset.objects.filter(kind="video").exists()
    assert [p for p in storage.rglob("*") if p.is_file() and "/video/" in str(p)] == []
    assert not StagedFile.objects.exists()
