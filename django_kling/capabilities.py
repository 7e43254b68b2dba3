"""The capability registry: what each model can do on each provider, with the source of each fact.

One entry per route, a (model id, provider name) pair. Every check of what a request may ask
for reads it: the option validators and ``jobs`` (before anything is stored or paid), the
fallback order (which provider may take a request), the providers (their own name for the
model), the forms (which choices they offer), ``kling_generate``, the sandbox (which refuses
what the real service refuses) and the manual's feature table (``docs/_ext/kling_docs.py``).

Plain Python without Django, so the sandbox can read it. A value no document gives is not
guessed: it is the conservative reading (refused before paying), and a shop that knows better
changes it with the ``CAPABILITIES`` setting (read in ``django_kling.options.routes``).

Sources, cited by their keys below:

``sdk-options``
    vercel/ai ``packages/klingai/src/klingai-video-model-options.ts`` (the Kling options the
    gateway and Kling take: ``sound`` from v2.6 and pro only, ``voiceList`` up to 2 voices as
    ``<<<voice_1>>>`` needing sound, ``multiShot`` up to 6 shots of at most 512 characters,
    ``multiPrompt`` ``[{index, prompt, duration: string}]`` summing to the duration).
``gateway-video``
    the AI Gateway's video-generation page, "KlingAI multi-shot" (``multiPrompt[].index``
    "starting from 1", ``duration`` a string; the example sends ``shotType: 'customize'``).
``sdk-model``
    vercel/ai ``packages/klingai/src/klingai-video-model.ts`` (``model_name`` from the model
    id: ``kling-v3.0-i2v`` -> ``kling-v3``; ``voice_list``, ``multi_shot``, ``multi_prompt``).
``sdk-page``
    vercel/ai ``content/providers/01-ai-sdk-providers/85-klingai.mdx`` (the capability table:
    v3.0 i2v "multi-shot, element/voice control, sound (3-15s)"; v2.6 "sound and end-frame in
    pro mode"; v2.5 turbo "end-frame in pro").
``gateway-models``
    vercel/ai ``packages/gateway/src/gateway-video-model-settings.ts`` (the gateway's ids).
``protocol``
    ``shared/protocol.md`` (durations 5/10 for v2.6, speech in Chinese and English, the
    capability map's "only no audio" for v2.6 start+end frames, the gateway page's promise of
    transitions with audio, prices of v2.6).
``kling-api``
    Kling's image2video reference as transcribed (``voice_list`` "supported on V2.6 and later",
    at most 2, billed at the "with specified voice" rate; ``model_name`` values include
    ``kling-v2-5-turbo``, ``kling-v2-6``, ``kling-v3``; ``multi_shot``, ``shot_type``
    ``customize``, ``multi_prompt`` of 1 to 6 ``{index, prompt, duration}``, at most 512
    characters each, each at least 1 s, summing to the task's duration; ``prompt`` ignored).
``fal-v26``
    fal.ai ``fal-ai/kling-video/v2.6/pro/image-to-video`` API page (durations "5"/"10",
    ``voice_ids`` up to 2, $0.07 / $0.14 / $0.168 per second).
``fal-v3``
    fal.ai ``fal-ai/kling-video/v3/pro/image-to-video`` API page (durations "3".."15",
    ``end_image_url``, ``multi_prompt`` of ``{prompt, duration}`` with durations "3".."15",
    never together with ``prompt``, ``shot_type`` default ``customize``, speech in Chinese
    and English,
    $0.224 / $0.336 / $0.392 per second on its llms.txt; its playground shows half of
    that: the estimates are the ``PRICES`` setting anyway). ``voice_ids`` there is from a
    third-party transcription of the same schema: UNVERIFIED.
``replicate``
    Replicate's ``kwaivgi/kling-v2.6`` version page (no end-image field; ``generate_audio``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from decimal import Decimal
from typing import Any

V2_6 = "klingai/kling-v2.6-i2v"
V2_5_TURBO = "klingai/kling-v2.5-turbo-i2v"
V3_0 = "klingai/kling-v3.0-i2v"
PROVIDERS = ("gateway", "kling", "fal", "replicate")

#: 5 or 10 s (protocol §4; fal-v26 "Options: 5, 10").
CLASSIC_DURATIONS = (5, 10)
#: 3 to 15 s, every whole second (sdk-page "3-15s"; fal-v3 "Options: 3 .. 15").
V3_DURATIONS = tuple(range(3, 16))
#: The shapes our crop makes; image-to-video follows the image (protocol §1, §4).
ASPECT_RATIOS = ("16:9", "9:16", "1:1")
#: "Speech: Chinese and English" (protocol §4; fal-v26 and fal-v3 ``generate_audio``).
SPOKEN = ("en", "zh")


@dataclass(frozen=True)
class Price:
    """A documented price per second of output (USD), silent / with sound / with a voice."""

    silent: Decimal
    sound: Decimal | None = None
    voice: Decimal | None = None
    source: str = ""


@dataclass(frozen=True)
class Route:
    """What one model can do on one provider. The defaults are the conservative reading."""

    #: The provider's own name for the model (Kling's ``model_name``, fal's endpoint,
    #: Replicate's model); "" where the model id itself is sent (the gateway).
    provider_model: str = ""
    durations: tuple[int, ...] = CLASSIC_DURATIONS
    aspect_ratios: tuple[str, ...] = ASPECT_RATIOS
    modes: tuple[str, ...] = ("std", "pro")
    sound: bool = False
    #: Sound only in the pro mode (sdk-options ``sound``: "requires mode: 'pro'").
    sound_needs_pro: bool = True
    last_frame: bool = False
    last_frame_needs_pro: bool = True
    #: Known to honour a last frame *and* sound in one request.
    last_frame_with_sound: bool = False
    #: How many chosen voices a request may carry (0: none).
    voices: int = 0
    #: The provider's field for the voices, as the manual names it.
    voice_field: str = ""
    languages: tuple[str, ...] = SPOKEN
    max_prompt: int = 2500
    #: Most shots of a multi-shot prompt (0: no multi-shot).
    shots: int = 0
    max_shot_prompt: int = 512
    #: A shot's fewest seconds (kling-api: "each shot duration ... >= 1"; fal-v3: "3".."15").
    min_shot_duration: int = 1
    #: Known to honour shots *and* a last frame in one request. No source says so (third-party
    #: transcriptions of Kling's v3.0 schema call an end image and ``multi_prompt`` exclusive):
    #: refused until a shop says otherwise with the ``CAPABILITIES`` setting.
    shots_with_last_frame: bool = False
    price: Price | None = None
    #: The keys (module docstring) of the documents these facts come from.
    sources: tuple[str, ...] = field(default=())


_V26_PRICE = Price(Decimal("0.07"), Decimal("0.14"), Decimal("0.168"), "protocol §5")

ROUTES: dict[tuple[str, str], Route] = {
    # -- Kling v2.6 ---------------------------------------------------------------------------
    (V2_6, "gateway"): Route(
        sound=True, last_frame=True,
        # The gateway's model page promises transitions with audio (protocol §2).
        last_frame_with_sound=True,
        # providerOptions.klingai.voiceList, passed on as voice_list (sdk-options, sdk-model;
        # "V2.6 and later": kling-api, protocol §1).
        voices=2, voice_field="providerOptions.klingai.voiceList",
        price=_V26_PRICE, sources=("gateway-models", "sdk-options", "protocol", "kling-api")),
    (V2_6, "kling"): Route(
        provider_model="kling-v2-6", sound=True, last_frame=True,
        # Kling's capability map: v2.6 start+end frames are pro mode "only no audio".
        last_frame_with_sound=False,
        voices=2, voice_field="voice_list",
        price=_V26_PRICE, sources=("sdk-model", "sdk-options", "protocol", "kling-api")),
    (V2_6, "fal"): Route(
        # The endpoint is the pro one: no mode field.
        provider_model="fal-ai/kling-video/v2.6/pro/image-to-video", modes=("pro",),
        sound=True, sound_needs_pro=False,
        # end_image_url: the field name is UNVERIFIED (protocol §3); with sound: not known.
        last_frame=True, last_frame_needs_pro=False, last_frame_with_sound=False,
        voices=2, voice_field="voice_ids",
        price=Price(Decimal("0.07"), Decimal("0.14"), Decimal("0.168"), "fal-v26"),
        sources=("fal-v26", "protocol")),
    (V2_6, "replicate"): Route(
        # Replicate takes no mode: the request's mode is not sent.
        provider_model="kwaivgi/kling-v2.6", sound=True, sound_needs_pro=False,
        last_frame=False, sources=("replicate", "protocol")),
    # -- Kling v2.5 turbo: silent ("Only V2.6 and subsequent versions support" sound) -------
    (V2_5_TURBO, "gateway"): Route(
        sound=False, last_frame=True, sources=("gateway-models", "sdk-options", "sdk-page")),
    (V2_5_TURBO, "kling"): Route(
        provider_model="kling-v2-5-turbo", sound=False, last_frame=True,
        sources=("sdk-model", "sdk-options", "sdk-page", "kling-api")),
    # -- Kling v3.0 ---------------------------------------------------------------------------
    (V3_0, "gateway"): Route(
        durations=V3_DURATIONS, sound=True, last_frame=True,
        # Nothing documents a last frame with sound on v3.0: refused until a shop says so.
        voices=2, voice_field="providerOptions.klingai.voiceList", shots=6,
        sources=("gateway-models", "sdk-options", "sdk-page", "gateway-video")),
    (V3_0, "kling"): Route(
        provider_model="kling-v3", durations=V3_DURATIONS, sound=True, last_frame=True,
        voices=2, voice_field="voice_list", shots=6,
        sources=("sdk-model", "sdk-options", "sdk-page", "kling-api")),
    (V3_0, "fal"): Route(
        provider_model="fal-ai/kling-video/v3/pro/image-to-video", durations=V3_DURATIONS,
        modes=("pro",), sound=True, sound_needs_pro=False, last_frame=True,
        last_frame_needs_pro=False, voices=2, voice_field="voice_ids", shots=6,
        # KlingV3MultiPromptElement.duration is one of "3" .. "15".
        min_shot_duration=3,
        price=Price(Decimal("0.224"), Decimal("0.336"), Decimal("0.392"), "fal-v3"),
        sources=("fal-v3",)),
}

#: The fields a ``CAPABILITIES`` setting entry may change.
FIELDS = tuple(f.name for f in fields(Route) if f.name not in ("price", "sources"))


def models() -> tuple[str, ...]:
    """Every model id the registry describes, in its order."""
    return tuple(dict.fromkeys(model for model, _provider in ROUTES))


def documented(model: str, provider: str) -> Route | None:
    """The documented facts of a route (None: the registry does not describe it)."""
    return ROUTES.get((model, provider))


def with_overrides(route: Route | None, overrides: dict[str, Any]) -> Route:
    """``route`` (or the conservative defaults) with a ``CAPABILITIES`` entry laid over it;
    lists become tuples. Unknown keys raise ``KeyError`` (the settings check names them)."""
    unknown = sorted(set(overrides) - set(FIELDS))
    if unknown:
        raise KeyError(", ".join(unknown))
    changes = {key: tuple(value) if isinstance(value, list) else value
               for key, value in overrides.items()}
    return replace(route or Route(sources=("CAPABILITIES setting",)), **changes)
