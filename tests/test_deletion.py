"""Deleting rows: files leave storage after the commit, and links to deleted objects are cleared."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.sessions.models import Session
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.db import connection, transaction
from django.db.models.deletion import Collector
from django.db.models.signals import post_delete
from django.template import Context, Template
from django.test.utils import CaptureQueriesContext

from django_kling.conf import kling_settings
from django_kling.editorial import review
from django_kling.jobs import create_video_request, retry_video_request
from django_kling.models import Asset, Status, VideoRequest
from tests.shop.models import Product

from .conftest import wait_for_end


def stored(*assets: Asset) -> list[bool]:
    storage = storages[kling_settings.STORAGE]
    return [storage.exists(asset.file.name) for asset in assets]


def product_with_clip(make_image, name: str = "Mug") -> tuple[Product, VideoRequest]:
    product = Product(name=name)
    product.image.save("mug.png", ContentFile(make_image(640, 360)), save=True)
    job = wait_for_end(create_video_request(source=product, field_name="image"))
    assert job.status == Status.SUCCEEDED
    return product, job


def test_deleting_a_request_deletes_its_files_after_the_commit(worker, sandbox, make_image):
    job = wait_for_end(create_video_request(make_image()))
    assets = [job.first_frame, job.video, job.poster]
    with transaction.atomic():
        job.delete()
        assert stored(*assets) == [True] * 3  # still there until the commit
    assert stored(*assets) == [False] * 3
    assert Asset.objects.count() == 0


def test_a_rolled_back_delete_keeps_the_files(worker, sandbox, make_image):
    job = wait_for_end(create_video_request(make_image()))
    assets = [job.first_frame, job.video, job.poster]
    with pytest.raises(RuntimeError), transaction.atomic():
        VideoRequest.objects.filter(pk=job.pk).delete()
        raise RuntimeError("rolled back")
    assert stored(*assets) == [True] * 3
    assert VideoRequest.objects.get(pk=job.pk).video_id == job.video_id


def test_deleting_an_asset_deletes_its_file(worker, sandbox, make_image):
    job = wait_for_end(create_video_request(make_image()))
    poster = job.poster
    poster.delete()
    assert stored(poster, job.video) == [False, True]
    job.refresh_from_db()
    assert job.poster is None  # the request keeps its clip, without a poster
    job = review.approve(job)
    markup = Template("{% load kling %}{% kling_video job %}").render(Context({"job": job}))
    assert "<video" in markup and "poster=" not in markup


def test_frames_shared_with_a_retried_request_stay(worker, sandbox, make_image):
    sandbox.set_fault("generation_error", times=1)
    failed = wait_for_end(create_video_request(make_image()))
    retried = wait_for_end(retry_video_request(failed))
    frame, clip = failed.first_frame, [retried.video, retried.poster]
    assert retried.first_frame_id == frame.pk

    failed.delete()
    assert Asset.objects.filter(pk=frame.pk).exists() and stored(frame) == [True]
    retried.delete()
    assert stored(frame, *clip) == [False, False, False]
    assert Asset.objects.count() == 0


def test_files_leave_a_private_s3_bucket(worker, sandbox, s3_storage, make_image):
    job = wait_for_end(create_video_request(make_image()))
    assets = [job.first_frame, job.video, job.poster]
    assert stored(*assets) == [True] * 3
    job.delete()
    assert stored(*assets) == [False] * 3


def test_a_file_already_gone_is_no_error(worker, sandbox, make_image):
    job = wait_for_end(create_video_request(make_image()))
    storages[kling_settings.STORAGE].delete(job.video.file.name)
    job.delete()
    assert Asset.objects.count() == 0


# -- deleting the source object ---------------------------------------------------------------


def test_deleting_the_source_keeps_its_clips_readable(worker, sandbox, make_image):
    product, job = product_with_clip(make_image)
    product_pk = product.pk
    product.delete()

    job = VideoRequest.objects.get(pk=job.pk)
    assert (job.content_type_id, job.object_id, job.field_name) == (None, "", "image")
    assert job.source_object is None and job.status == Status.SUCCEEDED
    assert not Asset.objects.exclude(content_type=None).exists()
    assert stored(job.video, job.poster) == [True, True]  # the clip is the editors' to delete
    job = review.approve(job)  # a clip without its object can still be reviewed and shown
    markup = Template("{% load kling %}{% kling_video job %}{% kling_video_jsonld job %}").render(
        Context({"job": job}))
    assert "<video" in markup and '"name": "Video"' in markup

    # An object that gets the same primary key later never inherits the clip.
    reborn = Product.objects.create(pk=product_pk, name="Another mug")
    assert not VideoRequest.objects.for_object(reborn).exists()
    assert Template("{% load kling %}{% kling_video p %}").render(Context({"p": reborn})) == ""


def test_deleting_any_object_costs_one_query_when_nothing_links_to_it(transactional_db):
    def our_queries(product: Product) -> list[str]:
        with CaptureQueriesContext(connection) as queries:
            product.delete()
        return [q["sql"] for q in queries if "django_kling" in q["sql"]]

    Product.objects.create(name="warms the content type cache").delete()
    (query,) = our_queries(Product.objects.create(name="A"))
    assert query.lstrip("(").startswith("SELECT")  # PostgreSQL brackets each part of a UNION


def test_framework_models_keep_their_fast_bulk_deletes(db):
    collector = Collector(using="default")
    for queryset in (Session.objects.all(), LogEntry.objects.all()):
        assert collector.can_fast_delete(queryset), queryset.model
    # Models that can be sources are watched (and so no longer fast-deleted).
    assert not collector.can_fast_delete(Product.objects.all())
    assert post_delete.has_listeners(Product)
