import threading

import pytest
from django.core.exceptions import FieldError
from django.db import connection

from django_kling.exceptions import InvalidTransition
from django_kling.models import ALLOWED, FINAL, Asset, Status, VideoRequest, can_move

pytestmark = pytest.mark.django_db


def make_job(**fields) -> VideoRequest:
    asset = Asset.objects.create(kind="source_image", file="x.png", mime="image/png")
    return VideoRequest.objects.create(first_frame=asset, provider="gateway", model="m", **fields)


def test_happy_path_and_finished_at():
    job = make_job()
    for target in (Status.SUBMITTING, Status.RUNNING, Status.FETCHING, Status.SUCCEEDED):
        job = VideoRequest.objects.transition(job, target)
    assert job.status == Status.SUCCEEDED
    assert job.finished_at is not None
    assert VideoRequest.objects.get(pk=job.pk).status == Status.SUCCEEDED


@pytest.mark.parametrize("state", sorted(set(Status) - FINAL))
def test_failed_and_canceled_reachable_from_every_active_state(state):
    assert can_move(state, Status.FAILED) and can_move(state, Status.CANCELED)


@pytest.mark.parametrize("state", sorted(FINAL))
def test_final_states_are_final(state):
    assert ALLOWED[state] == frozenset()


def test_refused_move_changes_nothing():
    job = make_job()
    with pytest.raises(InvalidTransition, match="queued to succeeded"):
        VideoRequest.objects.transition(job, Status.SUCCEEDED, error_code="x")
    job.refresh_from_db()
    assert job.status == Status.QUEUED and job.error_code == ""


def test_expect_guards_against_races():
    job = make_job()
    VideoRequest.objects.transition(job, Status.SUBMITTING)
    with pytest.raises(InvalidTransition):
        VideoRequest.objects.transition(job, Status.SUBMITTING, expect=Status.QUEUED)


def test_status_written_only_through_transition():
    job = make_job()
    job = VideoRequest.objects.get(pk=job.pk)
    job.status = Status.SUCCEEDED
    with pytest.raises(FieldError):
        job.save()
    job.refresh_from_db()
    job.prompt = "other fields still save"
    job.save()


@pytest.mark.django_db(transaction=True)
def test_concurrent_moves_one_winner():
    if connection.vendor == "sqlite":
        pytest.skip("row locks need a server database")
    job = make_job()
    results = []

    def move():
        try:
            VideoRequest.objects.transition(job.pk, Status.SUBMITTING, expect=Status.QUEUED)
            results.append("won")
        except InvalidTransition:
            results.append("lost")
        finally:
            connection.close()

    threads = [threading.Thread(target=move) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["lost", "lost", "lost", "won"]
