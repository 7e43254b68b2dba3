"""SIGKILL a worker process at a chosen point, once (a marker file remembers it happened)."""

import os
import signal
from pathlib import Path

from dramatiq.middleware import Middleware


def crash_once(point: str) -> None:
    """Kill this process with SIGKILL if ``point`` is the configured crash point."""
    if os.environ.get("KLING_CRASH_AT") != point:
        return
    marker = Path(os.environ["KLING_CRASH_MARKER"])
    try:
        marker.touch(exist_ok=False)
    except FileExistsError:
        return
    os.kill(os.getpid(), signal.SIGKILL)


def crash_mid_batch(sender, request, **kwargs) -> None:
    """``KLING_CRASH_AT=batch_job``: die once the third job of a batch is committed."""
    if request.batch_id is not None and request.batch_index == 2:
        crash_once("batch_job")


class CrashAt(Middleware):
    """Crash before an actor runs (``KLING_CRASH_AT=before:kling_submit``) or mid-batch."""

    def after_worker_boot(self, broker, worker) -> None:
        from django_kling.signals import video_requested

        video_requested.connect(crash_mid_batch, weak=False)

    def before_process_message(self, broker, message) -> None:
        crash_once(f"before:{message.actor_name}")
