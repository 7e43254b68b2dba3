"""Batches without permission or budget holes (issue 23, items 7-13).

Real database, real admin views and image checks; the chunks are run in the test's thread
(``create_chunk``), as the ``kling_batch`` actor runs them.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from django_kling.editorial import batches
from django_kling.models import Status, VideoBatch, VideoRequest
from tests.shop.models import Product

from .test_admin import (  # noqa: F401  (fixtures, by their pytest names)
    KLING_ALL,
    PRODUCT_PERMS,
    login,
    make_product_fixture,
    make_staff,
    messages_of,
    producer_fixture,
)


@pytest.fixture
def viewer_producer(db):
    """May queue, retry and cancel requests and see products, but not change them."""
    return make_staff("viewer_producer", "shop.view_product", *KLING_ALL)


def started(products, *, user=None, options=None, capture) -> VideoBatch:
    """A batch over ``products`` with its first chunk made (nothing sent to a worker)."""
    with capture(execute=False):
        batch = batches.start_batch(Product, [p.pk for p in products], field_name="image",
                                    options=options or {}, user=user)
        batches.create_chunk(batch.pk)
    return VideoBatch.objects.get(pk=batch.pk)


# -- 7: retrying a batch's failed jobs needs what retrying one request needs --------------------


def test_retrying_a_batch_checks_each_objects_permission(
        viewer_producer, producer, make_product, django_capture_on_commit_callbacks):
    # The editor made the batch while they could change products; that right is gone now.
    batch = started([make_product("Jar")], user=viewer_producer,
                    capture=django_capture_on_commit_callbacks)
    job = batch.jobs.get()
    VideoRequest.objects.transition(job, Status.FAILED, error_code="generation_failed",
                                    error_message="Policy")
    retry = reverse("admin:django_kling_videobatch_retry", args=[batch.pk])
    with django_capture_on_commit_callbacks(execute=False):
        response = login(viewer_producer).post(retry, follow=True)
    assert batch.jobs.count() == 1, "retried without the permission to change the object"
    assert any("not retried" in m for m in messages_of(response))
    with django_capture_on_commit_callbacks(execute=False):
        login(producer).post(retry)
    assert batch.jobs.count() == 2


# -- 9: Cancel stops the chunk being made --------------------------------------------------------


def test_cancel_stops_the_chunk_being_created(db, make_product, settings, monkeypatch,
                                              django_capture_on_commit_callbacks):
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "BATCH_CHUNK": 10}
    products = [make_product(f"Jar {i}") for i in range(6)]
    with django_capture_on_commit_callbacks(execute=False):
        batch = batches.start_batch(Product, [p.pk for p in products], field_name="image",
                                    options={})
    real = batches.create_video_request
    canceled = []

    def editor_cancels_after_two(*args, **kwargs):
        job = real(*args, **kwargs)
        if batch.jobs.count() == 2 and not canceled:
            canceled.append(batches.cancel_rest(batch))  # the click, mid-chunk
        return job

    monkeypatch.setattr(batches, "create_video_request", editor_cancels_after_two)
    with django_capture_on_commit_callbacks(execute=False):
        batches.create_chunk(batch.pk)
    assert canceled == [2]
    assert batch.jobs.count() == 2, "jobs were still made after Cancel returned"
    assert not batch.jobs.filter(status=Status.QUEUED).exists()
    batch.refresh_from_db()
    assert batch.status == VideoBatch.Status.CANCELED and batch.pending_cost == 0


# -- 11: one bad object never stalls a batch -----------------------------------------------------


def test_one_bad_object_fails_alone_and_the_batch_goes_on(
        db, make_product, settings, monkeypatch, django_capture_on_commit_callbacks):
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "BATCH_CHUNK": 3}
    products = [make_product(f"Jar {i}") for i in range(6)]
    missing, broken = products[0], products[1]
    missing.image.storage.delete(missing.image.name)  # the file is gone from the storage
    real = batches.create_video_request

    def breaks_on_one(*args, source, **kwargs):
        if source.pk == broken.pk:
            raise RuntimeError("a host signal handler broke")
        return real(*args, source=source, **kwargs)

    monkeypatch.setattr(batches, "create_video_request", breaks_on_one)
    with django_capture_on_commit_callbacks(execute=False):
        batch = batches.start_batch(Product, [p.pk for p in products], field_name="image",
                                    options={})
        per_clip = batch.estimated_cost / 6
        assert batches.create_chunk(batch.pk)  # did not die on the two bad objects
        batch.refresh_from_db()
        assert batch.next_index == 3
        # Their share of the reservation is released at once, not when the batch ends.
        assert batch.pending_cost == 3 * per_clip
        assert not batches.create_chunk(batch.pk)
    batch.refresh_from_db()
    assert batch.status == VideoBatch.Status.CREATED
    assert sorted(batch.jobs.values_list("batch_index", flat=True)) == [2, 3, 4, 5]
    codes = dict(batch.items.exclude(error_code="").values_list("object_id", "error_code"))
    assert codes == {str(missing.pk): "image_unreadable",
                     str(broken.pk): "batch_object_failed"}


# -- 12: who sees and cancels a batch ------------------------------------------------------------


def test_a_batch_is_seen_and_canceled_by_its_creator_and_those_who_see_all(
        producer, make_product, settings, django_capture_on_commit_callbacks):
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "ADMIN_SHOW_ALL_REQUESTS": False}
    other = make_staff("other_producer", *PRODUCT_PERMS, *KLING_ALL)
    batch = started([make_product("Jar"), make_product("Pot")], user=producer,
                    capture=django_capture_on_commit_callbacks)
    pages = [reverse(f"admin:django_kling_videobatch_{view}", args=[batch.pk])
             for view in ("change", "progress")]
    cancel = reverse("admin:django_kling_videobatch_cancel", args=[batch.pk])
    listing = reverse("admin:django_kling_videobatch_changelist")

    client = login(other)
    assert [client.get(page).status_code for page in pages] == [404, 404], \
        "another editor sees the batch"
    assert str(batch.pk) not in client.get(listing).content.decode()
    assert client.post(cancel).status_code == 404
    batch.refresh_from_db()
    assert batch.status == VideoBatch.Status.CREATED
    assert not batch.jobs.filter(status=Status.CANCELED).exists()

    mine = login(producer)
    assert [mine.get(page).status_code for page in pages] == [200, 200]
    assert str(batch.pk) in mine.get(listing).content.decode()

    # The named permission (or ADMIN_SHOW_ALL_REQUESTS with the view permission) sees them all.
    everyone = make_staff("batch_manager", *PRODUCT_PERMS, *KLING_ALL,
                          "django_kling.view_all_batches")
    client = login(everyone)
    assert [client.get(page).status_code for page in pages] == [200, 200]
    assert client.post(cancel).status_code == 302
    batch.refresh_from_db()
    assert batch.status == VideoBatch.Status.CANCELED


def test_with_all_requests_shown_a_batch_needs_the_view_permission_on_requests(
        producer, make_product, django_capture_on_commit_callbacks):
    batch = started([make_product("Jar")], user=producer,
                    capture=django_capture_on_commit_callbacks)
    page = reverse("admin:django_kling_videobatch_progress", args=[batch.pk])
    queuer = make_staff("queuer", *PRODUCT_PERMS, "django_kling.add_videorequest")
    assert login(queuer).get(page).status_code == 404
    viewer = make_staff("viewer", "django_kling.view_videorequest")
    assert login(viewer).get(page).status_code == 200


# -- 13: selections of any size without quadratic work -------------------------------------------


def chunk_peak(size: int, capture) -> int:
    """Peak memory (bytes, tracemalloc) of one chunk in the middle of a batch of ``size``
    places (ids of objects that do not exist: the batch's own work, no image work)."""
    import tracemalloc

    with capture(execute=False):
        batch = batches.start_batch(Product, [10**9 + i for i in range(size)],
                                    field_name="image", options={})
    VideoBatch.objects.filter(pk=batch.pk).update(next_index=size // 2)
    tracemalloc.start()
    try:
        with capture(execute=False):
            batches.create_chunk(batch.pk)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_chunk_does_not_read_the_whole_selection(db, settings,
                                                   django_capture_on_commit_callbacks):
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "BATCH_CHUNK": 10}
    small = chunk_peak(100, django_capture_on_commit_callbacks)
    large = chunk_peak(20_000, django_capture_on_commit_callbacks)
    # 20,000 ids read whole are over a megabyte of strings; a chunk reads its 10 places only.
    assert large < small + 200_000, f"a chunk's peak grows with the batch: {small} -> {large}"


def test_a_batch_over_the_maximum_is_refused_before_anything_is_stored(
        db, settings, django_capture_on_commit_callbacks):
    from django_kling.exceptions import InvalidInput

    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "BATCH_MAX_OBJECTS": 50}
    with pytest.raises(InvalidInput) as refused:
        batches.start_batch(Product, list(range(51)), field_name="image", options={})
    assert refused.value.code == "batch_too_large" and "50" in refused.value.message
    assert VideoBatch.objects.count() == 0


# -- 8: "all N matching" and big selections honour object permissions ----------------------------


def test_select_all_honours_object_permissions_at_chunk_time(
        producer, make_product, monkeypatch, django_capture_on_commit_callbacks):
    from tests.shop.admin import ProductAdmin

    from .test_batches import confirm_batch

    def no_secrets(self, request, obj=None):  # a host's object-level rule
        return obj is None or not obj.name.startswith("Secret")

    monkeypatch.setattr(ProductAdmin, "has_change_permission", no_secrets)
    products = [make_product(name) for name in ("Jar", "Secret jar", "Pot", "Secret pot")]
    client = login(producer)
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(reverse("admin:shop_product_changelist"),
                               confirm_batch(products, prompt="Turns."))
        assert response.status_code == 302
        batch = VideoBatch.objects.get()
        while batches.create_chunk(batch.pk):
            pass
    made = sorted(Product.objects.get(pk=job.object_id).name for job in batch.jobs.all())
    assert made == ["Jar", "Pot"], "jobs were made for objects the editor may not change"
    refused = dict(batch.items.exclude(error_code="").values_list("object_id", "error_code"))
    assert refused == {str(products[1].pk): "not_permitted", str(products[3].pk): "not_permitted"}
    batch.refresh_from_db()
    assert batches.progress(batch)["not_permitted"] == 2 and batch.pending_cost == 0
    panel = client.get(reverse("admin:django_kling_videobatch_progress", args=[batch.pk]))
    assert "2 objects not permitted" in panel.content.decode()
