"""The gateway's options (``DJANGO_KLING["PROVIDERS"]["gateway"]``), their defaults and checks.

The auth and routing options follow the AI SDK's gateway provider (``vercel/ai``,
``packages/gateway/src``): ``gateway-provider.ts`` (API key, else a Vercel OIDC token; the team
header), ``gateway-provider-options.ts`` (what ``providerOptions.gateway`` may carry).
"""

from __future__ import annotations

import os
from typing import Any

from django.core.checks import CheckMessage, Error

from ...conf import SETTING_NAME, Setting

GATEWAY_V4_URL = "https://ai-gateway.vercel.sh/v4/ai"
KLING_MODEL_ID = "klingai/kling-v2.6-i2v"
PROTOCOLS = ("async", "stream")
#: Where a Vercel deployment puts its OIDC token (the AI SDK reads it through ``@vercel/oidc``).
OIDC_ENVIRONMENT_VARIABLE = "VERCEL_OIDC_TOKEN"
#: ``providerOptions.gateway`` keys that are lists of strings, by option name.
LIST_OPTIONS = {"TAGS": "tags", "ORDER": "order", "ONLY": "only", "FALLBACK_MODELS": "models"}


def _api_key_from_environment() -> str | None:
    """env AI_GATEWAY_API_KEY (None when unset), read when the settings are loaded."""
    return os.environ.get("AI_GATEWAY_API_KEY") or None


def oidc_token() -> str:
    """The Vercel OIDC token, read on every call: such tokens expire and are refreshed."""
    return os.environ.get(OIDC_ENVIRONMENT_VARIABLE, "").strip()


OPTIONS: tuple[Setting, ...] = (
    Setting("API_KEY", _api_key_from_environment,
            "Gateway API key. Default: env AI_GATEWAY_API_KEY. Without one, the Vercel OIDC "
            "token in env VERCEL_OIDC_TOKEN is used (read on every call)."),
    Setting("TEAM_ID", None,
            "Vercel team id or slug, sent as the x-vercel-ai-gateway-team header (for "
            "credentials that reach several teams). None: not sent."),
    Setting("BASE_URL", GATEWAY_V4_URL, "Gateway base URL, ending in /v3/ai or /v4/ai."),
    Setting("MODEL", KLING_MODEL_ID,
            "Model id of new requests that choose none; one of DJANGO_KLING['MODELS']."),
    Setting(
        "PROTOCOL",
        "async",
        '"async": v4 start/status with an idempotency key (never billed twice); '
        '"stream": one long server-sent-events call.',
    ),
    Setting("TIMEOUT", 30.0, "Seconds allowed for one start or status call."),
    Setting("STREAM_TIMEOUT", 900.0, "Seconds allowed for a whole streaming call."),
    Setting("TAGS", ["django-kling"],
            "providerOptions.gateway.tags, for the gateway's usage reports; the source "
            "object's model label (shop.product) is added per request. []: none sent."),
    Setting("USER", "editor",
            '"editor": send providerOptions.gateway.user, a stable keyed hash of the '
            "requesting editor (never a name or an email), for spend attribution. None: not "
            "sent."),
    Setting("BYOK", None,
            "providerOptions.gateway.byok: the team's own provider credentials, e.g. "
            '{"klingai": [{...}]}; read them from the environment. None: not sent.'),
    Setting("ORDER", None,
            "providerOptions.gateway.order: provider slugs in the order to try. None: not "
            "sent."),
    Setting("ONLY", None,
            "providerOptions.gateway.only: the only provider slugs allowed. None: not sent."),
    Setting("FALLBACK_MODELS", None,
            "providerOptions.gateway.models: model ids to fall back to, in order. None: not "
            "sent."),
)


def check_options(name: str, options: dict[str, Any]) -> list[CheckMessage]:
    """E006/E007 (protocol and base URL) and E009 (the shape of the routing options)."""
    errors: list[CheckMessage] = []
    if options.get("PROTOCOL") not in PROTOCOLS:
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
    where = f"{SETTING_NAME}['PROVIDERS']['{name}']"
    for option in LIST_OPTIONS:
        value = options.get(option)
        if value is not None and not (isinstance(value, (list, tuple))
                                      and all(isinstance(v, str) and v for v in value)):
            errors.append(Error(f"{where}['{option}'] must be a list of strings or None.",
                                id="django_kling.E009"))
    if options.get("USER") not in ("editor", None):
        errors.append(Error(f"{where}['USER'] must be \"editor\" or None.",
                            id="django_kling.E009"))
    if options.get("BYOK") is not None and not isinstance(options["BYOK"], dict):
        errors.append(Error(f"{where}['BYOK'] must be a dict (provider slug -> credentials) "
                            "or None.", id="django_kling.E009"))
    return errors


def check_credentials(name: str, options: dict[str, Any]) -> list[CheckMessage]:
    """E003, a deploy check: no API key and no OIDC token, so every job would fail."""
    if options.get("API_KEY") or oidc_token():
        return []
    return [Error(
        f"No API key for the {name!r} provider: every job would fail when it is sent.",
        hint="Set the AI_GATEWAY_API_KEY environment variable or "
             f"{SETTING_NAME}['PROVIDERS']['{name}']['API_KEY'] (on Vercel, the "
             f"{OIDC_ENVIRONMENT_VARIABLE} token is used when no key is set).",
        id="django_kling.E003",
    )]
