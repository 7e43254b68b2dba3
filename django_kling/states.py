"""Deprecated: the job's states and moves now live on the model (``django_kling.models``).

Kept so that code written against 0.1 keeps working; new code uses ``VideoRequest.Status`` and
``VideoRequest.objects.transition()`` / ``update_fields()``.
"""

from __future__ import annotations

from typing import Any

from .models import ACTIVE, ALLOWED, FINAL, Status, VideoRequest, can_move

__all__ = ["ACTIVE", "ALLOWED", "FINAL", "Status", "can_move", "transition", "update_fields"]


def transition(request: VideoRequest | Any, target: str, **kwargs: Any) -> VideoRequest:
    """``VideoRequest.objects.transition()``."""
    return VideoRequest.objects.transition(request, target, **kwargs)


def update_fields(request: VideoRequest | Any, **kwargs: Any) -> bool:
    """``VideoRequest.objects.update_fields()``."""
    return VideoRequest.objects.update_fields(request, **kwargs)
