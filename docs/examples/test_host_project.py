"""A host project's tests with the fixtures of conftest.py, shown by docs/providers.rst."""
# docs: start
import io
import time

import pytest
from django.core.files.base import ContentFile
from PIL import Image
from shop.models import Product

from django_kling.jobs import create_video_request


@pytest.fixture
def product(transactional_db):
    picture = io.BytesIO()
    Image.new("RGB", (960, 540), (200, 40, 40)).save(picture, "PNG")
    product = Product(name="Sea salt", description="The jar turns slowly.")
    product.image.save("salt.png", ContentFile(picture.getvalue()))
    return product


def wait_for_end(job, timeout=30.0):
    limit = time.monotonic() + timeout
    while not job.is_final and time.monotonic() < limit:
        time.sleep(0.1)
        job.refresh_from_db()
    return job


def test_a_product_gets_its_clip(kling, kling_worker, product):
    job = create_video_request(source=product, field_name="image", prompt="The jar turns.")
    job = wait_for_end(job)
    assert job.status == "succeeded"
    assert job.video.has_audio and job.video.duration == pytest.approx(5, abs=0.2)
    assert kling.billed == {job.idempotency_key: 1}  # paid once


def test_a_busy_provider_is_waited_out(kling, kling_worker, product):
    kling.set_fault("rate_limit", times=2, retry_after=0)  # two 429s, then normal answers
    job = wait_for_end(create_video_request(source=product, field_name="image"))
    assert job.status == "succeeded"


def test_an_expired_result_url_fails_clearly(kling, kling_worker, product):
    kling.set_fault("expired_url")  # the clip's URL answers 404
    job = wait_for_end(create_video_request(source=product, field_name="image"))
    assert (job.status, job.error_code) == ("failed", "download_expired")
