"""The submit's statements compiled once per connection (issue 27): the load and the
conditional UPDATEs give exactly what the ORM's own statements give, on the test database."""

from datetime import timedelta

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from django_kling import compiled_writes
from django_kling.exceptions import InvalidTransition
from django_kling.flow import submit_load
from django_kling.jobs import create_video_request
from django_kling.models import Asset, Status, Throttle, VideoRequest

pytestmark = pytest.mark.django_db
transition = VideoRequest.objects.transition


def fields_of(instance) -> dict:
    return {f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields}


def test_the_submit_load_is_the_orms_load(make_image):
    with_last = create_video_request(make_image(color=(10, 20, 30)),
                                     last_frame=make_image(color=(40, 50, 60)))
    without = create_video_request(make_image(color=(70, 80, 90)))
    Throttle.objects.create(provider="gateway", limit=3,
                            until=timezone.now() + timedelta(minutes=5))
    for job in (with_last, without):
        loaded = submit_load.load(job.pk)
        orm = submit_load.queryset(job.pk, timezone.now()).get()
        assert fields_of(loaded) == fields_of(orm)
        assert loaded._loaded_status == Status.QUEUED and not loaded._state.adding
        assert fields_of(loaded.first_frame) == fields_of(orm.first_frame)
        assert (loaded.last_frame and fields_of(loaded.last_frame)) == (
            orm.last_frame and fields_of(orm.last_frame))
        assert (loaded.has_voices, loaded.throttled) == (False, 3)
    assert submit_load._KEPT[connections["default"]] is not None  # not the ORM's every time
    with CaptureQueriesContext(connection) as captured:  # the frames came with the job
        loaded = submit_load.load(with_last.pk)
        assert loaded.first_frame.pk == with_last.first_frame_id
        assert loaded.last_frame.pk == with_last.last_frame_id
    assert len(captured.captured_queries) == 1


def test_an_expired_throttle_and_a_missing_job_load_as_such(make_image):
    job = create_video_request(make_image())
    Throttle.objects.create(provider="gateway", limit=1,
                            until=timezone.now() - timedelta(seconds=1))
    assert submit_load.load(job.pk).throttled is None
    VideoRequest.objects.filter(pk=job.pk).delete()
    assert submit_load.load(job.pk) is None


def test_a_move_runs_the_kept_statement_and_writes_what_the_orm_would(make_image):
    first, second = (create_video_request(make_image(color=(i, 9, 9))) for i in range(2))
    for job in (first, second):
        moved = transition(job, Status.SUBMITTING, expect=Status.QUEUED, submit_attempts=1,
                           error_code="", error_message="")
        assert moved.status == moved._loaded_status == Status.SUBMITTING
        transition(moved, Status.RUNNING, expect=Status.SUBMITTING,
                   operation={"gatewayJobId": f"job-{job.pk}"}, operation_id=f"op-{job.pk}",
                   claimed_until=None, next_check_at=timezone.now())
    kept = [statement for shape, statement in compiled_writes._SHAPES[connections["default"]]
            .items() if "submit_attempts" in shape[1] or "operation" in shape[1]]
    assert len(kept) >= 2 and None not in kept  # both moves ran a kept statement
    for job in (first, second):
        row = VideoRequest.objects.get(pk=job.pk)
        assert row.status == Status.RUNNING and row.submit_attempts == 1
        assert row.operation == {"gatewayJobId": f"job-{job.pk}"}  # JSON, not its text
        assert row.operation_id == f"op-{job.pk}" and row.claimed_until is None
        assert row.updated_at > job.updated_at


def test_two_workers_never_both_win_a_kept_move(make_image):
    job = create_video_request(make_image())
    transition(job, Status.SUBMITTING, expect=Status.QUEUED, submit_attempts=1)
    with pytest.raises(InvalidTransition, match="is submitting"):  # the second worker
        transition(job, Status.SUBMITTING, expect=Status.QUEUED, submit_attempts=2)
    assert not VideoRequest.objects.update_fields(job, expect=Status.QUEUED, error_streak=5)
    row = VideoRequest.objects.get(pk=job.pk)
    assert (row.status, row.submit_attempts, row.error_streak) == (Status.SUBMITTING, 1, 0)


def test_a_model_instance_value_goes_through_the_orm(make_image):
    job = create_video_request(make_image())
    asset = Asset.objects.create(kind="poster", mime="image/jpeg")
    transition(job, Status.FAILED, expect=Status.QUEUED, video=asset, error_code="x")
    kept_shapes = compiled_writes._SHAPES[connections["default"]]
    shapes = [(shape, kept) for shape, kept in kept_shapes.items() if "video" in shape[1]]
    assert shapes and all(kept is None for _, kept in shapes)  # not kept: the ORM writes it
    row = VideoRequest.objects.get(pk=job.pk)
    assert (row.status, row.video_id, row.error_code) == (Status.FAILED, asset.pk, "x")
    assert row.finished_at is not None
