"""Issue 24: the cost of timing captions (decode the audio, find the speech, cut the cues) on a
10 s 1080p H.264 + AAC clip, as a ratio to what the fetch step already spends on the same clip
(``media.probe`` + ``media.poster_jpeg``).

    python -m bench.captions            # 9 warm runs of each
    python -m bench.captions --quick    # 5

The clip is the sandbox's (``render.render_clip``) with a spoken line, so the audio holds a
voice from 1.0 s over room noise, as a real clip would. CPU: ``time.process_time`` (every
thread of the process, PyAV's decoder threads included), cold call apart, median of the warm
ones, interleaved. Peak memory: each operation runs in a fresh process (``--child``) that
first does the same work on a 1 s clip (libraries loaded, codecs opened), then resets its peak
RSS (``/proc/self/clear_refs``) and measures the growth of ``VmHWM`` over ``VmRSS`` during
one call on the 10 s clip; median of ``--children`` processes. (In one long-lived process the
allocator keeps freed memory, so a warm call shows no growth at all.)
Verdict: captions within the probe's own budget (<= 0.3 s CPU, bench item 6) and at most
``MEMORY_GOAL`` times its memory; the ratios are what bench/README.md records.
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

from bench import harness
from bench.harness import median, say

LINE = "Meet the Aurora bottle. Made to last, made for you, and refilled in seconds."
CPU_GOAL = 0.3  # seconds: the budget bench.probe gives probe + poster
MEMORY_GOAL = 2.0


def render(path: str, width: int = 1920, height: int = 1080, duration: int = 10) -> None:
    from PIL import Image

    from django_kling.testing.sandbox.render import render_clip

    clip = render_clip(Image.open(io.BytesIO(harness.photo(width, height))), None, width=width,
                       height=height, duration=duration, audio=True, speech=LINE)
    with open(path, "wb") as fh:
        fh.write(clip)


def cost(func: Callable[[], object]) -> tuple[float, float]:
    """CPU seconds and peak RSS growth (MiB) of one call."""
    gc.collect()
    before = harness.status_kb("VmRSS")
    harness.reset_peak_rss()
    start = time.process_time()
    func()
    spent = time.process_time() - start
    peak = max(harness.status_kb("VmHWM"), harness.status_kb("VmRSS"))
    return spent, max(0, peak - before) / 1024


def operations(path: str) -> dict[str, Callable[[], object]]:
    from django_kling.files import media
    from django_kling.files.captions import caption_clip
    from django_kling.testing.sandbox import voice

    def probe_and_poster() -> None:
        media.probe(path, require_audio=True)
        media.poster_jpeg(path)

    def captions() -> None:
        made = caption_clip(path, LINE, "The presenter", 10.0)
        assert made.cues and made.cues[0].start <= voice.SPEECH_START + 0.5, made

    return {"probe": probe_and_poster, "captions": captions}


def child(operation: str, path: str) -> None:
    """One operation's peak memory growth, in this fresh process (see the module's note)."""
    harness.setup_django()
    with tempfile.TemporaryDirectory(prefix="kling-bench-captions-warm-") as folder:
        small = os.path.join(folder, "small.mp4")
        render(small, 320, 180, 1)
        operations(small)[operation]()
    print(json.dumps({"growth": cost(operations(path)[operation])[1]}))


def memory_in_children(path: str, count: int) -> dict[str, float]:
    growth: dict[str, list[float]] = {"probe": [], "captions": []}
    for _ in range(count):
        for operation in growth:
            out = subprocess.run([sys.executable, "-m", "bench.captions", "--child", operation,
                                  path], capture_output=True, text=True, check=True,
                                 env={**os.environ, **harness.bench_env()})
            growth[operation].append(json.loads(out.stdout.strip().splitlines()[-1])["growth"])
    return {name: median(values) for name, values in growth.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=9)
    parser.add_argument("--children", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="5 repetitions, 1 child each")
    parser.add_argument("--child", nargs=2, metavar=("OPERATION", "CLIP"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    reps, children = (5, 1) if args.quick else (args.reps, args.children)
    harness.setup_django()

    with harness.time_limit(600, "captions"), tempfile.TemporaryDirectory(
            prefix="kling-bench-captions-") as folder:
        path = os.path.join(folder, "spoken.mp4")
        started = time.perf_counter()
        render(path)
        say(f"rendered 10 s 1080p H.264 + AAC with a spoken line: {os.path.getsize(path)} bytes "
            f"in {time.perf_counter() - started:.1f} s")
        ops = operations(path)
        busy, started = harness.machine_busy(), time.perf_counter()
        cold = {name: cost(func)[0] for name, func in ops.items()}
        runs: dict[str, list[float]] = {"probe": [], "captions": []}
        for _ in range(reps):  # interleaved, so a busy moment hits both alike
            for name, func in ops.items():
                runs[name].append(cost(func)[0])
        memory = memory_in_children(path, children)
        note = harness.load_note(busy, time.perf_counter() - started)

    cpu = {name: median(values) for name, values in runs.items()}
    say(f"\n{reps} warm runs each (cold run in brackets); memory: median of {children} fresh "
        "process(es):")
    for name, label in (("probe", "probe + poster"), ("captions", "captions")):
        say(f"  {label:<15} CPU {cpu[name]:.3f} s ({cold[name]:.3f})  "
            f"peak RSS growth {memory[name]:.1f} MiB  "
            f"[{', '.join(f'{v:.3f}' for v in runs[name])}]")
    cpu_ratio = cpu["captions"] / cpu["probe"] if cpu["probe"] else float("inf")
    memory_ratio = memory["captions"] / memory["probe"] if memory["probe"] else float("inf")
    say(f"  ratio captions / (probe + poster): CPU {cpu_ratio:.2f}, memory {memory_ratio:.2f}")
    say(f"  {note}")
    harness.verdict("captions", cpu["captions"] <= CPU_GOAL and memory_ratio <= MEMORY_GOAL,
                    f"{cpu['captions']:.3f} s CPU (goal <= {CPU_GOAL} s), CPU ratio "
                    f"{cpu_ratio:.2f}, memory ratio {memory_ratio:.2f} (goal <= {MEMORY_GOAL})")


if __name__ == "__main__":
    main()
