"""The generation options: their choices and the validators that read them (and, in ``speech``,
how a spoken line is put into the prompt).

May use: ``conf`` and ``exceptions`` only; everything else in the package may use this.

One source for every option value: the model fields, the admin forms, the commands' arguments
and the validators below all read ``Duration``, ``AspectRatio``, ``Mode`` and ``KlingModel``
(and ``MAX_PROMPT_LENGTH``) from here, so a value added or dropped here is added or dropped
everywhere. Which models editors may choose is the ``MODELS`` setting; what each can do on each
provider is the capability registry (``django_kling.capabilities``, read through ``routes``),
checked before anything is paid for (``routes.validate_model``, ``routes.refusal``).

Prompts (:func:`validate_prompt`): line breaks are normalised to ``\\n``, control characters
other than newline and tab (NUL, escape, DEL, C1 controls...) are removed, the text is
normalised to Unicode NFC and stripped of surrounding whitespace, then its length is counted
in characters (code points). HTML and any other markup is kept verbatim as text: escaping it is
the template's job, and the model reads the text as written.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Any, NoReturn

from django.db import models
from django.utils.text import format_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .. import capabilities
from ..exceptions import InvalidInput

#: Every duration some model makes (3 to 15 s on v3.0: ``django_kling.capabilities``); what one
#: model and provider make is the registry's (``routes.refusal``).
Duration = models.IntegerChoices("Duration", [
    (f"S{seconds}", (seconds, format_lazy(gettext_lazy("{seconds} seconds"), seconds=seconds)))
    for seconds in capabilities.V3_DURATIONS])
Duration.FIVE = Duration.S5  # the default of the model fields


class AspectRatio(models.TextChoices):
    LANDSCAPE = "16:9", gettext_lazy("16:9 landscape")
    PORTRAIT = "9:16", gettext_lazy("9:16 portrait")
    SQUARE = "1:1", gettext_lazy("1:1 square")


class Mode(models.TextChoices):
    STANDARD = "std", gettext_lazy("Standard (720p, silent)")
    PRO = "pro", gettext_lazy("Pro (1080p, sound, last frame)")


class Language(models.TextChoices):
    """The languages Kling v2.6 speaks (protocol.md, "Speech: Chinese and English")."""

    ENGLISH = "en", gettext_lazy("English")
    CHINESE = "zh", gettext_lazy("Chinese")


class KlingModel(models.TextChoices):
    """The image-to-video models (ids as the AI SDK's gateway-video-model-settings.ts lists);
    what each can do on each provider is ``django_kling.capabilities``."""

    V2_6 = capabilities.V2_6, gettext_lazy("Kling v2.6 (sound)")
    V2_5_TURBO = capabilities.V2_5_TURBO, gettext_lazy(
        "Kling v2.5 Turbo (silent, faster and cheaper)")
    V3_0 = capabilities.V3_0, gettext_lazy("Kling v3.0 (3 to 15 s, sound, voices, multi-shot)")


DURATIONS: tuple[int, ...] = tuple(Duration.values)
ASPECT_RATIOS: tuple[str, ...] = tuple(AspectRatio.values)
MODES: tuple[str, ...] = tuple(Mode.values)
LANGUAGES: tuple[str, ...] = tuple(Language.values)
#: Most variants (takes of the same inputs) one request may ask for.
MAX_VARIANTS = 4
#: Longest prompt or negative prompt, in characters.
MAX_PROMPT_LENGTH = 2500


_PROMPT_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _field_label(field: str) -> str:
    labels = {
        "prompt": _("prompt"),
        "negative_prompt": _("negative prompt"),
    }
    return labels.get(field, field.replace("_", " "))


def validate_prompt(text: str | None, *, field: str = "prompt") -> str:
    """Return the cleaned prompt (``""`` for ``None`` or blank), or raise ``InvalidInput``.

    Cleaning: ``\\r\\n`` and ``\\r`` become ``\\n``; control characters other than newline and
    tab are removed; the text is normalised to NFC and stripped. HTML is kept verbatim (it is
    text for the model; templates escape it). Codes: ``prompt_invalid`` (not text, or broken
    Unicode such as lone surrogates), ``prompt_too_long`` (over :data:`MAX_PROMPT_LENGTH`
    characters after cleaning).
    """
    if text is None:
        return ""
    if not isinstance(text, str):
        raise InvalidInput(
            _("The %(label)s must be text.") % {"label": _field_label(field)},
            code="prompt_invalid",
            field=field,
            params={"label": _field_label(field)},
        )
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _PROMPT_CONTROL_RE.sub("", text)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        params = {"label": _field_label(field), "position": exc.start + 1}
        raise InvalidInput(
            _(
                "The %(label)s contains an invalid character at position %(position)s "
                "(broken Unicode); please retype it."
            )
            % params,
            code="prompt_invalid",
            field=field,
            params=params,
        ) from None
    text = unicodedata.normalize("NFC", text).strip()
    if len(text) > MAX_PROMPT_LENGTH:
        params = {"label": _field_label(field), "length": len(text), "limit": MAX_PROMPT_LENGTH}
        raise InvalidInput(
            _(
                "The %(label)s is %(length)s characters long; it may be at most %(limit)s "
                "characters."
            )
            % params,
            code="prompt_too_long",
            field=field,
            params=params,
        )
    return text


def _shown(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 20 else text[:19] + "…"


def _refuse(value: Any, choices: Iterable[Any], message: str, *, code: str,
            field: str) -> NoReturn:
    """Raise ``InvalidInput`` for a value outside ``choices``; ``message`` is already translated
    and takes ``%(value)s`` and ``%(choices)s``."""
    params = {"value": _shown(value), "choices": ", ".join(str(c) for c in choices)}
    raise InvalidInput(message % params, code=code, field=field, params=params)


def validate_duration(value: int | str) -> int:
    """Return the duration in seconds (3 to 15: any model's; the route's own durations are
    checked by ``routes.refusal``); ``"5"`` and ``" 10 "`` are accepted.

    Raises ``InvalidInput`` with code ``duration_invalid`` otherwise.
    """
    seconds: int | None = None
    if isinstance(value, bool):
        seconds = None
    elif isinstance(value, int):
        seconds = value
    elif (isinstance(value, float) and value.is_integer()) or (
        isinstance(value, str) and re.fullmatch(r"\s*[0-9]{1,4}\s*", value)
    ):
        seconds = int(value)
    if seconds in DURATIONS:
        return seconds  # type: ignore[return-value]
    _refuse(value, DURATIONS,
            _("The duration must be one of %(choices)s seconds, not “%(value)s”."),
            code="duration_invalid", field="duration")


def validate_aspect_ratio(value: str) -> str:
    """Return the aspect ratio (``"16:9"``, ``"9:16"`` or ``"1:1"``; surrounding spaces removed).

    Raises ``InvalidInput`` with code ``aspect_ratio_invalid`` otherwise.
    """
    if isinstance(value, str) and value.strip() in ASPECT_RATIOS:
        return value.strip()
    _refuse(value, ASPECT_RATIOS,
            _("The aspect ratio must be one of %(choices)s, not “%(value)s”."),
            code="aspect_ratio_invalid", field="aspect_ratio")


def validate_mode(value: str) -> str:
    """Return the mode (``"std"`` or ``"pro"``; case and surrounding spaces ignored).

    Raises ``InvalidInput`` with code ``mode_invalid`` otherwise.
    """
    if isinstance(value, str) and value.strip().lower() in MODES:
        return value.strip().lower()
    _refuse(value, MODES, _("The mode must be one of %(choices)s, not “%(value)s”."),
            code="mode_invalid", field="mode")


def validate_language(value: str | None) -> str:
    """Return the speech language (``"en"``, ``"zh"``, or ``""`` for none; ``zh-hans`` and
    ``en-us`` style codes are accepted).

    Raises ``InvalidInput`` with code ``language_invalid`` otherwise.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return ""
    code = value.strip().lower().split("-")[0].split("_")[0] if isinstance(value, str) else ""
    if code in LANGUAGES:
        return code
    _refuse(value, LANGUAGES, _("The language must be one of %(choices)s, not “%(value)s”."),
            code="language_invalid", field="language")


def validate_variants(value: int | str | None) -> int:
    """Return how many variants to make (1 to :data:`MAX_VARIANTS`; ``None`` is 1).

    Raises ``InvalidInput`` with code ``variants_invalid`` otherwise.
    """
    if value is None:
        return 1
    try:
        count = int(value)
    except (TypeError, ValueError):
        count = 0
    if 1 <= count <= MAX_VARIANTS and not isinstance(value, bool):
        return count
    _refuse(value, range(1, MAX_VARIANTS + 1),
            _("The number of variants must be one of %(choices)s, not “%(value)s”."),
            code="variants_invalid", field="variants")


def model_label(model: str) -> str:
    """The human name of a model id (the id itself for a model this version does not know)."""
    return str(dict(KlingModel.choices).get(model, model))
