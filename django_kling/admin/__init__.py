"""Admin for django-kling's own models (the any-model action lives in ``admin.actions``)."""

from .models import AssetAdmin, VideoRequestAdmin

__all__ = ["AssetAdmin", "VideoRequestAdmin"]
