"""Dramatiq middleware for workers that run django-kling's actors."""

from __future__ import annotations

import logging
import threading
from typing import Any

from dramatiq.middleware import Middleware

logger = logging.getLogger("django_kling.worker")


class SyncOnBoot(Middleware):
    """Run ``kling_sync`` once when a worker process boots.

    Add ``"django_kling.middleware.SyncOnBoot"`` to ``DRAMATIQ_BROKER["MIDDLEWARE"]``: work that
    was lost while no worker ran (an in-memory broker, a crash, a flushed queue) resumes at
    start instead of waiting for the next cron run.
    """

    def after_worker_boot(self, broker: Any, worker: Any) -> None:
        # In a thread: the worker must not wait on the database to start consuming.
        threading.Thread(target=self._sync, name="kling-sync-on-boot", daemon=True).start()

    def _sync(self) -> None:
        from django.db import close_old_connections

        from .flow.sync import sync

        try:
            report = sync()
            if report.count:
                logger.info("kling_sync at boot re-enqueued %s request(s)", report.count)
        except Exception:  # noqa: BLE001  (a worker must boot even if the database is down)
            logger.exception("kling_sync at boot failed")
        finally:
            close_old_connections()


class Scheduler(Middleware):
    """Run the polling scheduler (``django_kling.flow.scheduler``) in every worker process.

    Add ``"django_kling.middleware.Scheduler"`` to ``DRAMATIQ_BROKER["MIDDLEWARE"]``: running
    jobs are asked about by this loop, not by a message per status call. Without it, run
    ``manage.py kling_sync --loop`` as a process of its own.
    """

    def __init__(self) -> None:
        self._running: dict[int, Any] = {}

    def after_worker_boot(self, broker: Any, worker: Any) -> None:
        from .flow.scheduler import Scheduler as Loop

        self._running[id(worker)] = Loop().start()

    def before_worker_shutdown(self, broker: Any, worker: Any) -> None:
        loop = self._running.pop(id(worker), None)
        if loop is not None:
            loop.stop()
