"""Providers that host the Kling model, looked up by the name used in settings."""

from __future__ import annotations

from django.utils.module_loading import import_string

from ..conf import PROVIDER_OPTIONS, kling_settings
from .base import GenerationInput, ImageInput, JobStatus, Started, VideoOutput, VideoProvider

REGISTRY: dict[str, str] = {
    "gateway": "django_kling.providers.gateway.GatewayProvider",
}
assert set(REGISTRY) == set(PROVIDER_OPTIONS), "every provider needs its settings"


def get_provider(name: str | None = None) -> VideoProvider:
    """A ready provider client for ``name`` (the configured provider by default)."""
    name = name or kling_settings.PROVIDER
    options = kling_settings.provider_options(name)
    return import_string(REGISTRY[name])(options)


__all__ = [
    "GenerationInput",
    "ImageInput",
    "JobStatus",
    "REGISTRY",
    "Started",
    "VideoOutput",
    "VideoProvider",
    "get_provider",
]
