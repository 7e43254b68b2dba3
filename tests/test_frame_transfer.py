"""How frames reach the provider (issue 27): encoded once when stored, or a short-lived signed URL.

The sandbox is the provider: it decodes inline frames and fetches URL frames for real (from
moto's S3 server here), refusing a URL that has expired as S3 would.
"""

import base64
import time
import urllib.error
import urllib.request

import pytest
from django.core.files.storage import storages
from django.db import connection
from django.test.utils import CaptureQueriesContext

from django_kling.files import frames
from django_kling.flow import pipeline
from django_kling.jobs import create_video_request
from django_kling.models import Status, VideoRequest
from django_kling.providers.gateway.provider import GatewayProvider
from django_kling.testing.sandbox import signed_urls

from .conftest import run_steps

pytestmark = pytest.mark.django_db


def start_bodies(sandbox) -> list[dict]:
    """The bodies of the calls that carried a frame (the start calls)."""
    return [call.json for call in sandbox.calls
            if call.method == "POST" and isinstance(call.json, dict) and sent_image(call.json)]


def sent_image(body: dict):
    """The first frame as a provider's start body carries it (any of the four providers)."""
    for key in ("image", "start_image_url"):
        if key in body:
            return body[key]
    return body.get("input", {}).get("start_image")


@pytest.fixture
def big_encodings(monkeypatch) -> list[int]:
    """The length of everything base64-encoded in this process (frames are matched by size)."""
    counted: list[int] = []
    original = base64.b64encode

    def counting(data, *args, **kwargs):
        counted.append(len(data))
        return original(data, *args, **kwargs)

    monkeypatch.setattr(base64, "b64encode", counting)
    return counted


def test_a_frame_is_encoded_once_when_stored_and_never_per_try(sandbox, make_image,
                                                              big_encodings):
    job = create_video_request(make_image(800, 600))
    storage, name = job.first_frame.file.storage, job.first_frame.file.name
    with storage.open(name, "rb") as fh:
        stored = fh.read()
    with storage.open(frames.encoded_name(name), "rb") as fh:
        assert base64.b64decode(fh.read()) == stored
    assert big_encodings.count(len(stored)) == 1  # when it was stored
    sandbox.set_fault("rate_limit", times=1, retry_after=0.1)  # a second try
    run_steps(job.pk)
    job.refresh_from_db()
    assert job.status == Status.SUCCEEDED, job.error_message
    assert job.submit_attempts == 2
    assert big_encodings.count(len(stored)) == 1  # neither try encoded it again
    images = [sent_image(body) for body in start_bodies(sandbox)]
    assert images and all(image["type"] == "file" for image in images)


@pytest.mark.parametrize("damage", ["missing", "cut short"])
def test_a_frame_without_its_encoded_form_is_encoded_on_sending(sandbox, make_image, damage):
    job = create_video_request(make_image(800, 600))
    storage, name = job.first_frame.file.storage, job.first_frame.file.name
    storage.delete(frames.encoded_name(name))
    if damage == "cut short":
        storage.save(frames.encoded_name(name), __import__("io").BytesIO(b"iVBORw0KGgo="))
    run_steps(job.pk)
    job.refresh_from_db()
    assert job.status == Status.SUCCEEDED, job.error_message


def test_deleting_a_request_deletes_the_encoded_form(sandbox, make_image,
                                                     django_capture_on_commit_callbacks):
    job = create_video_request(make_image())
    storage, name = job.first_frame.file.storage, job.first_frame.file.name
    assert storage.exists(frames.encoded_name(name))
    with django_capture_on_commit_callbacks(execute=True):
        VideoRequest.objects.filter(pk=job.pk).delete()
    assert not storage.exists(name) and not storage.exists(frames.encoded_name(name))


def test_a_submit_is_three_statements(sandbox, make_image):
    job = create_video_request(make_image())
    with CaptureQueriesContext(connection) as captured:
        pipeline.submit_step(job.pk)
    statements = [q["sql"] for q in captured.captured_queries
                  if not q["sql"].startswith(("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE"))]
    # The load (the throttle check rides in it), the move to submitting with the try's
    # count, and the move to running (it was ten: two locked read-modify-write moves, a
    # throttle check and a reload).
    assert len(statements) <= 3, statements
    assert VideoRequest.objects.get(pk=job.pk).status == Status.RUNNING


@pytest.mark.parametrize("provider", ["gateway", "kling", "fal", "replicate"])
def test_s3_frames_go_as_short_lived_signed_urls(sandbox, s3_storage, make_image, settings,
                                                 provider):
    # moto serves plain http on loopback: "auto" would keep it inline (an internal endpoint).
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "FRAME_URL_EXPIRY": 120,
                             "IMAGE_TRANSFER": "url"}
    job = create_video_request(make_image(800, 600), provider=provider)
    storage, name = storages[s3_storage], job.first_frame.file.name
    assert not storage.exists(frames.encoded_name(name))  # nothing to encode: it goes as a URL
    run_steps(job.pk)
    job.refresh_from_db()
    assert job.status == Status.SUCCEEDED, job.error_message
    image = sent_image(start_bodies(sandbox)[-1])
    url = image["url"] if isinstance(image, dict) else image
    assert "Signature=" in url  # signed (SigV2 or SigV4), valid for FRAME_URL_EXPIRY seconds
    assert not signed_urls.expired(url, now=time.time() + 100)
    assert signed_urls.expired(url, now=time.time() + 125)
    with pytest.raises(urllib.error.HTTPError):  # the bucket stays private
        urllib.request.urlopen(url.split("?")[0])  # noqa: S310  (loopback moto server)


def test_an_expired_frame_url_is_refused_and_billed_nothing(sandbox, s3_storage, make_image,
                                                            settings, monkeypatch):
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "FRAME_URL_EXPIRY": 1,
                             "IMAGE_TRANSFER": "url"}
    original = GatewayProvider.start

    def late(self, *args, **kwargs):  # the provider fetches the frame after it expired
        time.sleep(2.1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(GatewayProvider, "start", late)
    job = create_video_request(make_image())
    run_steps(job.pk)
    job.refresh_from_db()
    assert job.status == Status.FAILED
    assert "expired" in job.error_message
    assert sandbox.bill_count == 0


def test_inline_setting_sends_s3_frames_inline(sandbox, s3_storage, make_image, settings):
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "IMAGE_TRANSFER": "inline"}
    job = create_video_request(make_image())
    assert storages[s3_storage].exists(frames.encoded_name(job.first_frame.file.name))
    run_steps(job.pk)
    job.refresh_from_db()
    assert job.status == Status.SUCCEEDED, job.error_message
    assert sent_image(start_bodies(sandbox)[-1])["type"] == "file"


def test_auto_signs_https_urls_and_keeps_plain_http_inline(s3_storage, settings):
    from storages.backends.s3 import S3Storage

    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "FRAME_URL_EXPIRY": 300}
    assert frames.frame_url(storages[s3_storage], "kling/frame.png") is None  # http: inline
    bucket = S3Storage(bucket_name="shop", endpoint_url="https://s3.example.com",
                       access_key="testing", secret_key="testing", region_name="us-east-1",
                       querystring_auth=True)  # as a real bucket answers (signing is local)
    url = frames.frame_url(bucket, "kling/frame.png")
    assert url.startswith("https://") and "Signature=" in url
    assert not signed_urls.expired(url, now=time.time() + 290)
    assert signed_urls.expired(url, now=time.time() + 310)


def test_signed_url_expiry_is_read_as_s3_reads_it():
    v4 = ("https://b.s3.amazonaws.com/k.jpg?X-Amz-Algorithm=AWS4-HMAC-SHA256"
          "&X-Amz-Date=20261206T220000Z&X-Amz-Expires=600&X-Amz-Signature=ab")
    signed_at = 1796594400  # 2026-12-06 22:00:00 UTC
    assert not signed_urls.expired(v4, now=signed_at + 599)
    assert signed_urls.expired(v4, now=signed_at + 601)
    v2 = "https://b.s3.amazonaws.com/k.jpg?AWSAccessKeyId=x&Signature=y&Expires=1000"
    assert not signed_urls.expired(v2, now=999) and signed_urls.expired(v2, now=1001)
    assert not signed_urls.expired("https://cdn.example.com/k.jpg", now=1e12)
