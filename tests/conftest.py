"""Shared fixtures: the sandbox provider, a real Dramatiq worker, moto's S3 server, images."""

from __future__ import annotations

import io
import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import dramatiq
import pytest
from PIL import Image

if TYPE_CHECKING:
    from django_kling.testing.sandbox import Sandbox


API_KEY = "test-secret-key-do-not-log"
WAGTAIL_TESTS = Path(__file__).resolve().parent / "wagtail"
WAGTAIL_SETTINGS = "tests.wagtail.settings"


def pytest_ignore_collect(collection_path: Path, config) -> bool | None:
    """tests/wagtail runs only under its own settings (``--ds=tests.wagtail.settings``)."""
    if collection_path == WAGTAIL_TESTS:
        return os.environ.get("DJANGO_SETTINGS_MODULE") != WAGTAIL_SETTINGS or None
    return None
S3_BUCKET = "kling-private"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(autouse=True)
def _default_language_after_each_test() -> Iterator[None]:
    """Put the default language back after every test.

    A test client request in Chinese leaves Chinese active in this thread (LocaleMiddleware
    activates the browser's language and nothing deactivates it), so a test that ran later
    read Chinese command output: the result depended on the order the tests ran in.
    """
    yield
    from django.utils import translation

    translation.deactivate()


@pytest.fixture(autouse=True)
def _no_learned_plans_across_tests() -> Iterator[None]:
    """Each test starts with no cached check plan (their rows are gone with the test's data)."""
    yield
    from django_kling.flow import completions

    completions.forget()


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[Sandbox]:
    from django_kling.testing.sandbox import Sandbox

    # Small renders keep the suite fast; the size class and aspect are still exact.
    with Sandbox(api_key=API_KEY, render_scale=0.25) as server:
        yield server


# The sandbox's options a test may change; each test starts with the session's values.
SANDBOX_OPTIONS = ("api_key", "oidc_token", "delay", "delay_range", "result", "render_scale",
                   "pad_to_bytes", "kling_access_key", "kling_secret_key",
                   "replicate_webhook_secret")


@pytest.fixture(scope="session")
def sandbox_defaults(sandbox_server: Sandbox) -> dict[str, object]:
    """The session sandbox's options as it started, and its fal signing key.

    The key is made now and kept: the fal provider caches the JWKS it fetched, so a test that
    rotates it must not leave a key the cache does not know for the tests after it.
    """
    defaults: dict[str, object] = {name: getattr(sandbox_server, name)
                                   for name in SANDBOX_OPTIONS}
    try:
        from django_kling.testing.sandbox.fal import signing_key

        defaults["_fal_key"] = signing_key(sandbox_server)
    except ImportError:  # no cryptography: the fal tests skip
        pass
    return defaults


@pytest.fixture
def sandbox(sandbox_server: Sandbox, sandbox_defaults: dict[str, object],
            settings) -> Iterator[Sandbox]:
    """The sandbox as the session started it, fresh counters, and DJANGO_KLING pointing at it
    (async protocol)."""
    sandbox_server.reset()
    sandbox_server.clear_faults()
    for name, value in sandbox_defaults.items():
        setattr(sandbox_server, name, value)
    # Class defaults; a test may set them on the instance.
    sandbox_server.__dict__.pop("heartbeat_interval", None)
    sandbox_server.__dict__.pop("tells_end", None)
    settings.DJANGO_KLING = {
        **settings.DJANGO_KLING,
        "PROVIDERS": {"gateway": {"API_KEY": API_KEY, "BASE_URL": sandbox_server.v4_url},
                      **direct_providers(sandbox_server)},
    }
    yield sandbox_server
    sandbox_server.clear_faults()


@pytest.fixture
def foreign_host() -> Iterator[Sandbox]:
    """A second loopback server on another port: a host that is not the provider's, whose
    ``calls`` show whether it was ever sent a key (``authorization`` is recorded, redacted)."""
    from django_kling.testing.sandbox import Sandbox

    with Sandbox(api_key=API_KEY) as server:
        yield server


def direct_providers(sandbox: Sandbox) -> dict[str, dict]:
    """The other providers' options, each pointed at its routes on the sandbox."""
    return {
        "kling": {"API_KEY": API_KEY, "BASE_URL": sandbox.kling_url},
        "fal": {"API_KEY": API_KEY, "QUEUE_URL": sandbox.fal_url,
                "JWKS_URL": sandbox.fal_jwks_url},
        "replicate": {"API_TOKEN": API_KEY, "BASE_URL": sandbox.replicate_url},
    }


def use_protocol(settings, sandbox: Sandbox, protocol: str) -> None:
    base = sandbox.v4_url if protocol == "async" else sandbox.v3_url
    settings.DJANGO_KLING = {
        **settings.DJANGO_KLING,
        "PROVIDERS": {"gateway": {"API_KEY": API_KEY, "BASE_URL": base, "PROTOCOL": protocol}},
    }


@pytest.fixture
def worker(transactional_db) -> Iterator[dramatiq.Worker]:
    """A real Dramatiq worker (threads in this process) on the configured broker.

    The broker is Redis when REDIS_URL is set (CI), the in-memory stub broker otherwise.
    """
    from django_kling import tasks  # noqa: F401  (declares the actors)

    broker = dramatiq.get_broker()
    broker.flush_all()
    worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=50)
    worker.start()
    yield worker
    worker.stop()
    broker.flush_all()
    # Each Worker adds its middleware to the (session-wide) broker; take it off again.
    broker.middleware[:] = [m for m in broker.middleware
                            if getattr(m, "worker", None) is not worker]


def wait_until(predicate: Callable[[], bool], timeout: float = 30, what: str = "") -> None:
    """Wait for ``predicate()`` to be true (or fail the test)."""
    limit = time.monotonic() + timeout
    while time.monotonic() < limit:
        if predicate():
            return
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def run_steps(pk, timeout: float = 60.0) -> None:
    """Run a job's steps in this thread, as the actors and the scheduler would, to its end."""
    from django_kling.flow import pipeline
    from django_kling.models import Status, VideoRequest

    limit = time.monotonic() + timeout
    step = pipeline.Next("submit")
    while time.monotonic() < limit:
        if step is None:  # running, or ended: the scheduler's part is a poll once it is due
            status = VideoRequest.objects.values_list("status", flat=True).get(pk=pk)
            if status != Status.RUNNING:
                return
            step = pipeline.Next("poll", 0.05)
        time.sleep(step.delay)
        step = getattr(pipeline, f"{step.step}_step")(pk)


def wait_for_end(job, timeout: float = 60.0):
    """Reload the job until it reaches a final state (or fail the test)."""
    limit = time.monotonic() + timeout
    while time.monotonic() < limit:
        job.refresh_from_db()
        if job.is_final:
            return job
        time.sleep(0.05)
    pytest.fail(f"job still {job.status} after {timeout}s: {job.error_code} {job.error_message}")


@pytest.fixture
def hooks(settings, live_server, sandbox):
    """Callbacks on: the app's webhook URL is the live server, its fallback poll 30 s away."""
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "WEBHOOK_URL": live_server.url,
                             "WEBHOOK_POLL_INTERVAL": 30}
    return live_server


def finished_by_callback(sandbox, image: bytes, provider: str | None = None):
    """A job of ``provider`` that the sandbox's callback ends, long before the 30 s fallback
    poll (the ``hooks`` fixture must be on)."""
    from django_kling.jobs import create_video_request
    from django_kling.models import Status

    sandbox.delay = 0.5
    started = time.monotonic()
    extra = {"provider": provider} if provider else {}
    job = wait_for_end(create_video_request(image, **extra), timeout=20)
    assert job.status == Status.SUCCEEDED, job.error_message
    assert time.monotonic() - started < 15
    return job


@pytest.fixture
def make_image() -> Callable[..., bytes]:
    def make(width: int = 640, height: int = 360, color=(200, 40, 40), fmt: str = "PNG",
             **save) -> bytes:
        image = Image.new("RGB", (width, height), color)
        # Some structure, so encoders and the sandbox's motion have something to work on.
        for x in range(0, width, 40):
            for y in range(0, height, 40):
                image.putpixel((x, y), (255, 255, 255))
        out = io.BytesIO()
        image.save(out, fmt, **save)
        return out.getvalue()

    return make


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """moto's S3 server on loopback with one private bucket; yields its endpoint URL."""
    import boto3
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                 aws_access_key_id="testing", aws_secret_access_key="testing").create_bucket(
        Bucket=S3_BUCKET)
    yield endpoint
    server.stop()


@pytest.fixture
def s3_storage(s3_server: str, settings) -> str:
    """Make DJANGO_KLING store into a private S3 bucket (alias "videos"); yields the alias."""
    settings.STORAGES = {
        **settings.STORAGES,
        "videos": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": S3_BUCKET,
                "endpoint_url": s3_server,
                "access_key": "testing",
                "secret_key": "testing",
                "region_name": "us-east-1",
                "default_acl": "private",
                "querystring_auth": True,
                "querystring_expire": 3600,
                "file_overwrite": False,
            },
        },
    }
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "STORAGE": "videos"}
    return "videos"
