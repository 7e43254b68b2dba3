"""Providers that host the Kling model, looked up by the name used in settings."""

from __future__ import annotations

import json
import threading

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


_local = threading.local()


def shared_provider(name: str | None = None) -> VideoProvider:
    """A provider client kept for this thread, so its connections are reused between steps.

    A worker thread runs many steps; opening a TCP and TLS connection for each status call
    would cost more than the call itself. The client is rebuilt when the settings change.
    """
    name = name or kling_settings.PROVIDER
    options = kling_settings.provider_options(name)
    key = (name, json.dumps(options, sort_keys=True, default=str))
    cache = getattr(_local, "providers", None)
    if cache is None:
        cache = _local.providers = {}
    provider = cache.get(name)
    if provider is None or provider[0] != key:
        if provider is not None:
            provider[1].close()
        provider = cache[name] = (key, import_string(REGISTRY[name])(options))
    return provider[1]


__all__ = [
    "GenerationInput",
    "ImageInput",
    "JobStatus",
    "REGISTRY",
    "Started",
    "VideoOutput",
    "VideoProvider",
    "get_provider",
    "shared_provider",
]
