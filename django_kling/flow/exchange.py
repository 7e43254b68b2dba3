"""What goes to a provider and what comes back: job rows to ``GenerationInput``, and the
provider's normalized answers to the fields the job records (warnings once each, metadata
without secrets, the reported cost).
"""

from __future__ import annotations

import re
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext

from ..files import frames
from ..models import Asset, VideoRequest
from ..providers import Answer, GenerationInput, ImageInput, VideoOutput
from ..request_shots import shots_of
from ..voices import voice_ids_for


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
        model=job.model,
        source_label=source_label(job.content_type_id),
        editor_id=editor_id(job.created_by_id),
        voice_ids=voice_ids_for(job, job.provider),
        shots=shots_of(job),
    )


def source_label(content_type_id: int | None) -> str:
    """``app_label.model`` of the source object's type ("" for none); cached, no query."""
    if content_type_id is None:
        return ""
    content_type = ContentType.objects.get_for_id(content_type_id)
    return f"{content_type.app_label}.{content_type.model}"


def editor_id(user_pk: Any) -> str:
    """An opaque, stable id of an editor for the provider's reports: a keyed hash of the pk.

    Keyed with ``SECRET_KEY``, so nobody outside the site can tell which account it is; never
    a name or an email.
    """
    if user_pk is None:
        return ""
    return salted_hmac("django_kling.editor", str(user_pk), algorithm="sha256").hexdigest()[:32]


def image_input(asset: Asset) -> ImageInput:
    """The frame as the provider gets it: a short-lived URL where the storage can give one
    (``files.frames``), else inline: the base64 text made when it was stored, read as it is."""
    storage, name = asset.file.storage, asset.file.name
    url = frames.frame_url(storage, name)
    if url is not None:
        return ImageInput(media_type=asset.mime, url=url)
    encoded = frames.read_encoded(storage, name)
    if (encoded is not None and len(encoded) == 4 * ((asset.size + 2) // 3)  # and complete
            and encoded.isascii()):
        return ImageInput(media_type=asset.mime, encoded=encoded)
    with asset.file.open("rb") as fh:
        return ImageInput(media_type=asset.mime, data=fh.read())


SECRET_WORDS = ("secret", "token", "password", "apikey", "api_key")
# One search per key, not one per word (a start answer's metadata has a dozen keys).
_SECRET_KEY = re.compile("|".join(SECRET_WORDS), re.IGNORECASE)


def without_secrets(value: Any) -> Any:
    """A copy of provider metadata without any key that names a secret (never stored)."""
    if isinstance(value, dict):
        return {k: without_secrets(v) for k, v in value.items()
                if not _SECRET_KEY.search(str(k))}
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
    if answer.generation_id and answer.generation_id != job.generation_id:
        fields["generation_id"] = answer.generation_id
    return fields


def audio_warning(job: VideoRequest, has_audio: bool) -> dict[str, Any]:
    """The warning fields for a clip that came without the sound it was asked for, else none.

    Such a clip was paid for and may still be usable (silent, or sound added later): it is
    kept and the request succeeds, the reviewer is told, and review decides. Failing it would
    throw away a paid clip for something a person can judge.
    """
    if not job.generate_audio or has_audio:
        return {}
    warning = dict(type="no_audio", code="clip_without_audio", message=gettext(
        "Sound was asked for, but the clip arrived without an audio track. It was paid for "
        "and is kept: listen to it before approving it."))
    return {"warnings": [*job.warnings, warning]}
