"""System checks for misconfiguration, with stable ids (``django_kling.E001`` ...)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured

from .conf import PROVIDER_OPTIONS, SETTING_NAME, KlingSettings


@register(Tags.compatibility)
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
            if not options.get("API_KEY"):
                errors.append(Error(
                    f"No API key for the {provider!r} provider.",
                    hint="Set the AI_GATEWAY_API_KEY environment variable or "
                         f"{SETTING_NAME}['PROVIDERS']['{provider}']['API_KEY'].",
                    id="django_kling.E003",
                ))
            if options.get("PROTOCOL") not in {"async", "stream"}:
                errors.append(Error(
                    f"Unknown protocol {options.get('PROTOCOL')!r}.",
                    hint='Use "async" (recommended) or "stream".',
                    id="django_kling.E006",
                ))
            elif options["PROTOCOL"] == "async" and not str(options["BASE_URL"]).rstrip(
                "/").endswith("/v4/ai"):
                errors.append(Error(
                    "The async protocol needs the gateway's v4 base URL.",
                    hint='Use a BASE_URL ending in "/v4/ai", or PROTOCOL "stream".',
                    id="django_kling.E007",
                ))
        conf.DEFAULTS  # noqa: B018  (validates the keys)
        conf.PRICES  # noqa: B018
    except ImproperlyConfigured as exc:
        errors.append(Error(str(exc), hint=f"Fix the {SETTING_NAME} setting.",
                            id="django_kling.E001"))

    storages_setting = getattr(settings, "STORAGES", {}) or {}
    if conf.STORAGE not in storages_setting:
        errors.append(Error(
            f"Storage alias {conf.STORAGE!r} is not in STORAGES.",
            hint=f"Add it to STORAGES or set {SETTING_NAME}['STORAGE'] to one of: "
                 f"{', '.join(sorted(storages_setting)) or '(none)'}.",
            id="django_kling.E004",
        ))

    if "django_dramatiq" not in settings.INSTALLED_APPS or not getattr(
        settings, "DRAMATIQ_BROKER", None
    ):
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
    return errors


def _app_index(name: str) -> int:
    for index, entry in enumerate(settings.INSTALLED_APPS):
        if entry == name or entry.startswith(name + "."):
            return index
    return len(settings.INSTALLED_APPS)
