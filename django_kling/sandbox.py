"""Deprecated: the sandbox moved to ``django_kling.testing.sandbox``; this keeps 0.1's imports."""

from .testing.sandbox import FAULTS, Call, Sandbox, WebhookDelivery

__all__ = ["FAULTS", "Call", "Sandbox", "WebhookDelivery"]
