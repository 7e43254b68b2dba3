"""Deprecated: the embedded worker moved to ``django_kling.testing.worker``."""

from .testing.worker import start_embedded_worker, stop_embedded_worker, uses_in_memory_broker

__all__ = ["start_embedded_worker", "stop_embedded_worker", "uses_in_memory_broker"]
