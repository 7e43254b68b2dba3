"""The management commands, in-process and as a user runs them on the example shop."""

import io

import pytest
from django.core.management import CommandError, call_command

from django_kling.models import VideoRequest
from django_kling.testing.worker import stop_embedded_worker

from .example_shop import manage, shop_environment


@pytest.fixture
def no_embedded_worker_left():
    yield
    stop_embedded_worker()


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_generate_wait_succeeds(worker, sandbox, make_image, tmp_path, no_embedded_worker_left):
    image = tmp_path / "bottle.png"
    image.write_bytes(make_image(960, 540))
    output = run("kling_generate", str(image), "--prompt", "The bottle turns.", "--wait",
                 "--timeout", "60")
    assert "Succeeded:" in output and "30 fps" in output and "audio yes" in output
    job = VideoRequest.objects.get()
    assert job.status == "succeeded" and job.prompt == "The bottle turns."
    assert sandbox.bill_count == 1

    assert str(job.pk) in run("kling_status")
    detail = run("kling_status", str(job.pk)[:8])
    assert "succeeded" in detail and "The bottle turns." in detail


def test_generate_with_another_provider(worker, sandbox, make_image, tmp_path,
                                        no_embedded_worker_left):
    image = tmp_path / "jar.png"
    image.write_bytes(make_image(960, 540))
    output = run("kling_generate", str(image), "--provider", "kling", "--wait",
                 "--timeout", "60")
    assert "Succeeded:" in output
    job = VideoRequest.objects.get()
    assert (job.provider, job.status) == ("kling", "succeeded")
    assert sandbox.billed_by == {"kling": {job.idempotency_key: 1}}


def test_generate_from_an_object(worker, sandbox, make_image, no_embedded_worker_left):
    from django.core.files.base import ContentFile

    from tests.shop.models import Product

    product = Product(name="Salt")
    product.image.save("salt.jpg", ContentFile(make_image(640, 640, fmt="JPEG")), save=True)
    output = run("kling_generate", f"shop.Product:{product.pk}", "--no-sound", "--mode", "std",
                 "--aspect-ratio", "1:1", "--wait", "--timeout", "60")
    assert "audio no" in output
    job = VideoRequest.objects.get()
    assert (job.source_object, job.field_name, job.generate_audio) == (product, "image", False)


def make_bad_inputs(make_image, tmp_path):
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(make_image(640, 360, fmt="JPEG")[:300])
    small = tmp_path / "small.png"
    small.write_bytes(make_image(200, 200))
    wide = tmp_path / "wide.png"
    wide.write_bytes(make_image(1500, 500))
    good = tmp_path / "good.png"
    good.write_bytes(make_image(640, 360))
    return [
        ([str(corrupt)], "image_unreadable"),
        ([str(small)], "image_too_small"),
        ([str(wide)], "image_aspect"),
        ([str(good), "--prompt", "x" * 3000], "prompt_too_long"),
        ([str(tmp_path / "missing.png")], "image_missing"),
        (["shop.Product:999"], "source_missing"),
    ]


@pytest.mark.django_db
def test_bad_inputs_exit_non_zero_and_reach_no_provider(sandbox, make_image, tmp_path):
    for args, code in make_bad_inputs(make_image, tmp_path):
        with pytest.raises(CommandError) as caught:
            run("kling_generate", *args)
        assert f"[{code}]" in str(caught.value), (args, str(caught.value))
    assert VideoRequest.objects.count() == 0
    assert sandbox.calls == [] and sandbox.bill_count == 0


def test_kling_status_empty(db):
    assert "No video requests." in run("kling_status")
    with pytest.raises(CommandError):
        run("kling_status", "nope")


def test_sync_requeues_lost_work(worker, sandbox, make_image, django_capture_on_commit_callbacks):
    from django_kling.jobs import create_video_request

    # Created, but the message never left (a crash between commit and send).
    with django_capture_on_commit_callbacks(execute=False):
        job = create_video_request(make_image())
    assert "0 request(s)" in run("kling_sync")  # not overdue yet
    assert "1 request(s)" in run("kling_sync", "--grace", "0")
    from .conftest import wait_for_end

    assert wait_for_end(job).status == "succeeded"
    assert sandbox.bill_count == 1


# -- the example shop, as a user runs it ------------------------------------------------------


@pytest.fixture
def shop_env(tmp_path):
    return shop_environment(tmp_path, sandbox_delay=0.5)


def test_example_shop_generate_wait(shop_env, tmp_path):
    result = manage("kling_generate", "shop.Product:1", "--prompt", "The bottle turns.",
                    "--duration", "10", "--wait", env=shop_env)
    assert result.returncode == 0, result.stderr
    assert "Succeeded:" in result.stdout and "10.00s" in result.stdout
    # The demo signs its clips out of the box, with the development certificate it made.
    c2pa = pytest.importorskip("c2pa")
    [clip] = (tmp_path / "media").rglob("*.mp4")
    with open(clip, "rb") as fh:
        reader = c2pa.Reader("video/mp4", fh)
        assert reader.get_validation_state() == "Valid"
        assert "Development content signer" in reader.json()

    bad = tmp_path / "tiny.png"
    from PIL import Image

    Image.new("RGB", (200, 200)).save(bad)
    result = manage("kling_generate", str(bad), "--wait", env=shop_env)
    assert result.returncode == 1
    assert "300" in result.stderr and "[image_too_small]" in result.stderr


@pytest.mark.parametrize("provider", ["kling", "fal", "replicate"])
def test_example_shop_generate_with_each_provider(shop_env, provider):
    # fal's endpoint is the pro one: the capability registry refuses std there.
    mode = "pro" if provider == "fal" else "std"
    result = manage("kling_generate", "shop.Product:1", "--provider", provider, "--no-sound",
                    "--mode", mode, "--wait", env=shop_env)
    assert result.returncode == 0, result.stderr
    assert "Succeeded:" in result.stdout and "audio no" in result.stdout


def test_sync_on_boot_puts_stuck_work_back(worker, sandbox, make_image,
                                           django_capture_on_commit_callbacks):
    from datetime import timedelta

    from django.utils import timezone

    from django_kling.jobs import create_video_request
    from django_kling.middleware import SyncOnBoot

    from .conftest import wait_for_end

    with django_capture_on_commit_callbacks(execute=False):
        job = create_video_request(make_image())
    VideoRequest.objects.filter(pk=job.pk).update(
        next_check_at=timezone.now() - timedelta(hours=1))
    SyncOnBoot().after_worker_boot(None, None)
    assert wait_for_end(job).status == "succeeded"
    assert sandbox.bill_count == 1


@pytest.mark.django_db
def test_cancel_and_retry(sandbox, make_image, django_capture_on_commit_callbacks):
    from django_kling.jobs import create_video_request

    with django_capture_on_commit_callbacks(execute=False):
        job = create_video_request(make_image())
        assert "Canceled" in run("kling_cancel", str(job.pk)[:8])
        job.refresh_from_db()
        assert job.status == "canceled"
        with pytest.raises(CommandError, match="already ended"):
            run("kling_cancel", str(job.pk))
        output = run("kling_retry", str(job.pk))
    retried = VideoRequest.objects.exclude(pk=job.pk).get()
    assert str(retried.pk) in output and retried.first_frame_id == job.first_frame_id
    with pytest.raises(CommandError, match="No single video request"):
        run("kling_retry", "zzz")


@pytest.mark.django_db
def test_output_carries_no_terminal_control_characters(make_image):
    # Issue 13, item 11: names and provider errors are someone else's text.
    from django.core.files.base import ContentFile

    from django_kling.flow.pipeline import fail
    from django_kling.jobs import create_video_request
    from django_kling.management.commands.kling_status import Command
    from tests.shop.models import Product

    product = Product(name="\x1b]0;owned\x07Sea salt\u202e")
    product.image.save("salt.png", ContentFile(make_image()), save=True)
    job = create_video_request(source=product, field_name="image")
    fail(job, "generation_failed", "\x1b[2J\x1b[1;1HKling\x9b31m refused\r")
    detail = run("kling_status", str(job.pk))
    listing = run("kling_status")
    for text in (detail, listing):
        assert not any(c in text for c in "\x1b\x07\x9b\r\u202e")
    assert "Sea salt" in detail and "Kling31m refused" in detail
    err = io.StringIO()
    Command(stderr=err).stderr.write("CommandError: \x1b[31mred")  # how errors are printed
    assert err.getvalue() == "CommandError: [31mred\n"
