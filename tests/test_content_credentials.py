"""C2PA content credentials: every stored clip and poster carries a signed manifest that says
"made by a trained model", read back from storage with the C2PA library's own reader."""

from __future__ import annotations

import hashlib
import io
import json
import logging

import av
import pytest
from django.core import checks
from django.core.files.storage import storages
from django.core.management import call_command
from django.utils import timezone
from PIL import Image

from django_kling.checks import check_deploy
from django_kling.files import credentials, media
from django_kling.files.credentials import Provenance
from django_kling.jobs import create_video_request
from django_kling.models import Status
from django_kling.testing.certificates import development_credentials
from django_kling.testing.sandbox.render import render_clip

from .conftest import wait_for_end

c2pa = pytest.importorskip("c2pa")

TRAINED = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"


@pytest.fixture(scope="session")
def dev_credentials(tmp_path_factory) -> dict[str, str]:
    return development_credentials(tmp_path_factory.mktemp("c2pa"))


@pytest.fixture
def signing(settings, dev_credentials):
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "CONTENT_CREDENTIALS": dev_credentials}
    return dev_credentials


def stored_bytes(asset) -> bytes:
    with asset.file.storage.open(asset.file.name, "rb") as fh:
        return fh.read()


def read(data: bytes, mime: str):
    return c2pa.Reader(mime, io.BytesIO(data))


def assert_generated_by_a_model(data: bytes, mime: str, job) -> dict:
    reader = read(data, mime)
    results = reader.get_validation_results()["activeManifest"]
    # Structurally valid: every hash and the signature check out; only the signer is not on a
    # trust list (a development CA).
    assert reader.get_validation_state() == "Valid"
    assert [s["code"] for s in results.get("failure", [])] == ["signingCredential.untrusted"]
    assert "assertion.bmffHash.match" in {s["code"] for s in results["success"]} or \
        mime != "video/mp4"
    manifest = reader.get_active_manifest()
    [actions] = [a["data"]["actions"] for a in manifest["assertions"]
                 if a["label"].startswith("c2pa.actions")]
    [created] = [a for a in actions if a["action"] == "c2pa.created"]
    assert created["digitalSourceType"] == TRAINED
    assert created["softwareAgent"]["name"] == f"{job.model} ({job.provider})"
    [ingredient] = manifest["ingredients"]
    assert ingredient["metadata"][credentials.SHA256_KEY] == job.first_frame.sha256
    assert "thumbnail" not in ingredient  # by hash, not by pixels
    return manifest


@pytest.mark.parametrize("where", ["local", "s3"])
def test_a_stored_clip_carries_valid_credentials(request, worker, sandbox, signing, make_image,
                                                 where):
    if where == "s3":
        request.getfixturevalue("s3_storage")
    job = wait_for_end(create_video_request(make_image(640, 360), prompt="It turns."))
    assert job.status == Status.SUCCEEDED, job.error_message
    assert "clip_unsigned" not in {w.get("code") for w in job.warnings}
    # Read back from the storage itself (moto's S3 server, or the media folder).
    storage = storages["videos" if where == "s3" else "default"]
    with storage.open(job.video.file.name, "rb") as fh:
        clip = fh.read()
    assert len(clip) == job.video.size
    assert_generated_by_a_model(clip, "video/mp4", job)
    assert_generated_by_a_model(stored_bytes(job.poster), "image/jpeg", job)
    # One byte changed in the middle of the media data: the hash no longer matches.
    tampered = bytearray(clip)
    tampered[len(clip) // 2] ^= 0x01
    reader = read(bytes(tampered), "video/mp4")
    assert reader.get_validation_state() == "Invalid"
    failures = {s["code"] for s in reader.get_validation_results()["activeManifest"]["failure"]}
    assert "assertion.bmffHash.mismatch" in failures
    assert sandbox.bill_count == 1


def test_signing_keeps_the_clip_playable(signing, tmp_path):
    clip = render_clip(Image.new("RGB", (320, 180), (10, 120, 200)), None, width=320,
                       height=180, duration=5, audio=True)
    source, signed = tmp_path / "in.mp4", tmp_path / "out.mp4"
    source.write_bytes(clip)
    facts = Provenance(software_agent="model (sandbox)", created=timezone.now())
    size, sha256 = credentials.sign_file(str(source), str(signed), mime="video/mp4",
                                         title="video.mp4", provenance=facts)
    assert size == signed.stat().st_size and size > len(clip)
    before, after = media.probe(source), media.probe(signed)
    assert (after.duration, after.fps, after.width, after.height, after.has_audio) == (
        before.duration, before.fps, before.width, before.height, before.has_audio)

    def frames(path) -> int:
        with av.open(str(path)) as container:
            return sum(1 for _ in container.decode(video=0))

    assert frames(signed) == frames(source) == 150
    assert media.poster_jpeg(signed)[1:] == media.poster_jpeg(source)[1:]


def test_source_thumbnail_only_when_asked(signing, settings, tmp_path, make_image):
    from django_kling.files.credentials import Ingredient

    picture = make_image(640, 360)
    source = Ingredient(title="mug.png", mime="image/png", sha256=hashlib.sha256(
        picture).hexdigest(), open=lambda: io.BytesIO(picture))
    facts = Provenance(software_agent="model (sandbox)", created=timezone.now(),
                       ingredients=(source,))
    poster = make_image(320, 180, fmt="JPEG")
    plain = read(credentials.sign_bytes(poster, mime="image/jpeg", title="poster.jpg",
                                        provenance=facts), "image/jpeg")
    [ingredient] = plain.get_active_manifest()["ingredients"]
    assert "thumbnail" not in ingredient and "thumbnail" not in plain.get_active_manifest()
    assert ingredient["metadata"][credentials.SHA256_KEY] == source.sha256
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "CONTENT_CREDENTIALS": {
        **signing, "SOURCE_THUMBNAIL": True}}
    shown = read(credentials.sign_bytes(poster, mime="image/jpeg", title="poster.jpg",
                                        provenance=facts), "image/jpeg")
    assert shown.get_validation_state() == "Valid"
    [ingredient] = shown.get_active_manifest()["ingredients"]
    assert ingredient["title"] == "mug.png" and "thumbnail" in ingredient


def test_a_signing_failure_keeps_the_clip_with_a_warning(worker, sandbox, signing, settings,
                                                         make_image, tmp_path, caplog):
    bad_key = tmp_path / "key.pem"
    bad_key.write_text("-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n")
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "CONTENT_CREDENTIALS": {
        **signing, "PRIVATE_KEY": str(bad_key)}}
    with caplog.at_level(logging.WARNING, logger="django_kling.flow.signing"):
        job = wait_for_end(create_video_request(make_image(640, 360)))
    assert job.status == Status.SUCCEEDED, job.error_message
    [warning] = [w for w in job.warnings if w.get("code") == "clip_unsigned"]
    assert warning["code"] == "clip_unsigned" and "kling_sign" in warning["message"]
    assert "bm90IGEga2V5" not in json.dumps(job.warnings) + caplog.text  # the key stays out
    assert f"job {job.pk}: the clip is stored unsigned" in caplog.text
    clip = stored_bytes(job.video)
    assert len(clip) == job.video.size and job.video.duration == pytest.approx(5, abs=0.1)
    with pytest.raises(c2pa.C2paError):
        read(clip, "video/mp4")  # no manifest at all
    assert sandbox.bill_count == 1

    # Once the key is fixed, kling_sign signs it and takes the warning away.
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "CONTENT_CREDENTIALS": signing}
    out = io.StringIO()
    call_command("kling_sign", stdout=out)
    assert "1 clip(s) signed" in out.getvalue()
    job.refresh_from_db()
    assert "clip_unsigned" not in {w.get("code") for w in job.warnings}


@pytest.mark.parametrize("where", ["local", "s3"])
def test_kling_sign_signs_old_clips_once(request, worker, sandbox, settings, make_image,
                                         dev_credentials, where):
    if where == "s3":
        request.getfixturevalue("s3_storage")
    old = wait_for_end(create_video_request(make_image(640, 360)))
    unsigned_name = old.video.file.name
    with pytest.raises(c2pa.C2paError):
        read(stored_bytes(old.video), "video/mp4")
    with pytest.raises(Exception, match="No signing certificate"):
        call_command("kling_sign", stdout=io.StringIO())

    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "CONTENT_CREDENTIALS": dev_credentials}
    out = io.StringIO()
    call_command("kling_sign", stdout=out)
    assert "1 clip(s) signed, 0 already signed, 0 failed" in out.getvalue()
    old.refresh_from_db()
    old.video.refresh_from_db()
    old.poster.refresh_from_db()
    clip = stored_bytes(old.video)
    assert old.video.file.name != unsigned_name
    assert not old.video.file.storage.exists(unsigned_name)  # the unsigned copy is gone
    assert (old.video.size, len(clip)) == (len(clip), len(clip))
    assert old.video.sha256 == hashlib.sha256(clip).hexdigest()
    manifest = assert_generated_by_a_model(clip, "video/mp4", old)
    [action] = [a for a in manifest["assertions"] if a["label"].startswith("c2pa.actions")]
    assert action["data"]["actions"][0]["when"].startswith(old.finished_at.date().isoformat())
    assert_generated_by_a_model(stored_bytes(old.poster), "image/jpeg", old)

    again = io.StringIO()
    call_command("kling_sign", stdout=again)  # idempotent: nothing is signed twice
    assert "0 clip(s) signed, 1 already signed" in again.getvalue()
    old.video.refresh_from_db()
    assert stored_bytes(old.video) == clip


def test_deploy_check_without_a_certificate(settings, signing, tmp_path):
    assert "django_kling.W007" not in {m.id for m in check_deploy()}
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "CONTENT_CREDENTIALS": {
        **signing, "PRIVATE_KEY": str(tmp_path / "missing.pem")}}
    [warning] = [m for m in check_deploy() if m.id == "django_kling.W007"]
    assert "cannot be read" in warning.msg
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "CONTENT_CREDENTIALS": {}}
    [warning] = [m for m in check_deploy() if m.id == "django_kling.W007"]
    assert "no signing certificate" in warning.msg and "Article 50" in warning.msg
    assert "CONTENT_CREDENTIALS" in warning.hint and "kling_sign" in warning.hint
    assert warning.level == checks.WARNING


def test_unconfigured_clips_are_stored_unsigned_without_a_warning(worker, sandbox, make_image):
    job = wait_for_end(create_video_request(make_image(640, 360)))
    assert job.status == Status.SUCCEEDED
    assert "clip_unsigned" not in {w.get("code") for w in job.warnings}
    assert credentials.has_manifest(io.BytesIO(stored_bytes(job.video)), "video/mp4") is False


@pytest.mark.django_db
def test_renditions_and_picked_posters_carry_the_credentials_too(sandbox, signing, make_image):
    """A phone plays the 480p rendition and shows its WebP poster: both are marked, like the
    clip; so is the poster an editor picks (the manifest is made when each file is)."""
    from django_kling.clip_renditions import Rendition
    from django_kling.editorial.posters import choose_poster
    from django_kling.flow import renditions

    from .conftest import run_steps

    sandbox.render_scale = 0.5  # 960x540: a 480p rendition only
    job = create_video_request(make_image(640, 360), prompt="It turns.")
    run_steps(job.pk)
    job.refresh_from_db()
    assert job.status == Status.SUCCEEDED, job.error_message
    [pk] = renditions.start(job.video)
    assert renditions.make(pk)
    row = Rendition.objects.select_related("asset", "poster").get(pk=pk)
    data = stored_bytes(row.asset)
    assert row.asset.size == len(data) and row.asset.sha256 == hashlib.sha256(data).hexdigest()
    assert_generated_by_a_model(data, "video/mp4", job)
    assert_generated_by_a_model(stored_bytes(row.poster), "image/webp", job)
    picked = choose_poster(job, 1.0)
    assert_generated_by_a_model(stored_bytes(picked), "image/webp", job)
    assert not [w for w in VideoRequestRow(job).warnings if w.get("code") == "clip_unsigned"]


def VideoRequestRow(job):  # noqa: N802  (reads like the row it returns)
    from django_kling.models import VideoRequest

    return VideoRequest.objects.get(pk=job.pk)
