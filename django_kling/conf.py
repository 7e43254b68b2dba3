"""The ``DJANGO_KLING`` setting, read through one object with documented defaults.

``kling_settings.POLL_INTERVAL`` and friends give the effective value; dict settings are merged
key by key over their defaults, and any key we do not know is rejected (a typo in a setting
should fail loudly, not be ignored). The object reloads when a test changes the setting.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.signals import setting_changed
from django.dispatch import receiver

from .exceptions import ConfigurationError
from .publishing_settings import PUBLISHING
from .setting_types import SECRET_OPTIONS, Secret, Setting  # noqa: F401  (their old home)

SETTING_NAME = "DJANGO_KLING"


#: Each provider's option schema, declared by the provider itself (``VideoProvider.OPTIONS``)
#: and registered by ``django_kling.providers`` when it is imported: conf stays generic and
#: never imports a provider. The key set of each provider's options is closed like the top level.
PROVIDER_OPTIONS: dict[str, tuple[Setting, ...]] = {}


def register_provider(name: str, options: tuple[Setting, ...]) -> None:
    """Make a provider's options known (the first one registered is the default provider)."""
    PROVIDER_OPTIONS[name] = options


def _default_provider() -> str | None:
    """The first provider of django_kling.providers.REGISTRY."""
    return next(iter(PROVIDER_OPTIONS), None)


SETTINGS: tuple[Setting, ...] = (
    Setting("PROVIDER", _default_provider, "Name of the provider new requests go to."),
    Setting("PROVIDERS", {}, "Options per provider, merged over the provider's defaults."),
    Setting(
        "PROVIDERS_ORDER",
        [],
        "Providers to try in turn: a job moves to the next one only when a provider refused it "
        "before accepting it (unreachable, 5xx, rate limit, no credit). Empty: PROVIDER only.",
    ),
    Setting("STORAGE", "default", "Alias in STORAGES where images, clips and posters are kept."),
    Setting("UPLOAD_TO", "kling/%Y/%m/", "Folder (strftime pattern) for stored files."),
    Setting(
        "DEFAULTS",
        {"duration": 5, "aspect_ratio": "16:9", "mode": "pro", "sound": True},
        "Initial values of the generation options in forms and commands.",
    ),
    Setting(
        "FIRST_CHECK",
        {"*": 60.0},
        "Seconds after submission before the first status call, by model id (\"*\": any "
        "other model): about the model's typical generation time, when asking earlier is "
        "rarely worth it. A provider that says when the job ends (the sandbox) is asked then.",
    ),
    Setting("POLL_INTERVAL", 5.0, "Seconds between the first two status calls; later ones "
            "back off (doubling) up to MAX_POLL_INTERVAL."),
    Setting("MAX_POLL_INTERVAL", 25.0, "Upper bound of the back-off between status calls "
            "(pending answers and transient errors)."),
    Setting(
        "POLL_PLAN",
        {"MIN_SAMPLES": 5, "WINDOW": 256, "CALLS": 8, "MIN_GAP": 1.0, "MAX_GAP": 15.0,
         "REPLAN": 64},
        "Status calls placed where jobs of the same provider, model, mode and duration ended "
        "before: after MIN_SAMPLES such jobs (of the last WINDOW submitted; those still "
        "running count as ending after their last 'still running' answer), checks go where "
        "completions are likely, expecting at most CALLS status calls per job, never closer "
        "than MIN_GAP seconds nor further apart than MAX_GAP (or MAX_POLL_INTERVAL, if lower); "
        "the plan is "
        "made again after REPLAN more jobs. Until then, MIN_SAMPLES jobs at once are asked at "
        "FIRST_CHECK halved down to POLL_INTERVAL, the others first at FIRST_CHECK; past the "
        "plan's end, a back-off from MIN_GAP up to MAX_GAP. Not used while a webhook is "
        "expected.",
    ),
    Setting(
        "SCHEDULER",
        {"THREADS": 8, "BATCH": 200, "TICK": 1.0, "LEASE": 120.0},
        "The polling scheduler each worker runs: status calls at once (THREADS), jobs claimed "
        "per round (BATCH), longest sleep between rounds in seconds (TICK), seconds a claimed "
        "job stays claimed if its worker dies (LEASE; longer than a provider's TIMEOUT).",
    ),
    Setting(
        "MAX_IN_FLIGHT",
        None,
        "Jobs submitted or running at a provider at once: None (unlimited), a number for every "
        "provider, or a dict by provider name. Jobs over it wait queued.",
    ),
    Setting(
        "RATE_LIMIT_COOLDOWN",
        60.0,
        "Seconds a provider's 429 halves its effective concurrency (never below 1).",
    ),
    Setting(
        "BATCH_CHUNK",
        100,
        "Jobs a batch creates per background step (one transaction per job).",
    ),
    Setting(
        "BATCH_MAX_OBJECTS",
        100_000,
        "Most objects one batch takes (None: no limit); a larger selection is refused with "
        "batch_too_large before anything is stored.",
    ),
    Setting("DEADLINE", 1200.0, "Seconds after submission after which a job is failed."),
    Setting("MAX_ATTEMPTS", 6, "Tries of one call on retryable errors before the job fails."),
    Setting("MAX_DOWNLOAD_BYTES", 512 * 1024 * 1024, "Largest clip accepted, in bytes."),
    Setting(
        "ALLOWED_DOWNLOAD_HOSTS",
        [],
        'Hosts a clip may be downloaded from although they are not public ("host", '
        '"host:port" or "host:*"; prefixed "http://" where plain http is allowed): the '
        "sandbox in tests. Public https hosts need no entry.",
    ),
    Setting(
        "IMAGE_TRANSFER",
        "auto",
        '"auto": send a frame as a URL when its storage gives an https URL, inline otherwise; '
        '"inline": always base64 in the request body; "url": always the storage URL.',
    ),
    Setting(
        "FRAME_URL_EXPIRY",
        3600,
        "Seconds a frame's signed URL stays valid (storages that sign URLs, such as S3 with "
        "querystring_auth): the provider must fetch the frame within this time.",
    ),
    Setting(
        "WEBHOOK_URL",
        None,
        "Public base URL of this site (https://shop.example.com). When set, async jobs ask the "
        "provider to call back at the django_kling:webhook URL when they finish.",
    ),
    Setting("WEBHOOK_TOLERANCE", 300, "Seconds a webhook's timestamp may differ from now."),
    Setting(
        "WEBHOOK_CACHE",
        "default",
        "Alias in CACHES that keeps webhook signing secrets (never the database) and the "
        "signatures already seen; must be shared by web and worker processes.",
    ),
    Setting(
        "WEBHOOK_POLL_INTERVAL",
        300.0,
        "Seconds before the first and between fallback status calls while a webhook is "
        "expected.",
    ),
    Setting(
        "BUDGET",
        {"per_day": None, "per_month": None},
        "Spending limits (in CURRENCY) over the cost (reported, else estimated) of every "
        "request that may be billed; a new request over a limit is refused. None: no limit.",
    ),
    Setting(
        "ADMIN_SHOW_ALL_REQUESTS",
        True,
        "Whether every editor who may view video requests sees all of them; False shows "
        "each editor only the requests for objects they may change.",
    ),
    Setting("QUEUE_NAME", "kling", "Dramatiq queue the actors use."),
    Setting(
        "MODELS",
        ["klingai/kling-v2.6-i2v", "klingai/kling-v2.5-turbo-i2v", "klingai/kling-v3.0-i2v"],
        "Model ids editors may choose, in the order forms list them.",
    ),
    Setting(
        "CAPABILITIES",
        {},
        "What a model can do on a provider, laid over the documented registry "
        "(django_kling.capabilities): {model id: {provider name: {fact: value}}}, e.g. "
        '{"last_frame_with_sound": True} for one route. A route the registry does not '
        "describe (a newer model) is added the same way.",
    ),
    Setting(
        "PRICES",
        {
            # protocol.md §5 and fal's v2.6 page: 0.07 silent, 0.14 sound, 0.168 with a voice.
            "klingai/kling-v2.6-i2v": {
                "std": {"silent": "0.07", "sound": "0.14", "voice": "0.168"},
                "pro": {"silent": "0.07", "sound": "0.14", "voice": "0.168"},
            },
            # Silent only; public hosts' prices, to be checked against the gateway's model page.
            "klingai/kling-v2.5-turbo-i2v": {
                "std": {"silent": "0.042", "sound": "0"},
                "pro": {"silent": "0.07", "sound": "0"},
            },
            # fal's v3 pro page (llms.txt); the gateway's and Kling's are not published.
            "klingai/kling-v3.0-i2v": {
                "std": {"silent": "0.224", "sound": "0.336", "voice": "0.392"},
                "pro": {"silent": "0.224", "sound": "0.336", "voice": "0.392"},
            },
        },
        "Estimated price per second of output, by model, mode and sound (silent, sound, "
        "voice: with sound and a chosen voice; no voice price: the sound one).",
    ),
    Setting("CURRENCY", "USD", "Currency of PRICES and of the reported costs."),
    Setting(
        "REQUIRE_APPROVAL",
        True,
        "Whether templates, the clips helpers and JSON-LD show only clips a reviewer approved; "
        "False shows every succeeded clip that was not rejected.",
    ),
    Setting(
        "KEEP_REJECTED_DAYS",
        30,
        "Days after which kling_cleanup deletes the files of rejected clips (the rows stay, "
        "with a note). None: never.",
    ),
    Setting(
        "KEEP_UNFEATURED_VARIANTS_DAYS",
        30,
        "Days after which kling_cleanup deletes the files of variants that were neither "
        "approved nor featured. None: never.",
    ),
    Setting(
        "ORPHAN_GRACE",
        3600.0,
        "Seconds after which a file a worker began to store and never committed (it died) is "
        "removed, once its request has ended or is gone: by kling_cleanup --orphans and by "
        "the scheduler (every ORPHAN_GRACE / 2 seconds).",
    ),
    *PUBLISHING,
)

_BY_NAME = {s.name: s for s in SETTINGS}


def _resolve(default: Any) -> Any:
    return default() if callable(default) else default


def _reject_unknown(where: str, known: dict[str, Any], given: Any) -> None:
    if not isinstance(given, dict):
        raise ConfigurationError(f"{where} must be a dict, not {type(given).__name__}.")
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise ConfigurationError(
            f"Unknown key(s) in {where}: {', '.join(unknown)}. "
            f"Known keys: {', '.join(sorted(known))}."
        )


def _hide_secrets(options: Any) -> Any:
    if not isinstance(options, dict):
        return options  # _merge_closed says what is wrong with it
    return {key: Secret(value) if key in SECRET_OPTIONS and isinstance(value, str) else value
            for key, value in options.items()}


def _merge_closed(where: str, defaults: dict[str, Any], given: Any) -> dict[str, Any]:
    _reject_unknown(where, defaults, given)
    return {**defaults, **given}


_MODES = ("std", "pro")


def _prices(default: dict[str, Any], given: Any) -> dict[str, Any]:
    """``PRICES`` merged over the defaults, model by model and mode by mode.

    The shape before model tiers (``{"pro": {...}, "std": {...}}``) is read as the prices of
    the v2.6 model, the only one there was.
    """
    if not isinstance(given, dict):
        raise ConfigurationError(f"{SETTING_NAME}['PRICES'] must be a dict.")
    if given and set(given) <= set(_MODES):
        given = {"klingai/kling-v2.6-i2v": given}
    merged = {model: dict(modes) for model, modes in default.items()}
    for model, modes in given.items():
        _reject_unknown(f"{SETTING_NAME}['PRICES'][{model!r}]", dict.fromkeys(_MODES), modes)
        table = merged.setdefault(model, {})
        for mode, prices in modes.items():
            table[mode] = _merge_closed(f"{SETTING_NAME}['PRICES'][{model!r}][{mode!r}]",
                                        {"silent": 0, "sound": 0, "voice": None}, prices)
    return merged


class KlingSettings:
    """Effective values of ``settings.DJANGO_KLING``; attribute access by setting name."""

    def __init__(self, user_settings: dict[str, Any] | None = None) -> None:
        self._user = user_settings
        self._cache: dict[str, Any] = {}

    @property
    def user_settings(self) -> dict[str, Any]:
        if self._user is None:
            from django.conf import settings

            self._user = getattr(settings, SETTING_NAME, {}) or {}
        _reject_unknown(SETTING_NAME, _BY_NAME, self._user)
        return self._user

    def __getattr__(self, name: str) -> Any:
        if name not in _BY_NAME:
            raise AttributeError(f"{SETTING_NAME} has no setting {name!r}")
        if name not in self._cache:
            self._cache[name] = self._compute(name)
        return self._cache[name]

    def _compute(self, name: str) -> Any:
        default = _resolve(_BY_NAME[name].default)
        if name not in self.user_settings:
            return default
        value = self.user_settings[name]
        if name == "CAPABILITIES" and not isinstance(value, dict):
            raise ConfigurationError(f"{SETTING_NAME}['CAPABILITIES'] must be a dict.")
        if name in ("DEFAULTS", "BUDGET", "SCHEDULER", "POLL_PLAN",
                    "CONTENT_CREDENTIALS"):
            return _merge_closed(f"{SETTING_NAME}[{name!r}]", default, value)
        if name == "PROVIDERS":
            if not isinstance(value, dict):
                raise ConfigurationError(f"{SETTING_NAME}['PROVIDERS'] must be a dict.")
            return value
        if name == "PRICES":
            return _prices(default, value)
        if name == "FIRST_CHECK":
            if not isinstance(value, dict):
                raise ConfigurationError(f"{SETTING_NAME}['FIRST_CHECK'] must be a dict.")
            return {**default, **value}
        return value

    def provider_options(self, name: str | None = None) -> dict[str, Any]:
        """The merged options of one provider (the configured one by default)."""
        name = name or self.PROVIDER
        if name not in PROVIDER_OPTIONS:
            raise ConfigurationError(
                f"Unknown provider {name!r} in {SETTING_NAME}. "
                f"Known providers: {', '.join(sorted(PROVIDER_OPTIONS))}."
            )
        defaults = _hide_secrets({s.name: _resolve(s.default) for s in PROVIDER_OPTIONS[name]})
        given = _hide_secrets(self.PROVIDERS.get(name, {}))
        return _merge_closed(f"{SETTING_NAME}['PROVIDERS'][{name!r}]", defaults, given)

    def price_per_second(self, mode: str, sound: bool, model: str = "",
                         voice: bool = False) -> Decimal:
        """The estimated price of a second of output (a model without prices: the first's);
        ``voice``: with sound and a chosen voice (the sound price where none is given)."""
        prices = self.PRICES
        by_mode = prices.get(model) or next(iter(prices.values()))
        table = by_mode.get(mode) or by_mode.get("pro") or {"silent": 0, "sound": 0}
        if sound and voice and table.get("voice") is not None:
            return Decimal(str(table["voice"]))
        return Decimal(str(table["sound" if sound else "silent"]))

    def first_check(self, model: str) -> float:
        """Seconds from submission to the first status call of a job on ``model``."""
        table = self.FIRST_CHECK
        return float(table.get(model, table["*"]))

    def max_in_flight(self, provider: str) -> int | None:
        """The concurrency cap of ``provider`` (None: unlimited)."""
        cap = self.MAX_IN_FLIGHT
        if isinstance(cap, dict):
            cap = cap.get(provider)
        return None if cap is None else int(cap)

    def reload(self) -> None:
        self._user = None
        self._cache.clear()


kling_settings = KlingSettings()


@receiver(setting_changed)
def _reload_on_change(*, setting: str, **kwargs: Any) -> None:
    if setting == SETTING_NAME:
        kling_settings.reload()
