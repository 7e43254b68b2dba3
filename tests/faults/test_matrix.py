"""The fault matrix: real worker processes on Redis and PostgreSQL, the sandbox misbehaving,
S3 failing, workers SIGKILLed at every stage. Every job must end succeeded or failed with a
reason, never lost, never billed twice. Run alone with ``pytest -m faults``; the table is printed
at the end of the run and written to ``test-output/fault-matrix.txt``.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest
from django.core.management import call_command

from django_kling.clip_renditions import Rendition
from django_kling.editorial.batches import start_batch
from django_kling.jobs import create_video_request
from django_kling.models import StagedFile, VideoBatch, VideoRequest
from django_kling.testing.certificates import development_credentials
from tests.shop.models import Product

from ..conftest import API_KEY, S3_BUCKET, direct_providers, wait_until
from .harness import Row, Workers, settle, tally, worker_database_url, worker_env
from .proxy import FaultyProxy

pytestmark = [
    pytest.mark.faults,
    pytest.mark.skipif(not os.environ.get("REDIS_URL")
                       or not os.environ.get("DATABASE_URL", "").startswith("postgres"),
                       reason="the fault matrix needs Redis (REDIS_URL) and PostgreSQL "
                              "(DATABASE_URL): worker processes share the queue and database"),
]

ROWS: list[Row] = []


@dataclass
class Rig:
    sandbox: object
    settings: object
    tmp: Path
    s3_endpoint: str
    images: list[bytes]
    overrides: dict = field(default_factory=dict)
    workers: Workers | None = None
    proxy: FaultyProxy | None = None
    preexisting: set[str] = field(default_factory=set)

    @property
    def media_root(self) -> Path:
        return self.tmp / "media"

    def configure(self, *, protocol: str = "async", storage: str = "default",
                  client_timeout: float = 5.0, overrides: dict | None = None,
                  provider: str = "gateway") -> None:
        base = self.sandbox.v4_url if protocol == "async" else self.sandbox.v3_url
        direct = {name: {**options, "TIMEOUT": client_timeout}
                  for name, options in direct_providers(self.sandbox).items()}
        self.overrides = {
            "PROVIDER": provider,
            "PROVIDERS": {"gateway": {"API_KEY": API_KEY, "BASE_URL": base,
                                      "PROTOCOL": protocol, "TIMEOUT": client_timeout},
                          **direct},
            "POLL_INTERVAL": 0.2, "MAX_POLL_INTERVAL": 1.0, "STORAGE": storage,
            "ALLOWED_DOWNLOAD_HOSTS": ["http://127.0.0.1:*"],
            # Every clip is signed before it is stored, as in production (issue 24).
            "CONTENT_CREDENTIALS": development_credentials(self.tmp / "c2pa"),
            **(overrides or {}),
        }
        # The test process creates the jobs, so it must agree with the workers' settings.
        self.settings.MEDIA_ROOT = str(self.media_root)
        self.settings.STORAGES = {**self.settings.STORAGES, "crashing": {
            "BACKEND": "tests.faults.crashing_storage.CrashingStorage"}}
        if storage == "videos":
            self.proxy = FaultyProxy(self.s3_endpoint)
            self.settings.STORAGES = {**self.settings.STORAGES, "videos": {
                "BACKEND": "storages.backends.s3.S3Storage",
                "OPTIONS": {"bucket_name": S3_BUCKET, "endpoint_url": self.s3_endpoint,
                            "access_key": "testing", "secret_key": "testing",
                            "region_name": "us-east-1"}}}
        self.settings.DJANGO_KLING = {**self.settings.DJANGO_KLING, **self.overrides}
        env = worker_env(database_url=worker_database_url(), media_root=self.media_root,
                         overrides=self.overrides, crash_marker=self.tmp / "crashed",
                         s3_endpoint=self.proxy.url if self.proxy else "",
                         s3_bucket=S3_BUCKET)
        self.workers = Workers(env, self.tmp)
        # The S3 bucket outlives a test; only files written from now on are this test's.
        self.preexisting = self.stored_names(storage)

    def create(self, count: int) -> list[VideoRequest]:
        return [create_video_request(self.images[i % len(self.images)], prompt=f"job {i}")
                for i in range(count)]

    def stored_names(self, storage: str) -> set[str]:
        if storage == "videos":
            s3 = boto3.client("s3", endpoint_url=self.s3_endpoint, region_name="us-east-1",
                              aws_access_key_id="testing", aws_secret_access_key="testing")
            pages = s3.get_paginator("list_objects_v2").paginate(Bucket=S3_BUCKET)
            names = {obj["Key"] for page in pages for obj in page.get("Contents", [])}
        else:
            names = {str(p.relative_to(self.media_root)) for p in self.media_root.rglob("*")
                     if p.is_file()}
        return {n for n in names if "/video/" in n or "/poster/" in n} - self.preexisting

    def close(self) -> None:
        if self.workers:
            self.workers.stop()
        if self.proxy:
            self.proxy.stop()


@pytest.fixture
def rig(transactional_db, sandbox, settings, tmp_path, s3_server, make_image):
    import dramatiq

    dramatiq.get_broker().flush_all()
    images = [make_image(640, 360, color) for color in ((200, 40, 40), (40, 160, 60))]
    rig = Rig(sandbox, settings, tmp_path, s3_server, images)
    yield rig
    rig.close()
    dramatiq.get_broker().flush_all()


def diagnose(rig: Rig, jobs: list[VideoRequest]) -> str:
    """What a lost job looked like, with the worker log lines that mention it."""
    lines = []
    logs = rig.workers.logs(tail=None)
    for job in jobs:
        if job.is_final:
            continue
        lines.append(f"{job.pk} {job.status} polls={job.poll_count} submits={job.submit_attempts}"
                     f" streak={job.error_streak} next={job.next_check_at} "
                     f"updated={job.updated_at} error={job.error_code}")
        lines += [line for line in logs.splitlines() if str(job.pk) in line][-20:]
    text = "\n".join(lines)
    out = Path(__file__).resolve().parents[2] / "test-output"
    out.mkdir(exist_ok=True)
    (out / "fault-diagnosis.txt").write_text(text + "\n\n" + logs[-200000:])
    return text


def recover(rig: Rig) -> None:
    """What an operator (or SyncOnBoot) does after a crash: a new worker, then kling_sync."""
    rig.workers.kill()
    rig.workers.start(KLING_CRASH_AT="")
    call_command("kling_sync", "--grace", "0", stdout=open(os.devnull, "w"))  # noqa: SIM115


def saw(rig: Rig, fragment: str) -> Callable[[], bool]:
    return lambda: any(fragment in call.path for call in rig.sandbox.calls)


def cut_database_connections(rig: Rig, stop: threading.Event) -> None:
    from django.db import connections

    conn = connections.create_connection("default")
    try:
        while not stop.wait(0.3):
            with conn.cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                               "WHERE application_name = 'kling-fault-worker'")
    finally:
        conn.close()


# Each scenario: (name, jobs, configure kwargs, before(rig), during(rig, jobs), worker env)
Scenario = tuple[str, int, dict, Callable | None, Callable | None, dict]


def crash(point: str) -> dict:
    return {"KLING_CRASH_AT": point}


def kill_when(fragment: str) -> Callable:
    def during(rig: Rig, jobs) -> None:
        wait_until(saw(rig, fragment), what=fragment)
        time.sleep(0.2)
        recover(rig)
    return during


def kill_after_accepted(rig: Rig, jobs) -> None:
    """Kill the worker while its (slow) start call is in flight, recover once it was billed.

    Waiting for the bill makes this the case it names (the provider accepted and billed the
    job; the worker never saw the answer), and keeps the sleeping handler from billing after
    the sandbox's counters were reset for the next scenario.
    """
    wait_until(saw(rig, "/video-model/start"), what="the start call")
    time.sleep(0.2)
    rig.workers.kill()
    wait_until(lambda: rig.sandbox.bill_count >= 1, what="the bill")
    recover(rig)


def kill_after_created(path: str) -> Callable:
    """``kill_after_accepted`` for a provider whose create is ``POST <path>``."""
    def during(rig: Rig, jobs) -> None:
        wait_until(lambda: any(c.method == "POST" and c.path == path
                               for c in rig.sandbox.calls), what=f"POST {path}")
        time.sleep(0.2)
        rig.workers.kill()
        wait_until(lambda: rig.sandbox.bill_count >= 1, what="the bill")
        recover(rig)
    return during


def kill_when_running(rig: Rig, jobs) -> None:
    # Every job of the row, not just the first: on a loaded machine another job could
    # otherwise already be storing its clip when the kill lands (a different scenario).
    pks = [job.pk for job in jobs]
    wait_until(lambda: VideoRequest.objects.filter(pk__in=pks, status="running").count()
               == len(pks), what="all running")
    recover(rig)


def recover_after_crash(rig: Rig, jobs) -> None:
    wait_until(lambda: (rig.tmp / "crashed").exists(), what="the crash")
    time.sleep(0.3)
    recover(rig)


#: The claim of a rendition in the row below: a killed worker's runs out after it.
RENDITION_CLAIM = 2.0


def kill_while_making_a_rendition(rig: Rig, jobs) -> None:
    """SIGKILL the worker while it encodes a clip's rendition (claimed, not ready); once the
    dead worker's claim ran out, recover: the rendition is made again, the clip untouched."""
    pks = [job.pk for job in jobs]
    making = Rendition.objects.filter(
        clip__in=VideoRequest.objects.filter(pk__in=pks).values("video"),
        status="pending", claimed_until__isnull=False)
    wait_until(making.exists, timeout=90, what="a rendition being made")
    clips = {j.pk: (j.video.file.name, j.video.sha256)
             for j in VideoRequest.objects.filter(pk__in=pks).select_related("video")}
    rig.workers.kill()
    time.sleep(RENDITION_CLAIM + 0.5)
    recover(rig)
    clip_ids = VideoRequest.objects.filter(pk__in=pks).values("video")
    wait_until(lambda: not Rendition.objects.filter(clip__in=clip_ids).exclude(
        status="ready").exists(), timeout=120, what="every rendition made")
    after = {j.pk: (j.video.file.name, j.video.sha256)
             for j in VideoRequest.objects.filter(pk__in=pks).select_related("video")}
    assert after == clips  # the clip untouched
    # The one being made when the worker died was made again (a second try), not lost.
    assert Rendition.objects.filter(clip__in=clip_ids, attempts__gte=2).exists()
    assert not StagedFile.objects.filter(kind__startswith="rendition:").exists()


def s3_down_for(seconds: float) -> Callable:
    def during(rig: Rig, jobs) -> None:
        rig.proxy.mode = "down"
        time.sleep(seconds)
        rig.proxy.mode = "up"
    return during


def drop_db_connections(rig: Rig, jobs) -> None:
    stop = threading.Event()
    thread = threading.Thread(target=cut_database_connections, args=(rig, stop), daemon=True)
    thread.start()
    time.sleep(3)
    stop.set()
    thread.join()


SCENARIOS: list[Scenario] = [
    ("no fault", 4, {}, None, None, {}),
    ("429 with Retry-After", 3, {},
     lambda r: r.sandbox.set_fault("rate_limit", times=4, retry_after=1), None, {}),
    ("500 from the gateway", 3, {}, lambda r: r.sandbox.set_fault(
        "server_error", times=4, route=["start", "status"]), None, {}),
    ("502 with an HTML body", 3, {}, lambda r: r.sandbox.set_fault(
        "bad_gateway", times=4, route=["start", "status"]), None, {}),
    ("timeouts", 3, {"client_timeout": 1.0},
     lambda r: r.sandbox.set_fault("slow", times=3, seconds=2.5, route="status"), None, {}),
    ("malformed JSON (start billed)", 3, {},
     lambda r: r.sandbox.set_fault("malformed_json", times=3, route=["start", "status"]),
     None, {}),
    ("SSE stream cut", 2, {"protocol": "stream"},
     lambda r: r.sandbox.set_fault("cut_stream", times=1), None, {}),
    ("provider error result", 2, {},
     lambda r: r.sandbox.set_fault("generation_error", message="Policy: <b>no</b>"), None, {}),
    ("provider cancelled", 2, {}, lambda r: r.sandbox.set_fault("cancelled"), None, {}),
    ("deadline passed", 2, {"overrides": {"DEADLINE": 1.5}},
     lambda r: setattr(r.sandbox, "delay", 6.0), None, {}),
    ("result URL expired", 2, {}, lambda r: r.sandbox.set_fault("expired_url"), None, {}),
    ("truncated MP4", 2, {}, lambda r: r.sandbox.set_fault("truncated_mp4"), None, {}),
    ("not a video", 2, {}, lambda r: r.sandbox.set_fault("not_a_video"), None, {}),
    ("clip over the byte cap", 2, {"overrides": {"MAX_DOWNLOAD_BYTES": 2000}}, None, None, {}),
    ("loopback result URL (SSRF)", 2, {"overrides": {"ALLOWED_DOWNLOAD_HOSTS": []}}, None,
     None, {}),
    ("result expired (completed, no videos)", 2, {},
     lambda r: r.sandbox.set_fault("result_expired"), None, {}),
    ("S3 answers 500 on save", 3, {"storage": "videos"},
     lambda r: r.proxy.fail_next(4, "500"), None, {}),
    ("S3 down during save", 3, {"storage": "videos"},
     lambda r: setattr(r.sandbox, "delay", 1.0), s3_down_for(2.5), {}),
    ("database connections dropped", 3, {}, lambda r: setattr(r.sandbox, "delay", 2.0),
     drop_db_connections, {}),
    ("SIGKILL before the submit call", 2, {}, None, recover_after_crash,
     crash("before:kling_submit")),
    ("SIGKILL after accepted, before op id saved", 1, {},
     lambda r: r.sandbox.set_fault("slow", times=1, seconds=1.5, route="start"),
     kill_after_accepted, {}),
    ("kling: SIGKILL after create, before task id saved", 1, {"provider": "kling"},
     lambda r: r.sandbox.set_fault("slow", times=1, seconds=1.5, route="kling.start"),
     kill_after_created("/kling/v1/videos/image2video"), {}),
    ("kling: 500 on create and query", 2, {"provider": "kling"},
     lambda r: r.sandbox.set_fault("server_error", times=3, route=["kling.start",
                                                                   "kling.status"]), None, {}),
    # fal and Replicate take no idempotency key: the create is not resent, the job fails
    # clearly (submit_interrupted) and is billed once.
    ("fal: SIGKILL after submit, before request id saved", 1, {"provider": "fal"},
     lambda r: r.sandbox.set_fault("slow", times=1, seconds=1.5, route="fal.start"),
     kill_after_created("/fal/fal-ai/kling-video/v2.6/pro/image-to-video"), {}),
    ("replicate: SIGKILL after create, before prediction id saved", 1,
     {"provider": "replicate"},
     lambda r: r.sandbox.set_fault("slow", times=1, seconds=1.5, route="replicate.start"),
     kill_after_created("/replicate/v1/models/kwaivgi/kling-v2.6/predictions"), {}),
    ("fal: 500 on submit and status", 2, {"provider": "fal"},
     lambda r: r.sandbox.set_fault("server_error", times=3, route=[
         "fal.start", "fal.status"]), None, {}),
    ("fallback: gateway 500s, Kling takes over", 2,
     {"overrides": {"PROVIDERS_ORDER": ["gateway", "kling"]}},
     lambda r: r.sandbox.set_fault("server_error", route="start"), None, {}),
    ("SIGKILL while polling", 2, {}, lambda r: setattr(r.sandbox, "delay", 4.0),
     kill_when_running, {}),
    ("SIGKILL mid-download", 1, {},
     lambda r: r.sandbox.set_fault("slow", times=1, seconds=2.0, route="file"),
     kill_when("/files/"), {}),
    ("SIGKILL after download, before marked", 2, {"storage": "crashing"}, None,
     recover_after_crash, crash("store_video")),
    # A key the C2PA library refuses: every clip kept, unsigned, with a warning (issue 24).
    ("signing fails (bad key)", 2, {"overrides": {"CONTENT_CREDENTIALS": {
        "CERTIFICATE": __file__, "PRIVATE_KEY": __file__}}}, None, None, {}),
    # The clip is written, its row not committed: the resumed job adopts it (issue 23, 17).
    ("SIGKILL while storing", 2, {"storage": "crashing"}, None, recover_after_crash,
     crash("stored_video")),
    # Issue 25: a 1440x810 clip gets its 720p and 480p renditions; the kill lands mid-encode.
    ("SIGKILL while making a rendition", 1,
     {"overrides": {"RENDITION_CLAIM": RENDITION_CLAIM}},
     lambda r: setattr(r.sandbox, "render_scale", 0.75), kill_while_making_a_rendition, {}),
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s[0] for s in SCENARIOS])
def test_fault(rig, scenario):
    name, count, config, before, during, env = scenario
    rig.configure(**config)
    if before:
        before(rig)
    rig.workers.start(**env)
    jobs = rig.create(count)
    if during:
        during(rig, jobs)
    jobs = settle(jobs, timeout=60)
    storage = config.get("storage", "default")
    # Providers without an idempotency key are counted like streams: one bill per job.
    row = tally(name, jobs, rig.sandbox, stored_names=rig.stored_names(storage),
                stream=config.get("protocol") == "stream"
                or config.get("provider") in ("fal", "replicate"))
    ROWS.append(row)
    assert row.lost == 0, (row, diagnose(rig, jobs))
    assert row.billed_twice == 0, row
    assert row.orphans == 0, row
    assert row.succeeded + row.failed_clearly == row.requests
    if name.startswith("signing fails"):
        assert row.succeeded == row.requests, row
        assert all("clip_unsigned" in {w.get("code") for w in job.warnings} for job in jobs)
    else:  # every clip stored, adopted after a crash or not, carries its credentials
        from django_kling.files.credentials import has_manifest

        for job in VideoRequest.objects.filter(pk__in=[j.pk for j in jobs], status="succeeded"):
            with job.video.file.open("rb") as fh:
                assert has_manifest(fh, "video/mp4"), (name, job.pk)


def test_load_with_random_faults(rig):
    """200 jobs through 2 worker processes while the sandbox misbehaves at random.

    Each fault hits one request. They are injected for the first 20 seconds only: injected for
    ever, they would all land on the last few jobs, which would then keep retrying until
    their deadline (60 s here), a storm no real gateway sends.
    """
    rig.configure(overrides={"DEADLINE": 60})
    rig.sandbox.delay = 0.3
    rig.workers.start(count=2)
    stop = threading.Event()
    chaos = random.Random(20261125)
    menu = [("rate_limit", {"retry_after": 0.5}), ("server_error", {}), ("bad_gateway", {}),
            ("malformed_json", {}), ("slow", {"seconds": 0.5}), ("expired_url", {}),
            ("truncated_mp4", {}), ("generation_error", {})]
    injected = []

    def misbehave() -> None:
        limit = time.monotonic() + 20
        while not stop.wait(0.15) and time.monotonic() < limit:
            fault, params = chaos.choice(menu)
            rig.sandbox.set_fault(fault, times=1, **params)
            injected.append(fault)
        rig.sandbox.clear_faults()

    thread = threading.Thread(target=misbehave, daemon=True)
    thread.start()
    try:
        jobs = rig.create(200)
        jobs = settle(jobs, timeout=240)
    finally:
        stop.set()
        thread.join()
    row = tally(f"load: 200 jobs, 2 workers, {len(injected)} random faults", jobs, rig.sandbox,
                stored_names=rig.stored_names("default"))
    ROWS.append(row)
    assert row.lost == 0 and row.billed_twice == 0 and row.orphans == 0, (
        row, diagnose(rig, jobs))
    assert row.succeeded + row.failed_clearly == 200
    assert row.succeeded > 100, row  # most faults are transient


def test_batch_survives_a_worker_killed_mid_way(rig):
    """A batch of 10 made in chunks of 4; the worker is SIGKILLed once the third place's job is
    committed, mid-chunk. The scheduler of the new worker resumes it once its lease ran out:
    exactly one job per object, each ending clearly, none billed twice."""
    from django.core.files.base import ContentFile

    rig.configure(overrides={"BATCH_CHUNK": 4, "SCHEDULER": {"TICK": 0.05, "LEASE": 4.0}})
    products = []
    for i in range(10):
        product = Product(name=f"Jar {i}")
        product.image.save(f"jar{i}.png", ContentFile(rig.images[i % 2]), save=True)
        products.append(product)
    rig.workers.start(KLING_CRASH_AT="batch_job")
    batch = start_batch(Product, [p.pk for p in products], field_name="image",
                        options={"prompt": "The jar turns."})
    wait_until(lambda: (rig.tmp / "crashed").exists(), what="the crash")
    # Killed mid-way. A chunk's jobs are made on several threads, so the third place may
    # be the first committed: at least its own job exists, never all ten.
    assert 1 <= batch.jobs.count() < 10
    recover(rig)
    wait_until(lambda: VideoBatch.objects.get(pk=batch.pk).status == VideoBatch.Status.CREATED,
               timeout=60, what="the batch resumed")
    jobs = settle(list(batch.jobs.all()), timeout=60)
    row = tally("batch of 10: SIGKILL mid-chunk", jobs, rig.sandbox,
                stored_names=rig.stored_names("default"))
    ROWS.append(row)
    assert sorted(job.batch_index for job in jobs) == list(range(10))
    assert sorted(job.object_id for job in jobs) == sorted(str(p.pk) for p in products)
    assert row.lost == 0 and row.billed_twice == 0 and row.orphans == 0, (
        row, diagnose(rig, jobs))
    assert row.succeeded == 10
