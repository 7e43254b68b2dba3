"""Providers that host the Kling model, looked up by the name used in settings.

Each provider is one module (or package) here that owns everything about its service: its
options and their defaults, its system checks, its callback signatures, and the reading of its
answers into the normalized fields of ``base``. Importing this package registers every
provider's options with ``conf``; see "Adding a provider" in the manual.

May use: the base (``conf``, ``options``, ``exceptions``) and its own modules (``transport``,
``bodies``: bounded reading of third-party HTTP bodies). Providers know nothing of the wings: the
core reads their normalized answers, never their JSON.
"""

from __future__ import annotations

import hashlib
import json
import threading

from ..conf import kling_settings, register_provider
from .base import (
    Answer,
    GenerationInput,
    ImageInput,
    JobStatus,
    PollingProvider,
    Started,
    VideoOutput,
    VideoProvider,
)
from .fal import FalProvider
from .gateway import GatewayProvider
from .kling import KlingProvider
from .replicate import ReplicateProvider

#: Every provider class by the name used in settings; the first one is the default provider.
REGISTRY: dict[str, type[VideoProvider]] = {
    provider.name: provider
    for provider in (GatewayProvider, KlingProvider, FalProvider, ReplicateProvider)
}
for _name, _provider in REGISTRY.items():
    register_provider(_name, _provider.OPTIONS)


def provider_class(name: str | None = None) -> type[VideoProvider]:
    """The class of provider ``name`` (the configured one by default)."""
    name = name or kling_settings.PROVIDER
    kling_settings.provider_options(name)  # an unknown name raises ConfigurationError
    return REGISTRY[name]


def get_provider(name: str | None = None) -> VideoProvider:
    """A ready provider client for ``name`` (the configured provider by default)."""
    name = name or kling_settings.PROVIDER
    options = kling_settings.provider_options(name)
    return REGISTRY[name](options)


_local = threading.local()


def shared_provider(name: str | None = None) -> VideoProvider:
    """A provider client kept for this thread, so its connections are reused between steps.

    A worker thread runs many steps; opening a TCP and TLS connection for each status call
    would cost more than the call itself. The client is rebuilt when the settings change.
    """
    name = name or kling_settings.PROVIDER
    options = kling_settings.provider_options(name)
    # A digest, not the dump itself: the dump holds the API key and locals reach error reports.
    key = (name, hashlib.sha256(json.dumps(options, sort_keys=True, default=str).encode())
           .hexdigest())
    cache = getattr(_local, "providers", None)
    if cache is None:
        cache = _local.providers = {}
    provider = cache.get(name)
    if provider is None or provider[0] != key:
        if provider is not None:
            provider[1].close()
        provider = cache[name] = (key, REGISTRY[name](options))
    return provider[1]


__all__ = [
    "Answer",
    "GenerationInput",
    "ImageInput",
    "JobStatus",
    "PollingProvider",
    "REGISTRY",
    "Started",
    "VideoOutput",
    "VideoProvider",
    "get_provider",
    "provider_class",
    "shared_provider",
]
