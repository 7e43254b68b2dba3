"""Item 4: gateway requests per job, with the completion webhook and without it.

    python -m bench.calls            # delay 12 s, poll interval 3 s, 3 jobs per mode (~35 s)
    python -m bench.calls --quick    # delay 6 s, interval 2 s, 2 jobs per mode

The sandbox runs in its own process and logs every request; a Dramatiq worker (8 threads,
Redis when it answers, else the in-memory broker) runs the real actors in this process, and for
the webhook half Django is served on loopback (Django's threaded WSGI server) with
``DJANGO_KLING["WEBHOOK_URL"]`` pointing at it, so the sandbox's signed callback reaches the
app's ``django_kling:webhook`` view, which queues ``poll_now``. Both halves use the same delay
and poll interval, in one run, one after the other (the setting is read at submit time).

Counted per job from the sandbox's log: start calls (by idempotency key) + status calls (by
operation); the clip download (GET /files/...) is listed apart. Goals: 2 with the webhook;
<= delay / interval + 2 without.
"""

from __future__ import annotations

import argparse
import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

from bench import harness
from bench.harness import say


@contextlib.contextmanager
def web_server(port: int) -> Iterator[str]:
    """The Django project (tests.urls: admin + django_kling.urls) on 127.0.0.1:port."""
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadedWSGIServer(("127.0.0.1", port), QuietHandler, allow_reuse_address=True)
    server.set_app(WSGIHandler())
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                              name="bench-web", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def webhook_support() -> str | None:
    """Why the webhook half cannot run against this tree, or None when it can."""
    from django.urls import NoReverseMatch, reverse

    from django_kling import conf

    if "WEBHOOK_URL" not in {s.name for s in conf.SETTINGS}:
        return "DJANGO_KLING has no WEBHOOK_URL setting yet"
    try:
        reverse("django_kling:webhook", args=["00000000-0000-0000-0000-000000000000", "x"])
    except NoReverseMatch:
        return "no django_kling:webhook URL yet"
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--delay", type=float, default=12.0)
    parser.add_argument("--interval", type=float, default=3.0)
    parser.add_argument("--jobs", type=int, default=3, help="jobs per mode")
    parser.add_argument("--quick", action="store_true", help="delay 6 s, interval 2 s, 2 jobs")
    args = parser.parse_args()
    if args.quick:
        args.delay, args.interval, args.jobs = 6.0, 2.0, 2

    redis = harness.redis_url()
    sandbox = harness.SandboxProcess(delay=args.delay, render_scale=0.25, result="url")
    port = harness.free_port()
    worker = None
    try:
        with harness.temp_media() as media_root, harness.time_limit(
                args.delay * 4 + 120, "calls"):
            harness.ensure_database()
            harness.setup_django(BENCH_GATEWAY_URL=sandbox.v4_url, BENCH_MEDIA_ROOT=media_root,
                                 BENCH_POLL_INTERVAL=str(args.interval),
                                 BENCH_REDIS_URL=redis or "")
            harness.migrate()
            harness.clear_tables()
            import dramatiq
            from django.conf import settings
            from django.test import override_settings

            from django_kling import tasks  # noqa: F401
            from django_kling.jobs import create_video_request
            from django_kling.models import FINAL, VideoRequest

            missing = webhook_support()
            broker = dramatiq.get_broker()
            broker.flush_all()
            worker = dramatiq.Worker(broker, worker_threads=8, worker_timeout=100)
            worker.start()
            image = harness.photo(1280, 720)
            # Warm-up: the sandbox renders the clip once; every job after it hits the cache.
            warm = create_video_request(image, prompt="Waves.")
            _wait([warm.pk], VideoRequest, FINAL, args.delay + 60)
            sandbox.reset()
            busy = harness.machine_busy()
            started = time.monotonic()

            modes: dict[str, list[str]] = {"without webhook": []}
            with web_server(port) as base:
                for _ in range(args.jobs):
                    modes["without webhook"].append(
                        str(create_video_request(image, prompt="Waves.").pk))
                _wait(modes["without webhook"], VideoRequest, FINAL, args.delay * 3 + 60)
                if missing is None:
                    # Then the same with the callback configured (one after the other: the
                    # setting is process-wide and is read when a job is submitted).
                    modes["with webhook"] = []
                    hooked = {**settings.DJANGO_KLING, "WEBHOOK_URL": base}
                    with override_settings(DJANGO_KLING=hooked):
                        for _ in range(args.jobs):
                            modes["with webhook"].append(
                                str(create_video_request(image, prompt="Waves.").pk))
                        _wait(modes["with webhook"], VideoRequest, FINAL, args.delay * 3 + 60)
            elapsed = time.monotonic() - started
            calls = sandbox.calls()
            hooks = sandbox.stats()["webhooks"]
            jobs = {str(j.pk): j for j in VideoRequest.objects.filter(
                pk__in=[pk for pks in modes.values() for pk in pks])}
    finally:
        if worker is not None:
            worker.stop()
            with contextlib.suppress(Exception):
                broker.flush_all()
        sandbox.stop()

    say(f"sandbox delay {args.delay:.0f} s, POLL_INTERVAL {args.interval:.0f} s "
        f"(WEBHOOK_POLL_INTERVAL default); {args.jobs} jobs per mode; broker "
        f"{'Redis' if redis else 'in-memory'}")
    results: dict[str, list[int]] = {}
    for mode, pks in modes.items():
        counts = []
        for pk in pks:
            job = jobs[pk]
            assert job.status == "succeeded", (mode, job.status, job.error_code)
            api = [c for c in calls if c[2] == job.idempotency_key
                   or (c[3] and c[3] == job.operation_id)]
            files = [c for c in calls if c[0] == "GET" and job.result_url.endswith(c[1])]
            counts.append(len(api))
            say(f"  {mode:<16} job {pk[:8]}: {len(api)} gateway requests "
                f"({', '.join(c[1].rsplit('/', 1)[-1] for c in api)}), "
                f"{len(files)} download, {(job.finished_at - job.submitted_at).total_seconds():.1f}"
                f" s from submit to stored, poll_count {job.poll_count}")
        results[mode] = counts
    say(f"  webhook deliveries: {len(hooks)} ({', '.join(str(h[1] or h[2]) for h in hooks)})")
    say("  " + harness.load_note(busy, elapsed))
    bound = args.delay / args.interval + 2
    without = max(results["without webhook"])
    harness.verdict("4 calls per job, without webhook", without <= bound,
                    f"at most {without} gateway requests per job, goal <= delay/interval + 2 "
                    f"= {bound:.0f}")
    if missing is not None:
        harness.verdict("4 calls per job, with webhook", None, f"not run: {missing}")
    else:
        with_hook = max(results["with webhook"])
        harness.verdict("4 calls per job, with webhook", with_hook == 2,
                        f"at most {with_hook} gateway requests per job, goal 2")


def _wait(pks: list[Any], model: Any, final: Any, timeout: float) -> None:
    limit = time.monotonic() + timeout
    while time.monotonic() < limit:
        if model.objects.filter(pk__in=pks, status__in=final).count() == len(pks):
            return
        time.sleep(0.2)
    raise TimeoutError(f"jobs did not end within {timeout:.0f} s")


if __name__ == "__main__":
    main()
