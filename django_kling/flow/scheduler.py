"""The polling scheduler: one loop per worker process asks about every running job when due.

Each round claims the due jobs in one query (``polling.claim_due``: ``next_check_at <= now``,
``SKIP LOCKED``), asks the provider about them on a thread pool that shares one HTTP client per
provider, and sleeps until the next job is due (at most ``SCHEDULER["TICK"]``). A job's next
check is written by its own poll (``pipeline.poll_claimed``), so the cost of polling grows with
the status calls made, not with the jobs waiting: no message per poll, no sleeping message per
job. The round also admits queued jobs over a concurrency cap (``admission``), and every
``ORPHAN_GRACE / 2`` seconds removes the files dead workers left staged (``staging``).

Workers run it through the ``django_kling.middleware.Scheduler`` Dramatiq middleware (a thread
per worker process); ``kling_sync --loop`` runs it as a process of its own.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from django.db import connections

from ..conf import kling_settings
from ..models import VideoRequest
from ..providers import shared_provider
from . import admission, batch_queue, dispatch, pipeline, polling, staging

logger = logging.getLogger("django_kling.flow.scheduler")


class Scheduler:
    """The loop; ``start()`` runs it in a daemon thread, ``stop()`` ends it."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._connections: list[Any] = []
        self._lock = threading.Lock()

    def start(self) -> Scheduler:
        self._thread = threading.Thread(target=self.run, name="kling-scheduler", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 30) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run(self) -> None:
        options = kling_settings.SCHEDULER
        threads = int(options["THREADS"])
        pool = ThreadPoolExecutor(threads, thread_name_prefix="kling-poll")
        outstanding: set[Future] = set()
        admitted_at = swept_at = 0.0
        try:
            while not self._stop.is_set():
                tick = float(kling_settings.SCHEDULER["TICK"])
                try:
                    if time.monotonic() - admitted_at >= tick:
                        admitted_at = time.monotonic()
                        admission.admit_waiting()
                        batch_queue.resume_stalled()
                    if time.monotonic() - swept_at >= kling_settings.ORPHAN_GRACE / 2:
                        swept_at = time.monotonic()
                        staging.remove_orphans()
                    pause = tick
                    # Claim a whole batch when the pool is about to run dry: one claim query
                    # serves up to BATCH polls, which queue in the pool meanwhile.
                    if len(outstanding) < threads:
                        pause = polling.next_due_in(tick)
                    if len(outstanding) < threads and pause <= 0:
                        jobs = polling.claim_due(int(options["BATCH"]))
                        outstanding |= {pool.submit(self._poll, job, shared_provider(job.provider))
                                        for job in jobs}
                        pause = 0 if len(jobs) == int(options["BATCH"]) \
                            else polling.next_due_in(tick)
                except Exception:  # noqa: BLE001  (the database went away: try again later)
                    logger.exception("scheduler round failed")
                    connections.close_all()
                    pause = tick
                if outstanding:
                    _done, outstanding = wait(outstanding, timeout=pause,
                                              return_when=FIRST_COMPLETED)
                elif pause:
                    self._stop.wait(pause)
        finally:
            pool.shutdown(wait=True)
            self._close_connections()

    def _poll(self, job: VideoRequest, provider: Any) -> None:
        # ``provider``: the loop thread's client, shared by every thread of the pool.
        self._remember_connection()
        try:
            with polling.released_on_error(job.pk, job.claimed_until):
                following = pipeline.poll_claimed(job, provider=provider)
            if following is not None:
                dispatch.send(following.step, job.pk, delay=following.delay)
        except Exception:  # noqa: BLE001  (the claim was given back, or lapses: polled again)
            logger.exception("polling job %s failed", job.pk)
            connections["default"].close()

    def _remember_connection(self) -> None:
        # The pool's threads keep their connections between polls; they are closed at stop
        # from the loop's thread, so they must be marked as shared.
        conn = connections["default"]
        with self._lock:
            if not any(known is conn for known in self._connections):
                conn.inc_thread_sharing()
                self._connections.append(conn)

    def _close_connections(self) -> None:
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        connections.close_all()
