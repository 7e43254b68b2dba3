"""Item 1: wall time of one job through the plugin against a bare httpx script doing the same.

    python -m bench.overhead            # 7 alternating repetitions (about 1 min)
    python -m bench.overhead --quick    # 3 repetitions

The sandbox runs in its own process, answers at once (delay 0) and serves a 5 s 1080p clip
with sound; a warm-up job renders that clip once, and every later job (plugin or bare) sends
the same image bytes, so it comes from the sandbox's render cache and rendering is excluded
from both sides. Columns, run in rotation in every repetition:

- ``plugin``: ``create_video_request`` (image checks, stored frame, row) then the pipeline's
  steps called in this thread one after the other (submit, poll, deliver: download into the
  configured local storage, probe, poster), exactly the code the actors run, minus the queue.
- ``actors``: the same job through the real Dramatiq actors and a worker (Redis broker when
  one answers, 8 threads, worker_timeout 100 ms): adds the queue hops.
- ``bare``: one httpx client making the same calls (start with the same body, status until
  completed, download) and writing the same bytes to a file.

POLL_INTERVAL is 0 on both sides (the bare loop polls again at once too). The app's fixes A
(one SSL context for downloads), D, E (cheaper polls) and F (the sandbox answers with
TCP_NODELAY) are in the tree, so ``plugin`` measures them. Verdict: median plugin / median
bare <= 1.10; the line also gives the absolute time the plugin adds per job.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from bench import harness
from bench.harness import median, say

GOAL = 1.10
PROMPT = "The bottle turns slowly; waves roll in the background."


# -- timing wrappers (for the breakdown of the plugin column) ---------------------------------

PHASES: dict[str, list[float]] = defaultdict(list)
_current: dict[str, float] = defaultdict(float)


@contextlib.contextmanager
def wrapped(owner: Any, name: str, label: str) -> Iterator[None]:
    original = getattr(owner, name)

    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            _current[label] += time.perf_counter() - start

    setattr(owner, name, timed)
    try:
        yield
    finally:
        setattr(owner, name, original)


@contextlib.contextmanager
def breakdown() -> Iterator[None]:
    from django.core.files.storage import FileSystemStorage

    from django_kling import jobs
    from django_kling.files import images, media
    from django_kling.flow import pipeline

    with contextlib.ExitStack() as stack:
        stack.enter_context(wrapped(jobs, "create_video_request", "create_video_request"))
        stack.enter_context(wrapped(images, "prepare_image", "  prepare_image"))
        stack.enter_context(wrapped(pipeline, "submit_step", "submit_step"))
        stack.enter_context(wrapped(pipeline, "poll_step", "poll_step (incl. deliver)"))
        stack.enter_context(wrapped(pipeline, "fetch_video", "  fetch_video (download)"))
        stack.enter_context(wrapped(media, "probe", "  media.probe"))
        stack.enter_context(wrapped(media, "poster_jpeg", "  media.poster_jpeg"))
        stack.enter_context(wrapped(FileSystemStorage, "_save", "  storage saves (3 files)"))
        yield


def take_phases() -> None:
    for label, value in _current.items():
        PHASES[label].append(value)
    _current.clear()


# -- the four columns ---------------------------------------------------------------------------


def plugin_inline(image: bytes) -> float:
    from django_kling import jobs
    from django_kling.flow import pipeline
    from django_kling.models import VideoRequest

    steps: dict[str, Callable[[Any], Any]] = {
        "submit": pipeline.submit_step, "poll": pipeline.poll_step, "fetch": pipeline.fetch_step}
    original_enqueue = jobs.enqueue
    jobs.enqueue = lambda job: None  # the steps run here, not on a queue
    try:
        start = time.perf_counter()
        job = jobs.create_video_request(image, prompt=PROMPT, duration=5)
        step = pipeline.submit_step(job.pk)
        while step is not None:
            if step.delay:
                time.sleep(step.delay)
            step = steps[step.step](job.pk)
        elapsed = time.perf_counter() - start
    finally:
        jobs.enqueue = original_enqueue
    job = VideoRequest.objects.get(pk=job.pk)
    assert job.status == "succeeded", (job.status, job.error_code, job.error_message)
    return elapsed


class ActorRunner:
    """A Dramatiq worker in this process; a job is timed until ``video_ready`` fires."""

    def __init__(self) -> None:
        import dramatiq

        from django_kling import tasks  # noqa: F401  (declares the actors)
        from django_kling.signals import video_failed, video_ready

        self.broker = dramatiq.get_broker()
        self.broker.flush_all()
        self.done: dict[str, threading.Event] = {}
        self.lock = threading.Lock()
        video_ready.connect(self._finished, weak=False)
        video_failed.connect(self._finished, weak=False)
        self.worker = dramatiq.Worker(self.broker, worker_threads=8, worker_timeout=100)
        self.worker.start()

    def _finished(self, sender: Any, request: Any, **kwargs: Any) -> None:
        with self.lock:
            event = self.done.setdefault(str(request.pk), threading.Event())
        event.set()

    def run(self, image: bytes) -> float:
        from django_kling import jobs
        from django_kling.models import VideoRequest

        start = time.perf_counter()
        job = jobs.create_video_request(image, prompt=PROMPT, duration=5)
        with self.lock:
            event = self.done.setdefault(str(job.pk), threading.Event())
        if not event.wait(60):
            raise TimeoutError("the actor job did not finish in 60 s")
        elapsed = time.perf_counter() - start
        job = VideoRequest.objects.get(pk=job.pk)
        assert job.status == "succeeded", (job.status, job.error_code, job.error_message)
        return elapsed

    def stop(self) -> None:
        self.worker.stop()
        self.broker.flush_all()


def bare_body(prepared: bytes, mime: str) -> dict[str, Any]:
    """The start body, written by hand: the same fields and image bytes the plugin sends."""
    image = {"type": "file", "mediaType": mime, "data": base64.b64encode(prepared).decode()}
    return {"n": 1, "duration": 5, "generateAudio": True, "image": image,
            "frameImages": [{"frameType": "first_frame", "image": image}],
            "providerOptions": {"klingai": {"mode": "pro"}}, "prompt": PROMPT,
            "aspectRatio": "16:9"}


def bare(base_url: str, body: dict[str, Any], folder: str) -> float:
    start = time.perf_counter()
    with httpx.Client(timeout=60) as client:
        started = client.post(base_url + "/video-model/start", json=body,
                              headers=harness.gateway_headers(
                                  {"idempotency-key": "bare_" + uuid.uuid4().hex}))
        started.raise_for_status()
        operation = started.json()["operation"]
        while True:
            status = client.post(base_url + "/video-model/status",
                                 json={"operation": operation},
                                 headers=harness.gateway_headers()).json()
            if status["status"] == "completed":
                break
            assert status["status"] == "pending", status
        path = os.path.join(folder, uuid.uuid4().hex + ".mp4")
        with client.stream("GET", status["videos"][0]["url"]) as response, \
                open(path, "wb") as out:
            response.raise_for_status()
            for chunk in response.iter_bytes(1024 * 1024):
                out.write(chunk)
    elapsed = time.perf_counter() - start
    assert os.path.getsize(path) > 100_000
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="3 repetitions")
    parser.add_argument("--no-actors", action="store_true", help="skip the actors column")
    parser.add_argument("--profile", action="store_true",
                        help="also profile 5 plugin jobs with pyinstrument and print the tree")
    args = parser.parse_args()
    reps = 3 if args.quick else args.reps

    redis = None if args.no_actors else harness.redis_url()
    sandbox = harness.SandboxProcess(delay=0.0, render_scale=1.0, result="url")
    runner = None
    try:
        with harness.temp_media() as media_root, harness.time_limit(600, "overhead"), \
                tempfile.TemporaryDirectory(prefix="kling-bare-") as bare_dir:
            harness.ensure_database()
            harness.setup_django(BENCH_GATEWAY_URL=sandbox.v4_url, BENCH_MEDIA_ROOT=media_root,
                                 BENCH_POLL_INTERVAL="0", BENCH_REDIS_URL=redis or "")
            harness.migrate()
            harness.clear_tables()
            from django_kling.models import VideoRequest

            image = harness.photo(1920, 1080)
            say(f"input: 1920x1080 JPEG, {len(image)} bytes; sandbox pid {sandbox.pid}, "
                f"delay 0, 5 s 1080p clip with sound")
            started = time.perf_counter()
            plugin_inline(image)  # warm-up: renders the clip once (cached from now on)
            say(f"warm-up job (renders the clip): {time.perf_counter() - started:.1f} s")
            first = VideoRequest.objects.select_related("first_frame", "video").get()
            with first.first_frame.file.open("rb") as fh:
                prepared = fh.read()
            clip_size = first.video.size
            body = bare_body(prepared, first.first_frame.mime)
            bare(sandbox.v4_url, body, bare_dir)  # warm-up of the bare side
            renders = sandbox.stats()["renders"]

            columns: dict[str, Callable[[], float]] = {
                "plugin": lambda: plugin_inline(image),
                "bare": lambda: bare(sandbox.v4_url, body, bare_dir),
            }
            if redis:
                runner = ActorRunner()
                runner.run(image)  # warm-up
                columns["actors"] = lambda: runner.run(image)
            times: dict[str, list[float]] = {name: [] for name in columns}
            names = list(columns)
            busy, started = harness.machine_busy(), time.perf_counter()
            for rep in range(reps):
                order = names[rep % len(names):] + names[:rep % len(names)]
                for name in order:
                    if name == "plugin":
                        with breakdown():
                            times[name].append(columns[name]())
                        take_phases()
                    else:
                        times[name].append(columns[name]())
            assert sandbox.stats()["renders"] == renders, "a run missed the render cache"
            note = harness.load_note(busy, time.perf_counter() - started)
            if args.profile:
                from pyinstrument import Profiler

                profiler = Profiler(interval=0.0005)
                with profiler:
                    for _ in range(5):
                        plugin_inline(image)
                say(profiler.output_text(unicode=False, color=False, show_all=False))
    finally:
        if runner is not None:
            runner.stop()
        sandbox.stop()

    base = median(times["bare"])
    say(f"\nclip: {clip_size} bytes; {reps} repetitions, medians (all runs in ms):")
    for name, values in times.items():
        ratio = median(values) / base
        say(f"  {name:<11} {median(values) * 1000:8.1f} ms  ratio {ratio:5.2f}   "
            f"[{', '.join(f'{v * 1000:.0f}' for v in values)}]")
    say(f"  {note}")
    say("\nplugin column, median time inside each function (ms, per job):")
    for label, values in PHASES.items():
        say(f"  {label:<32} {median(values) * 1000:8.1f}")
    ratio = median(times["plugin"]) / base
    added = median(times["plugin"]) - base
    harness.verdict("1 overhead per job", ratio <= GOAL,
                    f"plugin/bare = {ratio:.2f}, goal <= {GOAL:.2f}; the plugin adds "
                    f"{added * 1000:.0f} ms per job: {100 * added / 60:.2f} % of a 1 min "
                    f"generation, {100 * added / 300:.3f} % of a 5 min one"
                    + (f"; through actors {median(times['actors']) / base:.2f}"
                       if "actors" in times else ""))


if __name__ == "__main__":
    main()
