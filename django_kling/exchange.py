"""What goes to a provider and what comes back: job rows to ``GenerationInput``, and the
provider's normalized answers to the fields the job records (warnings once each, metadata
without secrets, the reported cost).
"""

from __future__ import annotations

from typing import Any

from .conf import kling_settings
from .models import Asset, VideoRequest
from .providers import Answer, GenerationInput, ImageInput, VideoOutput


def generation_input(job: VideoRequest) -> GenerationInput:
    return GenerationInput(
        first_frame=image_input(job.first_frame),
        last_frame=image_input(job.last_frame) if job.last_frame_id else None,
        prompt=job.prompt,
        negative_prompt=job.negative_prompt,
        duration=job.duration,
        aspect_ratio=job.aspect_ratio or None,
        mode=job.mode,
        generate_audio=job.generate_audio,
        seed=job.seed,
    )


def image_input(asset: Asset) -> ImageInput:
    if kling_settings.IMAGE_TRANSFER != "inline":
        url = asset.file.url
        if url.startswith("https://") or kling_settings.IMAGE_TRANSFER == "url":
            return ImageInput(media_type=asset.mime, url=url)
    with asset.file.open("rb") as fh:
        return ImageInput(media_type=asset.mime, data=fh.read())


SECRET_WORDS = ("secret", "token", "password", "apikey", "api_key")


def without_secrets(value: Any) -> Any:
    """A copy of provider metadata without any key that names a secret (never stored)."""
    if isinstance(value, dict):
        return {k: without_secrets(v) for k, v in value.items()
                if not any(word in str(k).lower() for word in SECRET_WORDS)}
    if isinstance(value, list):
        return [without_secrets(v) for v in value]
    return value


def url_of(video: VideoOutput) -> str:
    return video.url if video.kind == "url" else ""


def report_fields(job: VideoRequest, answer: Answer) -> dict[str, Any]:
    """Fields that record what the provider said alongside a step (normalized by it)."""
    fields: dict[str, Any] = {}
    # Status answers repeat the start's warnings: keep each warning once.
    new = [w for w in answer.warnings if w not in job.warnings]
    if new:
        fields["warnings"] = [*job.warnings, *new]
    if answer.metadata:
        fields["provider_metadata"] = {**job.provider_metadata,
                                       **without_secrets(answer.metadata)}
    if answer.reported_cost is not None:
        fields["reported_cost"] = answer.reported_cost
    return fields
