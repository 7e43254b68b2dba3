"""Issue 24: the cost of signing a clip (C2PA content credentials) against its probe + poster.

    python -m bench.signing            # 10 s 1080p H.264 + AAC, 7 warm runs (~1 min)
    python -m bench.signing --quick    # 3 warm runs

The clip is rendered once with the sandbox's renderer (as ``bench.probe`` does). Measured in
this process, on the same file, warm (every library loaded, one untimed run first):

- **probe + poster**: ``media.probe`` + ``media.poster_jpeg``, what every delivery pays already;
- **signing**: what ``flow.signing.sign`` adds to a delivery: the clip signed into a new file
  (``credentials.sign_file``: reads it, hashes it, writes the signed copy, then our own
  size + SHA-256 pass over the copy) and the poster's JPEG signed in memory, with a
  development certificate (ES256).

CPU is ``time.process_time`` (all threads), the median of the runs. Peak memory is measured
in a fresh process per operation and run (``--child``; memory a process already holds would
hide it): it loads the libraries and does the operation once on a small clip, then resets its
peak (``/proc/self/clear_refs``) and does it once on the 1080p clip: growth = VmHWM - VmRSS
before; the median of ``--mem-runs`` processes. The verdict asks
signing to cost at most the probe + poster's CPU (ratio <= 1) and at most 32 MiB of peak
memory (the flow's streaming budget, bench/memory.py).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

from bench import harness
from bench.harness import median, say
from bench.probe import render

GOAL_RATIO = 1.0
GOAL_MIB = 32


def render_small(path: str) -> None:
    from PIL import Image

    from django_kling.testing.sandbox.render import render_clip

    with open(path, "wb") as fh:
        fh.write(render_clip(Image.new("RGB", (320, 180), (90, 30, 160)), None, width=320,
                             height=180, duration=1, audio=True))


def cost(func: Callable[[], object]) -> tuple[float, float]:
    """(CPU seconds, peak RSS growth in MiB) of one call."""
    before = harness.status_kb("VmRSS")
    harness.reset_peak_rss()
    start = time.process_time()
    func()
    spent = time.process_time() - start
    return spent, max(0, harness.status_kb("VmHWM") - before) / 1024


def operations(clip: str, folder: str) -> dict[str, Callable[[], object]]:
    """The two operations on ``clip``, signing with the credentials in ``folder``/c2pa."""
    from django.conf import settings
    from django.utils import timezone

    from django_kling.testing.certificates import development_credentials

    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "CONTENT_CREDENTIALS":
                             development_credentials(os.path.join(folder, "c2pa"))}
    from django_kling.conf import kling_settings
    from django_kling.files import credentials, media

    kling_settings.reload()
    facts = credentials.Provenance(software_agent="klingai/kling-v2.6-i2v (gateway)",
                                   created=timezone.now())
    poster = media.poster_jpeg(clip)[0]
    signed = clip + ".signed.mp4"

    def probe_and_poster() -> None:
        media.probe(clip, require_audio=True)
        media.poster_jpeg(clip)

    def sign() -> None:
        credentials.sign_file(clip, signed, mime="video/mp4", title="video.mp4",
                              provenance=facts)
        credentials.sign_bytes(poster, mime="image/jpeg", title="poster.jpg", provenance=facts)

    return {"probe+poster": probe_and_poster, "signing": sign}


def child(operation: str, clip: str, small: str, folder: str) -> None:
    harness.setup_django()
    operations(small, folder)[operation]()  # every library loaded, first-call set-up done
    print(json.dumps(cost(operations(clip, folder)[operation])[1]))


def peak_mib(operation: str, clip: str, small: str, folder: str) -> float:
    result = subprocess.run([sys.executable, "-m", "bench.signing", "--child", operation, clip,
                             small, folder], capture_output=True, text=True, check=True,
                            cwd=str(harness.ROOT))
    return float(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--mem-runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="3 repetitions")
    parser.add_argument("--child", nargs=4, metavar=("OPERATION", "CLIP", "SMALL", "FOLDER"))
    args = parser.parse_args()
    if args.child:
        return child(*args.child)
    reps = 3 if args.quick else args.reps

    with tempfile.TemporaryDirectory(prefix="kling-bench-signing-") as folder:
        harness.setup_django()
        clip, small = os.path.join(folder, "clip.mp4"), os.path.join(folder, "small.mp4")
        with harness.time_limit(900, "signing"):
            render(clip)
            render_small(small)
            size = os.path.getsize(clip)
            say(f"rendered 10 s 1080p H.264 + AAC: {size} bytes")
            ops = operations(clip, folder)
            busy, started = harness.machine_busy(), time.perf_counter()
            for operation in ops.values():
                operation()  # warm-up
            base = [cost(ops["probe+poster"])[0] for _ in range(reps)]
            signing = [cost(ops["signing"])[0] for _ in range(reps)]
            memory = {name: [peak_mib(name, clip, small, folder) for _ in range(args.mem_runs)]
                      for name in ops}
            note = harness.load_note(busy, time.perf_counter() - started)
            added = os.path.getsize(clip + ".signed.mp4") - size

    base_cpu, base_mib = median(base), median(memory["probe+poster"])
    sign_cpu, sign_mib = median(signing), median(memory["signing"])
    say(f"\n{reps} warm runs each (CPU), {args.mem_runs} fresh processes each (memory), medians:")
    say(f"  probe + poster  CPU {base_cpu:.3f} s  peak +{base_mib:.1f} MiB  "
        f"[{', '.join(f'{c:.3f}' for c in base)}] "
        f"[{', '.join(f'{m:.1f}' for m in memory['probe+poster'])}]")
    say(f"  signing         CPU {sign_cpu:.3f} s  peak +{sign_mib:.1f} MiB  "
        f"[{', '.join(f'{c:.3f}' for c in signing)}] "
        f"[{', '.join(f'{m:.1f}' for m in memory['signing'])}]")
    ratio_cpu = sign_cpu / base_cpu if base_cpu else float("inf")
    ratio_mib = sign_mib / base_mib if base_mib else float("inf")
    say(f"  ratio           CPU x{ratio_cpu:.2f}  peak memory x{ratio_mib:.2f}  "
        f"(manifest adds {added} bytes to the clip)")
    say(f"  {note}")
    harness.verdict("24 signing", ratio_cpu <= GOAL_RATIO and sign_mib <= GOAL_MIB,
                    f"CPU x{ratio_cpu:.2f} of probe + poster (goal <= {GOAL_RATIO}), "
                    f"peak +{sign_mib:.1f} MiB (goal <= {GOAL_MIB})")


if __name__ == "__main__":
    main()
