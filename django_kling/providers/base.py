"""The provider interface: what the tasks ask of any host of the Kling model.

A provider turns a ``GenerationInput`` into an opaque operation (``start``), reports on it
(``status``), or does both in one long call (``generate``). It knows nothing about Django
models; the tasks translate between rows and these plain values.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class ImageInput:
    """One frame to animate: inline bytes, or a URL the provider can fetch itself."""

    media_type: str
    data: bytes | None = None
    url: str | None = None


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


@dataclass(frozen=True)
class VideoOutput:
    """A finished clip as the provider hands it over."""

    kind: Literal["url", "base64", "uploaded"]
    media_type: str = "video/mp4"
    url: str = ""
    data: str = ""  # base64 text, decoded only when the clip is saved


JobState = Literal["pending", "completed", "error", "cancelled"]


@dataclass
class JobStatus:
    state: JobState
    videos: list[VideoOutput] = field(default_factory=list)
    error: str = ""
    warnings: list[dict[str, Any]] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class Started:
    operation: Any
    warnings: list[dict[str, Any]] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)


class VideoProvider(ABC):
    """Base class of the providers; subclasses are built from their settings dict."""

    name: str = ""

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
    def status(self, operation: Any) -> JobStatus:
        """Ask how the job behind ``operation`` is doing."""

    @abstractmethod
    def generate(self, job: GenerationInput) -> JobStatus:
        """Run the whole job in one call and return its final status."""

    def operation_id(self, operation: Any) -> str:
        """A short, human-readable id of an operation, for lists and logs."""
        return str(operation)[:200]

    def close(self) -> None:  # noqa: B027  (optional hook)
        """Release connections."""

    def __enter__(self) -> VideoProvider:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
