"""Item 2: peak resident memory growth of a worker while it fetches 20 MB, 200 MB and 1 GB clips.

    python -m bench.memory                       # local storage and S3 (moto), 3 sizes (~2 min)
    python -m bench.memory --quick               # 20 MB and 200 MB only
    python -m bench.memory --storage s3 --sizes 1000

The sandbox (its own process) serves a real 5 s 1080p clip with sound, padded with a top-level
MP4 ``free`` box to the wanted size (``pad_to_bytes``); moto's S3 server runs as its own process
too, so neither's memory is counted. Each (storage, size) runs in a fresh worker process
(``--child``): it sets Django up, runs one whole warm-up job (every library loaded, clients
made), submits the measured job, then resets its peak RSS (``/proc/self/clear_refs``), and runs
the poll step that finds the job completed and delivers it: download into a temp file, sha256,
probe, poster, save into the storage. Growth = max(VmHWM, sampled VmRSS) - VmRSS before.
The stored clip's size is checked, so the probe accepted the padded file.

``MAX_DOWNLOAD_BYTES`` is raised to 1.5 GiB for this run (the default, 512 MiB, refuses 1 GB).
Verdict: every growth <= 32 MiB and flat (largest - smallest <= 8 MiB) per storage.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import threading
import time

from bench import harness
from bench.harness import say

GOAL_MIB = 32
FLAT_MIB = 8
MB = 1000 * 1000
CAP = int(1.5 * 2**30)


# -- the worker process -----------------------------------------------------------------------


def child(storage: str, patched: bool) -> None:
    harness.setup_django()
    if patched:
        from bench import patches

        patches.s3_transfer_config()
    from django_kling import jobs
    from django_kling.flow import pipeline
    from django_kling.models import VideoRequest

    image = harness.photo(1920, 1080)
    jobs.enqueue = lambda job: None  # this process runs the steps itself
    phases: dict[str, int] = {}
    watch(phases)

    def run_job(measure: bool) -> dict:
        job = jobs.create_video_request(image, prompt="Waves.", duration=5)
        step = pipeline.submit_step(job.pk)
        assert step is not None and step.step == "poll", step
        gc.collect()
        if measure:
            print("READY", flush=True)  # the parent sets the padding now
            assert sys.stdin.readline().strip() == "GO"
        idle = harness.status_kb("VmRSS")
        phases.clear()
        harness.reset_peak_rss()
        peak = [idle]
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                peak[0] = max(peak[0], harness.status_kb("VmRSS"))
                stop.wait(0.002)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        started = time.perf_counter()
        step = pipeline.poll_step(job.pk)
        while step is not None:  # pending while the sandbox renders (warm-up) or races us
            time.sleep(0.05)
            step = pipeline.poll_step(job.pk)
        elapsed = time.perf_counter() - started
        stop.set()
        sampler.join()
        hwm = max([harness.status_kb("VmHWM"), *phases.values()])
        job = VideoRequest.objects.select_related("video").get(pk=job.pk)
        assert job.status == "succeeded", (job.status, job.error_code, job.error_message)
        size = job.video.size
        job.video.file.delete(save=False)  # keep the disk and the bucket small
        job.poster.file.delete(save=False)
        return {"idle_kb": idle, "hwm_kb": hwm, "sampled_kb": peak[0], "seconds": elapsed,
                "stored_bytes": size, "threads": harness.status_kb("Threads"),
                "phases": {name: kb - idle for name, kb in phases.items()}}

    run_job(measure=False)  # warm-up: imports, codecs, clients, connections
    result = run_job(measure=True)
    print("RESULT " + json.dumps(result), flush=True)


def watch(phases: dict[str, int]) -> None:
    """Record the peak RSS (kB) inside each phase of the delivery, by wrapping its functions.

    The peak is reset when a phase starts, so a phase's figure is its own high-water mark; the
    overall peak is the largest of them (and of the sampler).
    """
    from django.core.files.storage import FileSystemStorage

    from django_kling.files import media
    from django_kling.flow import pipeline

    def wrap(owner: object, name: str, label: str) -> None:
        original = getattr(owner, name)

        def measured(*args: object, **kwargs: object) -> object:
            phases[label] = max(phases.get(label, 0), harness.status_kb("VmHWM"))
            harness.reset_peak_rss()
            try:
                return original(*args, **kwargs)
            finally:
                phases[label] = max(phases.get(label, 0), harness.status_kb("VmHWM"))
                harness.reset_peak_rss()

        setattr(owner, name, measured)

    wrap(pipeline, "fetch_video", "download")
    wrap(media, "probe", "probe")
    wrap(media, "poster_jpeg", "poster")
    wrap(FileSystemStorage, "_save", "save")
    try:
        from storages.backends.s3 import S3Storage
    except ImportError:
        return
    wrap(S3Storage, "_save", "save")


# -- the parent -------------------------------------------------------------------------------


def run_one(sandbox: harness.SandboxProcess, storage: str, size: int, env: dict[str, str],
            patched: bool) -> dict:
    sandbox.set(pad_to_bytes=None)
    args = [sys.executable, "-m", "bench.memory", "--child", "--storage", storage]
    if patched:
        args.append("--patched")
    process = subprocess.Popen(args, cwd=harness.ROOT, env={**os.environ, **env},
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        result = None
        for line in process.stdout:
            if line.startswith("READY"):
                sandbox.set(pad_to_bytes=size)
                process.stdin.write("GO\n")
                process.stdin.flush()
            elif line.startswith("RESULT "):
                result = json.loads(line[7:])
        process.wait(600)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    if process.returncode or result is None:
        raise RuntimeError(f"the worker for {storage}/{size} failed ({process.returncode})")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--storage", choices=["local", "s3", "both"], default="both")
    parser.add_argument("--sizes", default="20,200,1000", help="clip sizes in MB")
    parser.add_argument("--quick", action="store_true", help="20 and 200 MB only")
    parser.add_argument("--patched", action="store_true",
                        help="apply the recommended S3 transfer settings (patch C, "
                             "bench/patches.py)")
    args = parser.parse_args()
    if args.child:
        child(args.storage, args.patched)
        return

    sizes = [20, 200] if args.quick else [int(s) for s in args.sizes.split(",")]
    storages = ["local", "s3"] if args.storage == "both" else [args.storage]
    harness.ensure_database()
    results: dict[tuple[str, int], dict] = {}
    sandbox = harness.SandboxProcess(delay=0.0, render_scale=1.0, result="url")
    moto = harness.MotoProcess() if "s3" in storages else None
    try:
        with harness.temp_media() as media_root, harness.time_limit(900, "memory"):
            env = harness.bench_env(BENCH_GATEWAY_URL=sandbox.v4_url, BENCH_MEDIA_ROOT=media_root,
                                    BENCH_POLL_INTERVAL="0", BENCH_MAX_DOWNLOAD_BYTES=str(CAP))
            if moto is not None:
                env.update(BENCH_S3_ENDPOINT=moto.url, BENCH_S3_BUCKET=moto.bucket)
            harness.setup_django(**env)
            harness.migrate()
            harness.clear_tables()
            busy, started = harness.machine_busy(), time.perf_counter()
            for storage in storages:
                env["BENCH_STORAGE"] = "s3" if storage == "s3" else "default"
                for size in sizes:
                    result = run_one(sandbox, storage, size * MB, env, args.patched)
                    results[storage, size] = result
                    growth = (max(result["hwm_kb"], result["sampled_kb"])
                              - result["idle_kb"]) / 1024
                    say(f"  {storage:<5} {size:>5} MB: idle {result['idle_kb'] / 1024:6.1f} MiB,"
                        f" peak +{growth:6.1f} MiB, {result['seconds']:5.1f} s, stored "
                        f"{result['stored_bytes']} bytes, {result['threads']} threads after; "
                        "by phase: " + ", ".join(f"{k} +{v / 1024:.1f}"
                                                 for k, v in result["phases"].items()))
                    assert result["stored_bytes"] == size * MB, "stored size differs"
            harness.clear_tables()
            note = harness.load_note(busy, time.perf_counter() - started)
    finally:
        sandbox.stop()
        if moto is not None:
            moto.stop()

    say("\npeak RSS growth above idle while fetching (MiB):")
    say("  storage " + "".join(f"{size:>9} MB" for size in sizes))
    say(f"  {note}")
    ok = True
    summary = []
    for storage in storages:
        growths = [(max(results[storage, s]["hwm_kb"], results[storage, s]["sampled_kb"])
                    - results[storage, s]["idle_kb"]) / 1024 for s in sizes]
        say(f"  {storage:<7} " + "".join(f"{g:12.1f}" for g in growths))
        flat = max(growths) - min(growths) <= FLAT_MIB
        ok = ok and flat and max(growths) <= GOAL_MIB
        summary.append(f"{storage} max +{max(growths):.1f} MiB"
                       f" ({'flat' if flat else 'grows with size'})")
    harness.verdict("2 memory while fetching" + (" (patched)" if args.patched else ""), ok,
                    "; ".join(summary) + f"; goal <= {GOAL_MIB} MiB and flat")


if __name__ == "__main__":
    main()
