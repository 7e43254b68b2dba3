"""The provider interface: what the tasks ask of any host of the Kling model.

A provider turns a ``GenerationInput`` into an opaque operation (``start``), reports on it
(``status``), or does both in one long call (``generate``). It knows nothing about Django
models; the tasks translate between rows and these plain values.

Everything provider-specific stays behind this interface, as a django-storages backend or an
anymail ESP module keeps its own: the option schema and defaults (``OPTIONS``), the system
checks of those options (``check``, ``check_deploy``), the signature scheme of completion
callbacks (``verify_callback``), and the reading of its answers, which arrive here already
normalized (``reported_cost``, ``signing_secret``, ``generation_id``, ``job_id``, ``warnings``):
the core never reads a provider's JSON.
"""

from __future__ import annotations

import base64
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar, Literal

from django.core.checks import CheckMessage

from .. import capabilities
from ..conf import Setting
from ..exceptions import CallbackRefused
from ..options.routes import provider_model
from .inline import Spooled
from .json_body import Spliced, Verbatim


def check_callback_time(timestamp: str, tolerance: float) -> None:
    """Refuse a callback whose signed unix ``timestamp`` is missing or further than
    ``tolerance`` seconds from now: a captured delivery cannot be replayed later."""
    try:
        age = abs(time.time() - int(timestamp))
    except ValueError:
        raise CallbackRefused(code="no timestamp") from None
    if age > tolerance:
        raise CallbackRefused(code="stale timestamp")


@dataclass(frozen=True)
class ImageInput:
    """One frame to animate: inline bytes, or a URL the provider can fetch itself.

    Inline, the frame may come already as base64 text (``encoded``, made once when the frame
    was stored, ``files.frames``: the ASCII bytes as stored, or a ``str``) instead of bytes:
    ``base64_json()`` and ``as_base64()`` give it either way, so a retry or the next provider
    never encodes it again."""

    media_type: str
    data: bytes | None = None
    url: str | None = None
    encoded: bytes | str | None = None

    def base64_json(self, head: str = "") -> Spliced:
        """The base64 text, after ``head`` (a ``data:`` URI's), as a JSON body carries it:
        copied in as the bytes it is, not decoded, escaped or encoded again (``json_body``)."""
        text = self.encoded if self.encoded is not None else base64.b64encode(self.data or b"")
        if isinstance(text, str):
            text = text.encode()  # not ASCII (never base64): escaped as usual by ``json_body``
        return Spliced(head.encode(), text) if head else Spliced(text)

    def as_base64(self) -> str:
        # Marked: a JSON body carries it without escaping each character (``json_body``).
        if isinstance(self.encoded, str):
            return Verbatim(self.encoded)
        if self.encoded is not None:
            return Verbatim(self.encoded.decode("ascii"))
        return Verbatim(base64.b64encode(self.data or b"").decode("ascii"))

    def as_bytes(self) -> bytes:
        if self.data is not None or self.encoded is None:
            return self.data or b""
        return base64.b64decode(self.encoded)


@dataclass(frozen=True)
class GenerationInput:
    first_frame: ImageInput
    last_frame: ImageInput | None = None
    prompt: str = ""
    negative_prompt: str = ""
    duration: int = 5
    aspect_ratio: str | None = None
    mode: str = "pro"
    generate_audio: bool = True
    seed: int | None = None
    #: The model id ("" for the provider's configured model).
    model: str = ""
    #: Who and what the request is for, for the provider's usage reports: the source object's
    #: model label (``shop.product``) and an opaque, stable id of the editor (never a name).
    source_label: str = ""
    editor_id: str = ""
    #: Chosen voices (provider voice ids), for providers that offer them.
    voice_ids: tuple[str, ...] = ()
    #: A multi-shot prompt: ``options.shots.Shot`` (prompt, seconds) in order; the main
    #: prompt is then not sent (sdk-options: "ignored"; fal-v3: "not both").
    shots: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class VideoOutput:
    """A finished clip as the provider hands it over."""

    kind: Literal["url", "base64"]
    media_type: str = "video/mp4"
    url: str = ""
    data: str = ""  # base64 text, decoded only when the clip is saved
    #: A long base64 text kept in a temporary file while the answer was read (instead of
    #: ``data``): a big inline clip never sits in memory whole.
    spooled: Spooled | None = None


#: ``expired``: the job finished, but its result is gone (``JobStatus.error`` says why).
JobState = Literal["pending", "completed", "error", "cancelled", "expired"]


@dataclass
class Answer:
    """What every answer of a provider may carry besides its result, already normalized."""

    #: The provider's warnings, one dict each (kept once on the job).
    warnings: list[dict[str, Any]] = field(default_factory=list)
    #: The provider's metadata, stored on the job without any key that names a secret.
    metadata: dict[str, Any] = field(default_factory=dict)
    #: What the provider says the job cost, when it says so.
    reported_cost: Decimal | None = None
    #: The provider's id of this generation, the one its support asks for ("" if none).
    generation_id: str = ""
    #: Seconds until the job should be done, when the provider says so (the sandbox does,
    #: so a job on it is asked about as it ends, not after ``FIRST_CHECK``); None: unknown.
    expected_seconds: float | None = None


@dataclass
class JobStatus(Answer):
    state: JobState = "pending"
    videos: list[VideoOutput] = field(default_factory=list)
    error: str = ""


@dataclass
class Started(Answer):
    operation: Any = None
    #: A short, human-readable id of the operation, for lists and logs.
    job_id: str = ""
    #: The secret completion callbacks of this job are signed with (kept in the cache only).
    signing_secret: str | None = None


class VideoProvider(ABC):
    """Base class of the providers; subclasses are built from their settings dict."""

    name: str = ""
    #: The provider's options under ``DJANGO_KLING["PROVIDERS"][name]``, with their defaults.
    OPTIONS: ClassVar[tuple[Setting, ...]] = ()
    #: What the provider's service does whatever the model: "webhooks", "idempotency". What a
    #: model can do on it (durations, last frame, sound, voices...) is the capability registry
    #: (``django_kling.capabilities``), which the fallback order reads.
    FEATURES: ClassVar[frozenset[str]] = frozenset()
    #: How long the provider keeps a finished clip at its URL, in words, for the manual.
    RESULT_LIFETIME: ClassVar[str] = ""

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options

    @property
    def model(self) -> str:
        return str(self.options.get("MODEL", ""))

    @property
    def protocol(self) -> Literal["async", "stream"]:
        return self.options.get("PROTOCOL", "async")

    @abstractmethod
    def start(
        self, job: GenerationInput, *, idempotency_key: str, callback_url: str | None = None
    ) -> Started:
        """Start a job; calling it again with the same key must not start (or bill) another."""

    @abstractmethod
    def status(self, operation: Any, *, model: str = "") -> JobStatus:
        """Ask how the job behind ``operation`` (of model id ``model``) is doing."""

    @abstractmethod
    def generate(self, job: GenerationInput) -> JobStatus:
        """Run the whole job in one call and return its final status."""

    def operation_id(self, operation: Any) -> str:
        """A short, human-readable id of an operation, for lists and logs."""
        return str(operation)[:200]

    @classmethod
    def default_model(cls, options: dict[str, Any]) -> str:
        """The model id of a request that chooses none."""
        return capabilities.V2_6

    def provider_model(self, model: str) -> str:
        """The provider's own name for the model id ``model`` (its ``MODEL`` or ``ENDPOINT``
        option when set, else the capability registry's)."""
        return provider_model(model or capabilities.V2_6, self.name)

    @classmethod
    def check(cls, options: dict[str, Any]) -> list[CheckMessage]:
        """System check messages about these (merged) options; none by default."""
        return []

    @classmethod
    def check_deploy(cls, options: dict[str, Any]) -> list[CheckMessage]:
        """``check --deploy`` messages (about secrets a build does not need); none by default."""
        return []

    @classmethod
    def verify_callback(cls, headers: Mapping[str, str], body: bytes, secret: str, *,
                        tolerance: float) -> str:
        """Check a completion callback's signature; return a key for this delivery.

        The key lets the view act on each delivery once: a resent delivery (the same event
        signed again later) must get the same key. Raises ``CallbackRefused`` with the reason
        as its code. Providers that send no callbacks refuse them all.
        """
        raise CallbackRefused(code="bad signature")

    def close(self) -> None:  # noqa: B027  (optional hook)
        """Release connections."""

    def __enter__(self) -> VideoProvider:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PollingProvider(VideoProvider):
    """A provider whose service only has jobs: ``generate`` starts one and polls it to its end.

    Used by ``kling_generate``-style one-shot callers; the pipeline itself always uses
    ``start`` and ``status``, which never bill twice.
    """

    #: Seconds between two status calls inside ``generate``.
    GENERATE_POLL_INTERVAL: ClassVar[float] = 5.0

    def generate(self, job: GenerationInput) -> JobStatus:
        import time
        import uuid

        started = self.start(job, idempotency_key=f"kling_{uuid.uuid4().hex}")
        deadline = time.monotonic() + float(self.options.get("GENERATE_TIMEOUT", 900.0))
        while True:
            status = self.status(started.operation)
            if status.state != "pending" or time.monotonic() > deadline:
                return status
            time.sleep(self.GENERATE_POLL_INTERVAL)
