"""Item 3, in detail: the app's own CPU per poll, side by side: new client per poll / as is.

    python -m bench.pollcost            # 200 running jobs, 9 rounds (~1 min)
    python -m bench.pollcost --quick    # 100 jobs, 5 rounds

No queue here: ``pipeline.poll_step`` is called directly (one thread) for jobs that stay pending
(sandbox in its own process, delay 1 h), so the figure is the step's own work: load the row,
one status call, write the poll count. Each round polls every job once with each variant, in
rotation; ``next_check_at`` is reset between rounds (outside the timing) so the step's
duplicate-poll guard lets every call through. Variants:

- ``new client``: a new provider (new ``httpx.Client``: SSL context, TCP connection) for every
  poll, as the pipeline did before ``providers.shared_provider`` (the cost the issue asked about).
- ``as is``: the tree as it is (a provider kept per thread; since fc93afa also one conditional
  UPDATE in ``states.update_fields`` and no frame joins when loading the row to poll it, the
  former patches D and E).

The queue's own cost per poll (Dramatiq + Redis) is in ``bench.capacity``'s figure on top.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Iterator
from typing import Any

from bench import harness
from bench.harness import median, say


@contextlib.contextmanager
def variant(name: str) -> Iterator[None]:
    from django_kling import pipeline, providers

    saved = pipeline.shared_provider
    if name == "new client":
        class OneShot:
            def __init__(self, provider: Any) -> None:
                self.provider = provider

            def status(self, operation: Any) -> Any:
                try:
                    return self.provider.status(operation)
                finally:
                    self.provider.close()

            def __getattr__(self, attr: str) -> Any:
                return getattr(self.provider, attr)

        pipeline.shared_provider = lambda name=None: OneShot(providers.get_provider(name))
    try:
        yield
    finally:
        pipeline.shared_provider = saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--quick", action="store_true", help="100 jobs, 5 rounds")
    args = parser.parse_args()
    if args.quick:
        args.jobs, args.rounds = 100, 5

    sandbox = harness.SandboxProcess(delay=3600.0, render_scale=0.1, result="url")
    try:
        with harness.temp_media() as media_root, harness.time_limit(600, "pollcost"):
            harness.ensure_database()
            harness.setup_django(BENCH_GATEWAY_URL=sandbox.v4_url, BENCH_MEDIA_ROOT=media_root,
                                 BENCH_POLL_INTERVAL="5")
            harness.migrate()
            harness.clear_tables()
            from django.utils import timezone

            from bench.capacity import make_rows
            from django_kling import pipeline
            from django_kling.models import VideoRequest

            pks = make_rows(args.jobs)
            for pk in pks:
                step = pipeline.submit_step(pk)
                assert step is not None and step.step == "poll", step
            names = ["new client", "as is"]
            cpu: dict[str, list[float]] = {name: [] for name in names}
            wall: dict[str, list[float]] = {name: [] for name in names}
            busy = harness.machine_busy()
            started = time.monotonic()
            for round_ in range(args.rounds + 1):
                order = names[round_ % len(names):] + names[:round_ % len(names)]
                for name in order:
                    VideoRequest.objects.update(next_check_at=timezone.now())
                    with variant(name):
                        c0, w0 = time.process_time(), time.perf_counter()
                        for pk in pks:
                            step = pipeline.poll_step(pk)
                            assert step is not None and step.step == "poll", step
                        c1, w1 = time.process_time(), time.perf_counter()
                    if round_:  # the first round warms every variant up
                        cpu[name].append(1000 * (c1 - c0) / len(pks))
                        wall[name].append(1000 * (w1 - w0) / len(pks))
            note = harness.load_note(busy, time.monotonic() - started)
            polls = VideoRequest.objects.values_list("poll_count", flat=True)
            assert set(polls) == {len(names) * (args.rounds + 1)}, set(polls)
            harness.clear_tables()
    finally:
        sandbox.stop()

    say(f"poll_step per call, {args.jobs} pending jobs x {args.rounds} rounds per variant "
        "(median of rounds):")
    for name in names:
        say(f"  {name:<11} CPU {median(cpu[name]):5.2f} ms   wall {median(wall[name]):5.2f} ms"
            f"   [CPU per round: {', '.join(f'{v:.2f}' for v in cpu[name])}]")
    say(f"  {note}")
    base = median(cpu["as is"])
    say(f"  a new client per poll costs {median(cpu['new client']) - base:+.2f} ms CPU per poll "
        f"({median(cpu['new client']) / base:.1f}x the poll as is); as is, one process can make "
        f"at most {1000 / base:.0f} polls/s of poll_step alone (2000 jobs every 5 s need 400)")


if __name__ == "__main__":
    main()
