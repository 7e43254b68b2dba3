"""System checks for misconfiguration, with stable ids (``django_kling.E001`` ...).

All are registered under the ``django_kling`` tag (``manage.py check --tag django_kling``).
Checks that need secrets or production services, or that only matter under load, are deploy
checks (``check --deploy``): a build without secrets (``migrate``, ``collectstatic``,
``makemigrations``) must pass.

The checks here are about the generic settings; each provider checks its own options
(``VideoProvider.check`` and ``check_deploy``), called here for the configured provider.
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured

from . import publishing_checks
from .conf import PROVIDER_OPTIONS, SETTING_NAME, KlingSettings
from .providers import REGISTRY

TAG = "django_kling"

# What one clip upload may hold in memory before a deploy check warns (bench/README.md, 2).
MAX_UPLOAD_MEMORY = 32 * 2**20


@register(TAG, Tags.compatibility)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list:
    errors: list = []
    conf = KlingSettings()  # fresh: a check must see the current settings, not a cache
    try:
        conf.user_settings  # noqa: B018  (validates the top-level keys)
    except ImproperlyConfigured as exc:
        return [Error(str(exc), hint=f"Fix the {SETTING_NAME} setting.", id="django_kling.E001")]

    try:
        provider = conf.PROVIDER
        if provider not in PROVIDER_OPTIONS:
            errors.append(Error(
                f"Unknown provider {provider!r}.",
                hint=f"Set {SETTING_NAME}['PROVIDER'] to one of: "
                     f"{', '.join(sorted(PROVIDER_OPTIONS))}.",
                id="django_kling.E002",
            ))
        else:
            options = conf.provider_options(provider)
            errors += REGISTRY[provider].check(options)
            errors += _check_models(conf.MODELS, REGISTRY[provider].default_model(options))
        errors += _check_order(conf, provider)
        conf.DEFAULTS  # noqa: B018  (validates the keys)
        conf.PRICES  # noqa: B018
    except ImproperlyConfigured as exc:
        errors.append(Error(str(exc), hint=f"Fix the {SETTING_NAME} setting.",
                            id="django_kling.E001"))

    errors.extend(_check_capabilities(conf))
    errors.extend(_check_download_hosts(conf))
    errors.extend(_check_renditions(conf.RENDITIONS))
    storages_setting = getattr(settings, "STORAGES", {}) or {}
    if conf.STORAGE not in storages_setting:
        errors.append(Error(
            f"Storage alias {conf.STORAGE!r} is not in STORAGES.",
            hint=f"Add it to STORAGES or set {SETTING_NAME}['STORAGE'] to one of: "
                 f"{', '.join(sorted(storages_setting)) or '(none)'}.",
            id="django_kling.E004",
        ))

    errors.extend(_check_served(conf.STORAGE))
    has_broker = "django_dramatiq" in settings.INSTALLED_APPS and getattr(
        settings, "DRAMATIQ_BROKER", None)
    if not has_broker:
        errors.append(Error(
            "No Dramatiq broker is configured, so video jobs would never run.",
            hint='Add "django_dramatiq" to INSTALLED_APPS (before "django_kling") and set '
                 "DRAMATIQ_BROKER (Redis, RabbitMQ, or the stub broker for development).",
            id="django_kling.E005",
        ))
    elif settings.INSTALLED_APPS.index("django_dramatiq") > _app_index("django_kling"):
        errors.append(Warning(
            '"django_dramatiq" comes after "django_kling" in INSTALLED_APPS.',
            hint="List django_dramatiq first so the broker exists before our actors.",
            id="django_kling.W001",
        ))
    if has_broker:
        errors.extend(_check_actor_options())
    return errors


def _check_served(alias: str) -> list:
    """W006: a file system storage whose files get no URL a browser can fetch (``MEDIA_URL``
    unset), land in the working directory (``MEDIA_ROOT`` unset), or, with ``DEBUG`` on,
    are served by no URL pattern: every thumbnail and clip would answer 404."""
    from django.core.files.storage import FileSystemStorage, storages
    from django.urls import Resolver404, resolve

    try:
        storage = storages[alias]
    except Exception:  # noqa: BLE001  (E004, or the storage's own error to report)
        return []
    if not isinstance(storage, FileSystemStorage):
        return []
    hint = ('Set MEDIA_ROOT = BASE_DIR / "media" and MEDIA_URL = "media/", and serve them '
            "while DEBUG is on: urlpatterns += static(settings.MEDIA_URL, "
            "document_root=settings.MEDIA_ROOT) (see the quick start).")
    problems = []
    if not storage.base_location:
        problems.append("MEDIA_ROOT is not set, so files land in the working directory")
    if storage.base_url in ("", "/"):  # Django turns an unset MEDIA_URL into "/"
        problems.append("MEDIA_URL is not set, so its files' URLs point at the site's pages")
    elif settings.DEBUG and "://" not in storage.base_url:
        try:
            resolve(storage.base_url + "kling/check.mp4")
        except Resolver404:
            problems.append(f"no URL pattern serves {storage.base_url} while DEBUG is on")
        except Exception:  # noqa: BLE001, S110  (a broken URLconf is Django's own check)
            pass
    return [Warning(f"Storage {alias!r} stores uploads and clips on disk, but {problem}: "
                    "pictures and clips would answer 404.", hint=hint, id="django_kling.W006")
            for problem in problems]


def _check_download_hosts(conf: KlingSettings) -> list:
    from .files.download import parse_allowed_host

    entries = conf.ALLOWED_DOWNLOAD_HOSTS
    hint = ('Write each entry as "host", "host:port" or "host:*", prefixed "http://" where '
            'plain http is allowed, e.g. ["cdn.example.com", "http://127.0.0.1:*"].')
    if not isinstance(entries, (list, tuple)):
        return [Error(f"{SETTING_NAME}['ALLOWED_DOWNLOAD_HOSTS'] must be a list.", hint=hint,
                      id="django_kling.E011")]
    errors = []
    for entry in entries:
        try:
            parse_allowed_host(entry)
        except ValueError as exc:
            errors.append(Error(f"{SETTING_NAME}['ALLOWED_DOWNLOAD_HOSTS']: {exc}.", hint=hint,
                                id="django_kling.E011"))
    return errors


def _check_renditions(renditions: Any) -> list:
    """RENDITIONS is a list of dicts with a unique name, a height and a bitrate ceiling."""
    valid = isinstance(renditions, (list, tuple)) and all(
        isinstance(spec, dict) and isinstance(spec.get("name"), str)
        and isinstance(spec.get("height"), int) and spec["height"] >= 2
        and isinstance(spec.get("max_bitrate"), int) and spec["max_bitrate"] > 0
        for spec in renditions)
    if valid and len({spec["name"] for spec in renditions}) == len(renditions):
        return []
    return [Error(f"{SETTING_NAME}['RENDITIONS'] must be a list of dicts with a unique "
                  "'name', an integer 'height' and an integer 'max_bitrate'.",
                  hint="See the RENDITIONS setting in the documentation.",
                  id="django_kling.E020")]


def _check_order(conf: KlingSettings, provider: str) -> list:
    """PROVIDERS_ORDER names known providers, each checked like PROVIDER."""
    order = conf.PROVIDERS_ORDER
    if not isinstance(order, (list, tuple)) or not all(isinstance(n, str) for n in order):
        return [Error(f"{SETTING_NAME}['PROVIDERS_ORDER'] must be a list of provider names.",
                      id="django_kling.E013")]
    unknown = [name for name in order if name not in PROVIDER_OPTIONS]
    if unknown:
        return [Error(
            f"Unknown provider(s) in PROVIDERS_ORDER: {', '.join(map(repr, unknown))}.",
            hint=f"Known providers: {', '.join(sorted(PROVIDER_OPTIONS))}.",
            id="django_kling.E013",
        )]
    errors: list = []
    for name in dict.fromkeys(order):
        if name != provider:
            errors += REGISTRY[name].check(conf.provider_options(name))
    return errors


def _check_actor_options() -> list:
    """The broker's middleware must define every option our actors declare.

    Without it the actors cannot even be declared ("actor options undefined"), so a job would
    be created and never sent.
    """
    import dramatiq

    from .flow.actor_options import ACTOR_OPTIONS

    broker = dramatiq.get_broker()
    missing = sorted(set(ACTOR_OPTIONS) - {"queue_name"} - set(broker.actor_options))
    if not missing:
        return []
    return [Error(
        f"The Dramatiq broker's middleware does not define the actor options {missing}.",
        hint='Add "dramatiq.middleware.Retries" and "dramatiq.middleware.TimeLimit" (and keep '
             '"dramatiq.middleware.AgeLimit") to DRAMATIQ_BROKER["MIDDLEWARE"].',
        id="django_kling.E008",
    )]


def _check_models(models: Any, default: str) -> list:
    """E010: ``MODELS`` is a non-empty list of ids holding the provider's default ``MODEL``."""
    if not (isinstance(models, (list, tuple)) and models
            and all(isinstance(m, str) and m for m in models)):
        return [Error(f"{SETTING_NAME}['MODELS'] must be a non-empty list of model ids.",
                      id="django_kling.E010")]
    if default not in models:
        return [Error(
            f"The provider's default model {default!r} is not in {SETTING_NAME}['MODELS'].",
            hint="Add it to MODELS, or set the provider's MODEL option to one of them.",
            id="django_kling.E010")]
    return []


def _check_capabilities(conf: KlingSettings) -> list:
    """E014: ``CAPABILITIES`` is {model id: {provider: {fact: value}}} with known providers and
    facts (the fields of ``capabilities.Route``)."""
    from . import capabilities

    where = f"{SETTING_NAME}['CAPABILITIES']"
    errors: list = []
    for model, by_provider in conf.CAPABILITIES.items():
        if not isinstance(by_provider, dict):
            errors.append(Error(f"{where}[{model!r}] must be a dict by provider name.",
                                id="django_kling.E014"))
            continue
        for name, facts in by_provider.items():
            try:
                if name not in PROVIDER_OPTIONS:
                    raise KeyError(f"provider {name!r}")
                capabilities.with_overrides(capabilities.documented(model, name), dict(facts))
            except (KeyError, TypeError, ValueError) as exc:
                errors.append(Error(
                    f"{where}[{model!r}][{name!r}]: unknown {exc}.",
                    hint=f"Known facts: {', '.join(capabilities.FIELDS)}; providers: "
                         f"{', '.join(sorted(PROVIDER_OPTIONS))}.", id="django_kling.E014"))
    return errors


SCHEDULER_MIDDLEWARE = "django_kling.middleware.Scheduler"


@register(TAG, Tags.security, deploy=True)
def check_deploy(app_configs: Any = None, **kwargs: Any) -> list:
    conf = KlingSettings()
    try:
        provider = conf.PROVIDER
        options = conf.provider_options(provider) if provider in PROVIDER_OPTIONS else {}
        webhook_url, webhook_cache = conf.WEBHOOK_URL, conf.WEBHOOK_CACHE
        storage, credentials = conf.STORAGE, conf.CONTENT_CREDENTIALS
    except ImproperlyConfigured:
        return []  # reported by check_settings
    errors: list = []
    if provider in PROVIDER_OPTIONS:
        errors += REGISTRY[provider].check_deploy(options)
    order = conf.PROVIDERS_ORDER if isinstance(conf.PROVIDERS_ORDER, (list, tuple)) else []
    for name in dict.fromkeys(order):
        if name != provider and name in PROVIDER_OPTIONS:
            errors += REGISTRY[name].check_deploy(conf.provider_options(name))
    for name in dict.fromkeys([provider, *order]):
        if name in PROVIDER_OPTIONS:
            errors.extend(_check_sandbox(name, conf.provider_options(name)))
    if webhook_url:
        errors.extend(_check_webhook_cache(webhook_cache))
    errors.extend(_check_upload_memory(storage))
    errors.extend(_check_scheduler())
    if conf.CAPTIONS and not conf.CAPTIONS_CORS:
        errors.extend(publishing_checks.caption_cors(storage))
    errors.extend(publishing_checks.content_credentials(credentials))
    return errors


#: The key the sandbox accepts by default (``kling_sandbox``, the demo).
SANDBOX_KEY = "sandbox-key"


def _check_sandbox(name: str, options: dict[str, Any]) -> list:
    """W030: a provider's options still point at the sandbox: its key or a loopback URL."""
    found = [key for key, value in options.items() if value == SANDBOX_KEY
             or (key.endswith("_URL") and isinstance(value, str) and _loopback(value))]
    if not found:
        return []
    return [Warning(
        f'{SETTING_NAME}["PROVIDERS"]["{name}"] points at the sandbox ({", ".join(found)}): '
        "no real clip is made, and nobody is billed.",
        hint="In production give the provider its real key and leave its URLs at their "
             "defaults (or a public host).",
        id="django_kling.W030",
    )]


def _loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback or host == "0.0.0.0"  # noqa: S104
    except ValueError:
        return False


def _check_scheduler() -> list:
    """W004: no worker runs the polling scheduler (``kling_sync --loop`` cannot be seen)."""
    middleware = (getattr(settings, "DRAMATIQ_BROKER", None) or {}).get("MIDDLEWARE") or []
    if SCHEDULER_MIDDLEWARE in middleware:
        return []
    return [Warning(
        "The Dramatiq workers do not run the polling scheduler: running jobs are only asked "
        "about when kling_sync sends them a message.",
        hint=f'Add "{SCHEDULER_MIDDLEWARE}" to DRAMATIQ_BROKER["MIDDLEWARE"], or run '
             '"manage.py kling_sync --loop" as a process of its own (then silence this '
             'warning with SILENCED_SYSTEM_CHECKS).',
        id="django_kling.W004",
    )]


def _check_webhook_cache(alias: str) -> list:
    backend = str(settings.CACHES.get(alias, {}).get("BACKEND", ""))
    if not backend.endswith(("LocMemCache", "DummyCache")):
        return []
    return [Warning(
        f"WEBHOOK_URL is set but the cache {alias!r} ({backend.rsplit('.', 1)[-1]}) is not "
        "shared between processes: the web process never sees the signing secrets the workers "
        "store, so every webhook would be refused.",
        hint=f"Point {SETTING_NAME}['WEBHOOK_CACHE'] at a shared cache (Redis, Memcached, "
             "database).",
        id="django_kling.W002",
    )]


def _check_upload_memory(alias: str) -> list:
    try:
        from storages.backends.s3 import S3Storage
    except ImportError:
        return []
    backend = str(getattr(settings, "STORAGES", {}).get(alias, {}).get("BACKEND", ""))
    if not backend:
        return []
    from django.utils.module_loading import import_string

    try:
        if not issubclass(import_string(backend), S3Storage):
            return []
        from django.core.files.storage import storages

        config = storages[alias].transfer_config
    except Exception:  # noqa: BLE001  (a broken storage is the storage's own error to report)
        return []
    held = (config.multipart_chunksize
            * getattr(config, "max_in_memory_upload_chunks", 10))
    if held <= MAX_UPLOAD_MEMORY:
        return []
    return [Warning(
        f"Storage {alias!r} may hold {held // 2**20} MiB in memory for each clip it uploads "
        f"(boto3's default TransferConfig); a worker uploading a few large clips at once "
        "can run out of memory.",
        hint='Pass OPTIONS["transfer_config"] = TransferConfig(max_concurrency=2, '
             "multipart_chunksize=8 * 2**20) with max_in_memory_upload_chunks = 2 (see the "
             "deployment page, 'Sizing').",
        id="django_kling.W003",
    )]


def _app_index(name: str) -> int:
    for index, entry in enumerate(settings.INSTALLED_APPS):
        if entry == name or entry.startswith(name + "."):
            return index
    return len(settings.INSTALLED_APPS)
