"""Issue 23, item 17: a worker killed between writing a clip (or poster) to storage and
committing its row leaves nothing unreferenced in storage for ever.

A SIGKILL runs no ``except`` nor ``finally``; here the storage raises ``Killed`` (a
``BaseException``, which the pipeline's ``except Exception`` does not catch) at the chosen
write, which leaves the state such a death leaves. The fault matrix (``-m faults``) does the
same with a real SIGKILL ("SIGKILL while storing").
"""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.files.storage import FileSystemStorage
from django.core.management import call_command
from django.utils import timezone

from django_kling.flow import pipeline
from django_kling.jobs import create_video_request
from django_kling.models import Asset, Status, VideoRequest

from .conftest import use_protocol, wait_until

pytestmark = pytest.mark.django_db


class Killed(BaseException):
    """What a SIGKILL is to the code it interrupts: nothing after it runs."""


class DyingStorage(FileSystemStorage):
    #: ("before" | "after", a fragment of the name): die before or after writing that file.
    die_at: tuple[str, str] | None = None

    def _save(self, name, content):
        when = DyingStorage.die_at
        if when and when[0] == "before" and when[1] in name:
            DyingStorage.die_at = None
            raise Killed(name)
        saved = super()._save(name, content)
        if when and when[0] == "after" and when[1] in name:
            DyingStorage.die_at = None
            raise Killed(name)
        return saved


@pytest.fixture
def dying_storage(settings, tmp_path, django_capture_on_commit_callbacks):
    settings.STORAGES = {**settings.STORAGES, "videos": {
        "BACKEND": f"{__name__}.DyingStorage", "OPTIONS": {"location": str(tmp_path)}}}
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "STORAGE": "videos"}
    with django_capture_on_commit_callbacks(execute=False):
        yield DyingStorage
    DyingStorage.die_at = None


def stored(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")
            if p.is_file() and ("/video/" in str(p) or "/poster/" in str(p))}


def orphans(root: Path) -> set[str]:
    """Files in storage that no Asset references."""
    return stored(root) - set(Asset.objects.values_list("file", flat=True))


def killed_while_storing(job: VideoRequest, when: tuple[str, str]) -> None:
    DyingStorage.die_at = when
    assert pipeline.submit_step(job.pk) is None
    with pytest.raises(Killed):
        wait_until(lambda: pipeline.poll_step(job.pk, forced=True) is not None
                   or VideoRequest.objects.get(pk=job.pk).status != Status.RUNNING,
                   what="the worker's death")
    assert VideoRequest.objects.get(pk=job.pk).status == Status.FETCHING


def downloads(sandbox) -> int:
    return sum(1 for call in sandbox.calls if call.path.startswith("/files/"))


@pytest.mark.parametrize("when", [("after", "/video/"), ("before", "/poster/"),
                                  ("after", "/poster/")])
def test_a_clip_written_before_the_worker_died_is_adopted_on_resume(
        sandbox, make_image, dying_storage, tmp_path, when):
    job = create_video_request(make_image())
    killed_while_storing(job, when)
    [clip_name] = [name for name in stored(tmp_path) if "/video/" in name]
    assert downloads(sandbox) == 1
    assert pipeline.fetch_step(job.pk) is None  # the resume (kling_sync, or a new worker)
    job.refresh_from_db()
    assert job.status == Status.SUCCEEDED, (job.error_code, job.error_message)
    # The paid clip written before the death is the one kept: not downloaded again.
    assert job.video.file.name == clip_name and downloads(sandbox) == 1
    assert job.poster.file.storage.exists(job.poster.file.name)
    call_command("kling_cleanup", "--orphans", "--grace", "0", stdout=StringIO())
    assert orphans(tmp_path) == set()
    assert stored(tmp_path) == {job.video.file.name, job.poster.file.name}
    assert sandbox.billed == {job.idempotency_key: 1}


def test_staged_files_of_an_ended_job_are_removed_after_the_grace(
        sandbox, make_image, dying_storage, tmp_path):
    job = create_video_request(make_image())
    killed_while_storing(job, ("after", "/video/"))
    VideoRequest.objects.transition(job, Status.CANCELED)  # nobody resumes it
    assert len(orphans(tmp_path)) == 1
    out = StringIO()
    call_command("kling_cleanup", "--orphans", stdout=out)  # within the grace: kept
    assert len(orphans(tmp_path)) == 1
    call_command("kling_cleanup", "--orphans", "--grace", "0", "--dry-run", stdout=out)
    assert len(orphans(tmp_path)) == 1
    call_command("kling_cleanup", "--orphans", "--grace", "0", stdout=out)
    assert orphans(tmp_path) == set()
    assert "1 staged file(s)" in out.getvalue()


def test_a_staged_file_of_a_running_job_is_kept_however_old(sandbox, make_image,
                                                            dying_storage, tmp_path):
    from django_kling.staged_files import StagedFile

    job = create_video_request(make_image())
    killed_while_storing(job, ("after", "/video/"))
    StagedFile.objects.update(created_at=timezone.now() - timedelta(days=30))
    call_command("kling_cleanup", "--orphans", "--grace", "0", stdout=StringIO())
    assert len(orphans(tmp_path)) == 1  # the job may still adopt it: a paid clip
    VideoRequest.objects.filter(pk=job.pk).delete()  # the request itself is gone
    call_command("kling_cleanup", "--orphans", "--grace", "0", stdout=StringIO())
    assert orphans(tmp_path) == set()


@pytest.mark.django_db(transaction=True)  # the scheduler's thread must see the rows
def test_the_scheduler_removes_orphans_now_and_then(settings, dying_storage, tmp_path):
    from django.core.files.base import ContentFile
    from django.core.files.storage import storages

    from django_kling.flow.scheduler import Scheduler
    from django_kling.staged_files import StagedFile

    # What a worker killed mid-store leaves once its request was deleted.
    name = storages["videos"].save("kling/video/left.mp4", ContentFile(b"clip"))
    StagedFile.objects.create(storage="videos", name=name, kind="video")
    assert orphans(tmp_path) == {name}
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "ORPHAN_GRACE": 0.2,
                             "SCHEDULER": {"TICK": 0.05}}
    scheduler = Scheduler().start()
    try:
        wait_until(lambda: not orphans(tmp_path), what="the orphan removed")
    finally:
        scheduler.stop()
    assert not StagedFile.objects.exists()


def test_a_clip_cut_short_is_not_adopted(sandbox, make_image, dying_storage, tmp_path):
    job = create_video_request(make_image())
    killed_while_storing(job, ("after", "/video/"))
    [clip_name] = [name for name in stored(tmp_path) if "/video/" in name]
    path = tmp_path / clip_name
    path.write_bytes(path.read_bytes()[:1000])  # as if the worker died while writing it
    assert pipeline.fetch_step(job.pk) is None
    job.refresh_from_db()
    assert job.status == Status.SUCCEEDED, (job.error_code, job.error_message)
    assert job.video.file.name != clip_name and downloads(sandbox) == 2  # fetched again
    call_command("kling_cleanup", "--orphans", "--grace", "0", stdout=StringIO())
    assert orphans(tmp_path) == set()


def test_an_inline_clip_stored_before_the_worker_died_is_not_lost(settings, sandbox,
                                                                  make_image, dying_storage,
                                                                  tmp_path):
    """A streaming answer carries the clip itself: it cannot be fetched again, but the copy
    the dead worker wrote can be adopted (before: failed with result_lost)."""
    use_protocol(settings, sandbox, "stream")
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "STORAGE": "videos"}
    sandbox.result = "base64"
    job = create_video_request(make_image())
    DyingStorage.die_at = ("after", "/video/")
    with pytest.raises(Killed):
        pipeline.submit_step(job.pk)
    job.refresh_from_db()
    assert (job.status, job.result_url) == (Status.FETCHING, "")
    assert pipeline.fetch_step(job.pk) is None
    job.refresh_from_db()
    assert job.status == Status.SUCCEEDED, (job.error_code, job.error_message)
    assert orphans(tmp_path) == set() and sandbox.bill_count == 1
