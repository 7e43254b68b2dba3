"""Worker processes and bookkeeping for the fault matrix."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from django.db import connection

from django_kling.models import FINAL, Asset, Status, VideoRequest

ROOT = Path(__file__).resolve().parents[2]


def worker_database_url() -> str:
    """The URL of the test database pytest-django created (workers must use that one)."""
    s = connection.settings_dict
    return (f"postgres://{s['USER'] or ''}:{s['PASSWORD'] or ''}@{s['HOST'] or '127.0.0.1'}:"
            f"{s['PORT'] or 5432}/{s['NAME']}")


class Workers:
    """Dramatiq worker processes (``python -m dramatiq``), started and killed like in production."""

    def __init__(self, env: dict[str, str], log_dir: Path, *, processes: int = 1,
                 threads: int = 4) -> None:
        self.env = env
        self.log_dir = log_dir
        self.processes = processes
        self.threads = threads
        self.running: list[tuple[subprocess.Popen, Path]] = []
        self.started = 0

    def start(self, count: int = 1, **extra_env: str) -> None:
        env = {**self.env, **extra_env}
        for _ in range(count):
            self.started += 1
            log = self.log_dir / f"worker-{self.started}.log"
            proc = subprocess.Popen(
                [sys.executable, "-m", "dramatiq", "django_dramatiq.setup", "django_kling.tasks",
                 "--processes", str(self.processes), "--threads", str(self.threads)],
                cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            self.running.append((proc, log))
        for proc, log in self.running:
            self._wait_ready(proc, log)

    def _wait_ready(self, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
        limit = time.monotonic() + timeout
        while time.monotonic() < limit:
            if b"ready for action" in log.read_bytes():
                return
            if proc.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)
        raise RuntimeError(f"worker not ready:\n{log.read_text()[-3000:]}")

    def any_died(self) -> bool:
        return any(self._group_gone(proc) for proc, _ in self.running)

    @staticmethod
    def _group_gone(proc: subprocess.Popen) -> bool:
        # The CLI's child processes do the work; a SIGKILLed child is what "died" means here.
        try:
            out = subprocess.run(["pgrep", "-g", str(proc.pid)], capture_output=True, text=True)
        except FileNotFoundError:
            return proc.poll() is not None
        return len(out.stdout.split()) < 2

    def kill(self) -> None:
        """SIGKILL every worker process (the whole process group): no cleanup runs."""
        for proc, _ in self.running:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        self.running.clear()

    def stop(self) -> None:
        for proc, _ in self.running:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
        for proc, _ in self.running:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        self.running.clear()

    def logs(self, tail: int | None = 2000) -> str:
        texts = (p.read_text(errors="replace") for p in sorted(self.log_dir.glob("worker-*.log")))
        return "\n".join(text[-tail:] if tail else text for text in texts)


def worker_env(*, database_url: str, media_root: Path, overrides: dict, crash_marker: Path,
               s3_endpoint: str = "", s3_bucket: str = "") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(
        DJANGO_SETTINGS_MODULE="tests.faults.settings",
        KLING_WORKER_DATABASE_URL=database_url,
        KLING_WORKER_MEDIA_ROOT=str(media_root),
        KLING_WORKER_OVERRIDES=json.dumps(overrides),
        KLING_CRASH_MARKER=str(crash_marker),
        KLING_WORKER_S3_ENDPOINT=s3_endpoint,
        KLING_WORKER_S3_BUCKET=s3_bucket,
        PYTHONPATH=str(ROOT),
    )
    return env


@dataclass
class Row:
    fault: str
    requests: int
    succeeded: int = 0
    failed_clearly: int = 0
    lost: int = 0
    billed_twice: int = 0
    orphans: int = 0
    codes: set[str] = field(default_factory=set)

    HEADER = ("fault", "requests", "succeeded", "failed clearly", "lost", "billed twice",
              "orphan files", "error codes")

    def cells(self) -> tuple:
        return (self.fault, self.requests, self.succeeded, self.failed_clearly, self.lost,
                self.billed_twice, self.orphans, ", ".join(sorted(self.codes)) or "-")


def settle(jobs: list[VideoRequest], timeout: float) -> list[VideoRequest]:
    limit = time.monotonic() + timeout
    pks = [job.pk for job in jobs]
    while time.monotonic() < limit:
        current = list(VideoRequest.objects.filter(pk__in=pks).select_related("video", "poster"))
        if all(job.status in FINAL for job in current):
            return current
        time.sleep(0.2)
    return list(VideoRequest.objects.filter(pk__in=pks).select_related("video", "poster"))


def tally(fault: str, jobs: list[VideoRequest], sandbox, *, stored_names: set[str],
          stream: bool = False) -> Row:
    row = Row(fault, len(jobs))
    for job in jobs:
        if job.status == Status.SUCCEEDED and job.video and job.video.file.storage.exists(
                job.video.file.name):
            row.succeeded += 1
        elif job.status == Status.FAILED and job.error_code and job.error_message:
            row.failed_clearly += 1
            row.codes.add(job.error_code)
        else:
            row.lost += 1
            row.codes.add(f"lost:{job.status}")
    if stream:
        row.billed_twice = max(0, sandbox.bill_count - len(jobs))
    else:
        keys = {job.idempotency_key for job in jobs}
        billed_keys = {key for key in sandbox.billed if key in keys}
        foreign = sorted(set(sandbox.billed) - keys)
        row.billed_twice = (sum(max(0, sandbox.billed[k] - 1) for k in billed_keys)
                            + max(0, sandbox.bill_count - len(billed_keys)))
        if foreign:
            row.codes.add(f"foreign bills: {', '.join(foreign)}")
    # Orphan files: files in storage that no Asset references (whichever job wrote them).
    row.orphans = len(stored_names - set(Asset.objects.values_list("file", flat=True)))
    return row
