"""What the benchmarks share: Django set-up, the sandbox in a process of its own, moto, figures.

Every server a benchmark starts is a child process bound to 127.0.0.1 and stopped in a
``finally`` (the sandbox child also exits as soon as its control pipe closes), so an
interrupted run leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import io
import multiprocessing
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "bench-key"
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/kling_bench"
DEFAULT_REDIS = "redis://127.0.0.1:6379/5"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


# -- figures ----------------------------------------------------------------------------------


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def verdict(item: str, ok: bool | None, detail: str) -> str:
    word = {True: "PASS", False: "MISS", None: "PENDING"}[ok]
    line = f"VERDICT {item}: {word} ({detail})"
    print(line, flush=True)
    return line


def say(*parts: Any) -> None:
    print(*parts, flush=True)


@contextlib.contextmanager
def time_limit(seconds: float, what: str = "benchmark") -> Iterator[None]:
    """Raise TimeoutError in the main thread after ``seconds`` (keeps runs bounded)."""

    def _expired(signum: int, frame: Any) -> None:
        raise TimeoutError(f"{what} exceeded its {seconds:.0f}s limit")

    previous = signal.signal(signal.SIGALRM, _expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# -- processes --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """user + system CPU seconds of a process (all its threads), from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def pids_named(name: str) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as fh:
                    if fh.read().strip() == name:
                        pids.append(int(entry))
            except OSError:
                continue
    return pids


def machine_busy() -> float:
    """CPU seconds all processes of the machine have used (busy time of every core)."""
    with open("/proc/stat") as fh:
        values = [int(v) for v in fh.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values[:8]) - idle) / CLK_TCK


def load_note(busy_before: float, seconds: float) -> str:
    """One line on how busy the machine was (other engineers share it)."""
    busy = (machine_busy() - busy_before) / max(seconds, 1e-9)
    with open("/proc/loadavg") as fh:
        load = fh.read().split()[0]
    return (f"machine: {busy:.2f} of {os.cpu_count()} cores busy during the run (all processes),"
            f" load average {load}")


def postgres_cpu(database: str) -> float:
    """CPU seconds of the PostgreSQL backends serving ``database`` (not other databases)."""
    total = 0.0
    for pid in pids_named("postgres"):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                if f" {database} ".encode() in fh.read().replace(b"\0", b" ") + b" ":
                    total += cpu_seconds(pid)
        except OSError:
            continue
    return total


def cpu_of(name: str) -> float:
    """CPU seconds of every process called ``name`` (postgres backends, redis-server)."""
    return sum(cpu_seconds(pid) for pid in pids_named(name))


def status_kb(field: str, pid: int | str = "self") -> int:
    """A ``VmRSS``/``VmHWM``/``Threads`` line of /proc/PID/status (kB, or a count)."""
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def reset_peak_rss() -> None:
    """Reset VmHWM to the current RSS (Linux >= 4.0: write 5 to clear_refs)."""
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")


# -- the sandbox in its own process ---------------------------------------------------------


def _sandbox_child(conn: Any, options: dict[str, Any]) -> None:
    import threading

    from django_kling.testing.sandbox import Sandbox
    from django_kling.testing.sandbox.render import RENDER_CACHE

    # The app's sandbox answers with TCP_NODELAY itself (patch F, applied), so a kept-alive
    # client is not charged a delayed ACK (~40 ms) per answer.
    sandbox = Sandbox(api_key=API_KEY, **options).start()
    conn.send(sandbox.url)
    try:
        while True:
            try:
                command, arg = conn.recv()
            except (EOFError, OSError):
                return
            if command == "set":
                for name, value in arg.items():
                    setattr(sandbox, name, value)
                conn.send(None)
            elif command == "stats":
                conn.send({
                    "bill_count": sandbox.bill_count,
                    "start_calls": dict(sandbox.start_calls),
                    "calls": len(sandbox.calls),
                    "webhooks": [(w.url, w.status_code, w.error) for w in sandbox.webhooks],
                    "renders": RENDER_CACHE.renders,
                    "threads": threading.active_count(),
                })
            elif command == "calls":
                rows = []
                for call in sandbox.calls[arg:]:
                    body = call.json if isinstance(call.json, dict) else {}
                    operation = body.get("operation")
                    job_id = operation.get("gatewayJobId") if isinstance(operation, dict) else None
                    rows.append((call.method, call.path, call.headers.get("idempotency-key"),
                                 job_id, call.time))
                conn.send(rows)
            elif command == "jobs":  # (job id, start, ready) per generation, in unix time
                offset = time.time() - time.monotonic()
                conn.send([(job.id, job_start, job.ready_at + offset)
                           for job, job_start in _job_starts(sandbox, offset)])
            elif command == "max_running":
                conn.send(sandbox.max_running)
            elif command == "reset":
                sandbox.reset()
                conn.send(None)
            elif command == "stop":
                conn.send(None)
                return
    finally:
        sandbox.stop()


def _job_starts(sandbox: Any, offset: float) -> list[tuple[Any, float]]:
    # A job's start is its creation: its ready time minus the generation time it drew is not
    # kept, so the start call's own log time stands for it.
    starts = {}
    for call in sandbox.calls:
        if call.path.endswith("/video-model/start"):
            starts.setdefault(call.headers.get("idempotency-key"), call.time)
    with sandbox._lock:
        jobs = list(sandbox._jobs.values())
    return [(job, starts.get(job.key, job.ready_at + offset)) for job in jobs]


class SandboxProcess:
    """``Sandbox`` running in a child process; options and counters go through a pipe."""

    def __init__(self, **options: Any) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self.process = context.Process(target=_sandbox_child, args=(child, options),
                                       name="kling-sandbox", daemon=True)
        self.process.start()
        child.close()
        if not self._conn.poll(60):
            self.stop()
            raise RuntimeError("the sandbox process did not start")
        self.url = self._conn.recv()
        self.v4_url = self.url + "/v4/ai"

    @property
    def pid(self) -> int:
        return self.process.pid

    def _ask(self, command: str, arg: Any = None) -> Any:
        self._conn.send((command, arg))
        return self._conn.recv()

    def set(self, **options: Any) -> None:
        self._ask("set", options)

    def stats(self) -> dict[str, Any]:
        return self._ask("stats")

    def calls(self, since: int = 0) -> list[tuple]:
        """(method, path, idempotency key, operation job id, unix time) per request."""
        return self._ask("calls", since)

    def jobs(self) -> list[tuple]:
        """(job id, start, ready) per generation, in unix time."""
        return self._ask("jobs")

    def max_running(self) -> int:
        return self._ask("max_running")

    def reset(self) -> None:
        self._ask("reset")

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._ask("stop")
        self.process.join(10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)
        self._conn.close()

    def __enter__(self) -> SandboxProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- moto's S3 server in its own process --------------------------------------------------------


class MotoProcess:
    """``moto_server`` on loopback with one bucket; its memory is not the worker's."""

    def __init__(self, bucket: str = "kling-bench") -> None:
        import boto3

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        executable = Path(sys.executable).with_name("moto_server")
        self.process = subprocess.Popen(
            [str(executable), "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        limit = time.monotonic() + 30
        while time.monotonic() < limit:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port),
                                                                        timeout=0.5):
                break
            time.sleep(0.1)
        else:
            self.stop()
            raise RuntimeError("moto_server did not start")
        self.bucket = bucket
        boto3.client("s3", endpoint_url=self.url, region_name="us-east-1",
                     aws_access_key_id="testing",
                     aws_secret_access_key="testing").create_bucket(Bucket=bucket)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    @property
    def pid(self) -> int:
        return self.process.pid

    def __enter__(self) -> MotoProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- Django -----------------------------------------------------------------------------------


def bench_env(**extra: str) -> dict[str, str]:
    """Environment for this process and its workers (set before ``setup_django``)."""
    env = {
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "BENCH_DATABASE_URL": os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB),
    }
    env.update({k: v for k, v in extra.items() if v is not None})
    return env


def setup_django(**extra: str) -> None:
    os.environ.update(bench_env(**extra))
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def ensure_database() -> str:
    """Create the bench database if needed (PostgreSQL) and bring its tables up to date."""
    import dj_database_url

    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB)
    config = dj_database_url.parse(url)
    if "postgresql" in config["ENGINE"]:
        import psycopg

        admin = psycopg.connect(host=config["HOST"] or "127.0.0.1", port=config["PORT"] or 5432,
                                user=config["USER"] or "postgres", dbname="postgres",
                                autocommit=True)
        with admin:
            found = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                  (config["NAME"],)).fetchone()
            if not found:
                admin.execute(f'CREATE DATABASE "{config["NAME"]}"')
    return url


def migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def clear_tables() -> None:
    """Empty the app's tables (and the test shop's) in the bench database."""
    from django.db import connection

    from django_kling import models
    from tests.shop.models import Product

    tables = [models.VideoRequest._meta.db_table, models.Asset._meta.db_table,
              Product._meta.db_table]
    if hasattr(models, "VideoBatch"):  # the tree before batches has none (bench.scale runs it)
        tables.append(models.VideoBatch._meta.db_table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE")
        else:
            for table in tables:
                cursor.execute(f'DELETE FROM "{table}"')


@contextlib.contextmanager
def temp_media() -> Iterator[str]:
    path = tempfile.mkdtemp(prefix="kling-bench-media-")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def redis_url() -> str | None:
    """The bench's Redis (db 5 by default, namespace kling-bench) when it answers, else None."""
    url = os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS)
    try:
        import redis

        redis.Redis.from_url(url, socket_timeout=1).ping()
    except Exception:  # noqa: BLE001
        return None
    return url


# -- inputs -----------------------------------------------------------------------------------


def photo(width: int = 1920, height: int = 1080, fmt: str = "JPEG", seed: int = 1) -> bytes:
    """A deterministic picture with gradients and shapes (so codecs have real work)."""
    from PIL import Image, ImageDraw

    red = Image.linear_gradient("L").rotate(90 + seed * 10).resize((width, height))
    green = Image.linear_gradient("L").resize((width, height))
    blue = Image.radial_gradient("L").resize((width, height))
    image = Image.merge("RGB", (red, green, blue))
    draw = ImageDraw.Draw(image)
    for index in range(12):
        left = (index * 157 + seed * 31) % (width - 200)
        top = (index * 89 + seed * 17) % (height - 200)
        draw.ellipse((left, top, left + 180, top + 180),
                     fill=((index * 60) % 256, 200 - index * 10, 90 + index * 12))
    out = io.BytesIO()
    image.save(out, fmt, quality=90) if fmt == "JPEG" else image.save(out, fmt)
    return out.getvalue()


def gateway_headers(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The gateway headers (docs/providers.rst), written out by hand (for the bare clients)."""
    headers = {
        "authorization": f"Bearer {API_KEY}",
        "ai-gateway-protocol-version": "0.0.1",
        "ai-gateway-auth-method": "api-key",
        "ai-model-id": "klingai/kling-v2.6-i2v",
        "ai-video-model-specification-version": "4",
        "content-type": "application/json",
    }
    headers.update(extra or {})
    return headers


def python() -> str:
    return sys.executable


def run_child(args: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    """Run ``python -m ...`` in the repository with the bench environment."""
    full_env = {**os.environ, **env}
    return subprocess.run([python(), *args], cwd=ROOT, env=full_env, capture_output=True,
                          text=True, timeout=timeout, check=False)


# -- profiling ----------------------------------------------------------------------------------


def pyspy_record(pid: int, output: str) -> subprocess.Popen:
    """Start py-spy sampling ``pid`` (threads holding the GIL only) into folded stacks.

    Stop it with ``pyspy_stop``: py-spy's own ``--duration`` counts samples, so on a busy
    machine it overruns the window it was meant to cover.
    """
    executable = Path(sys.executable).with_name("py-spy")
    return subprocess.Popen(
        [str(executable), "record", "--pid", str(pid), "--rate", "200", "--format", "raw",
         "--output", output, "--nonblocking", "--gil"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def pyspy_stop(process: subprocess.Popen) -> None:
    """End a recording; py-spy writes its file on SIGINT."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def pyspy_summary(path: str, top: int = 30, focus: tuple[str, ...] = ()) -> str:
    """Inclusive share of samples per function (counted once per stack), largest first."""
    inclusive: dict[str, int] = {}
    total = 0
    with open(path) as fh:
        for line in fh:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if not count.isdigit():
                continue
            samples = int(count)
            total += samples
            seen = set()
            for frame in stack.split(";"):
                name = frame.split(" (")[0]
                where = frame.split(" (")[1].rstrip(")") if " (" in frame else ""
                where = where.split("site-packages/")[-1].split("/work/main/")[-1]
                label = f"{name} ({where.rsplit(':', 1)[0]})"
                if label in seen:
                    continue
                seen.add(label)
                inclusive[label] = inclusive.get(label, 0) + samples
    if not total:
        return "  (no samples)"
    rows = sorted(inclusive.items(), key=lambda item: -item[1])
    if focus:
        rows = [row for row in rows if any(f in row[0] for f in focus)]
    return "\n".join(f"  {100 * count / total:5.1f}%  {label}" for label, count in rows[:top])
