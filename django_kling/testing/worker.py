"""A Dramatiq worker inside the current process, for development and the in-memory broker.

With Dramatiq's stub (in-memory) broker the queue lives in one process, so that process must
also run the worker: the demo shop's web server and ``kling_generate --wait`` do. Production
runs ``manage.py rundramatiq`` on a real broker instead.
"""

from __future__ import annotations

import threading

import dramatiq
from dramatiq.brokers.stub import StubBroker

_lock = threading.Lock()
_worker: dramatiq.Worker | None = None


def uses_in_memory_broker() -> bool:
    return isinstance(dramatiq.get_broker(), StubBroker)


def start_embedded_worker(threads: int = 4) -> dramatiq.Worker:
    """Start (once) a worker on the current broker in background threads of this process."""
    global _worker
    from .. import tasks  # noqa: F401  (declares the actors on the broker)

    with _lock:
        if _worker is None:
            _worker = dramatiq.Worker(dramatiq.get_broker(), worker_threads=threads,
                                      worker_timeout=100)
            _worker.start()
        return _worker


def stop_embedded_worker() -> None:
    global _worker
    with _lock:
        if _worker is not None:
            _worker.stop()
            _worker = None
