"""Run every benchmark, one after the other, and print their verdicts together.

    python -m bench.run_all            # the figures of bench/README.md (~13 min)
    python -m bench.run_all --quick    # smaller runs of each (~7 min)
    python -m bench.run_all --only overhead,probe

Each benchmark runs as its own process (``python -m bench.NAME``); its full output is printed
as it comes, and the VERDICT lines are repeated at the end with the time each run took.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from bench.harness import ROOT

BENCHMARKS = {
    "overhead": [],
    "memory": [],
    "calls": [],
    "queries": [],
    "probe": ["--preset", "medium"],
    "captions": [],
    "signing": [],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default="", help="comma-separated names: "
                        + ", ".join(BENCHMARKS))
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n] or list(BENCHMARKS)
    summary = []
    failed = False
    for name in names:
        command = [sys.executable, "-m", f"bench.{name}", *BENCHMARKS[name]]
        if args.quick:
            command = [*command[:3], "--quick"]  # each benchmark's own smaller run
        print(f"\n=== {' '.join(['python', *command[1:]])}", flush=True)
        started = time.monotonic()
        process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True)
        verdicts = []
        for line in process.stdout:
            print(line, end="", flush=True)
            if line.startswith("VERDICT"):
                verdicts.append(line.strip())
        process.wait()
        elapsed = time.monotonic() - started
        if process.returncode:
            failed = True
            verdicts.append(f"ERROR bench.{name} exited with {process.returncode}")
        summary += [f"{v}   [{name}, {elapsed:.0f} s]" for v in verdicts]
    print("\n=== verdicts")
    for line in summary:
        print(line)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
