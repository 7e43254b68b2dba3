"""A succeeded clip's caption track: made after the clip is stored, remade on request.

``prepare`` runs in the fetch step before the clip's rows are saved (the downloaded file is at
hand, nothing is read back from storage) and ``save_prepared`` saves the track in the clip's
own transaction, so the clip and its captions appear together (``video_ready`` receivers see
both). Captions are an extra on a paid clip: whatever goes wrong here becomes a warning on the
request, never a failed job.
``store_track`` writes a WebVTT text as a new file and points the request's track at it (used
by the regenerate action and by editors' corrections in ``editorial.captions``).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import IO, Any

from django.db import transaction
from django.utils.translation import gettext

from ..caption_tracks import CaptionTiming, CaptionTrack
from ..conf import kling_settings
from ..files.captions import TRACK_LANGUAGES, Captions, caption_clip
from ..models import Asset, AssetKind, Status, VideoRequest
from ..options.speech import SpokenLine, spoken_line_of
from . import staging

logger = logging.getLogger("django_kling.flow.captioning")


def spoken_line(job: VideoRequest) -> SpokenLine | None:
    """The line ``job`` asked its clip to say (None: no speech was asked for)."""
    if not job.generate_audio:
        return None
    said = spoken_line_of(job.prompt)
    if said is None:
        return None
    return SpokenLine(said.speaker, job.language or said.language, said.line)


def track_language(job: VideoRequest) -> tuple[str, str]:
    """``srclang`` and label of the job's captions: the request's speech language, else the
    language its prompt names for the line."""
    said = spoken_line(job)
    code = job.language or (said.language if said is not None else "") or "en"
    return TRACK_LANGUAGES.get(code, TRACK_LANGUAGES["en"])


def store_track(job: VideoRequest, webvtt: str, *, timing: str, transcript: str,
                speaker: str = "", speech: list | None = None, user: Any = None) -> CaptionTrack:
    """Write ``webvtt`` as a new file and make it ``job``'s caption track (the old file goes)."""
    data = webvtt.encode()
    language, label = track_language(job)
    asset = _caption_asset(job, data)
    staging.write(job, asset, data, f"captions.{language}.vtt")
    try:
        with transaction.atomic():
            asset.save()
            staging.settled(asset)
            track = CaptionTrack.objects.select_for_update().filter(request=job).first()
            old = track.asset if track is not None else None
            fields = dict(asset=asset, language=language, label=label, transcript=transcript,
                          speaker=speaker, webvtt=webvtt, timing=timing,
                          speech=speech if speech is not None else [], edited_by=user)
            if track is None:
                track = CaptionTrack.objects.create(request=job, **fields)
            else:
                for name, value in fields.items():
                    setattr(track, name, value)
                track.save()
            if old is not None:
                transaction.on_commit(lambda: _delete_asset(old))
    except Exception:
        staging.discard([asset])
        raise
    return track


def _caption_asset(job: VideoRequest, data: bytes) -> Asset:
    return Asset(kind=AssetKind.CAPTIONS, mime="text/vtt", size=len(data),
                 sha256=hashlib.sha256(data).hexdigest(), content_type_id=job.content_type_id,
                 object_id=job.object_id, field_name=job.field_name)


def _delete_asset(asset: Asset) -> None:
    try:
        asset.file.delete(save=False)
        asset.delete()
    except Exception as exc:  # noqa: BLE001  (a stale file is harmless; the row points on)
        logger.warning("could not delete the old caption file %s: %s", asset.pk,
                       type(exc).__name__)


def make_track(job: VideoRequest, source: str | IO[bytes], duration: float, *,
               force: bool = False, user: Any = None) -> CaptionTrack | None:
    """Time ``job``'s spoken line to the speech in ``source`` and store the track.

    None when the request asked for no speech. A track an editor corrected is kept unless
    ``force`` (the explicit regenerate action).
    """
    said = spoken_line(job)
    if said is None:
        return None
    existing = CaptionTrack.objects.filter(request=job).first()
    if existing is not None and existing.is_edited and not force:
        return existing
    captions: Captions = caption_clip(source, said.line, said.speaker, duration)
    timing = CaptionTiming.TIMED if captions.timed else CaptionTiming.UNTIMED
    return store_track(job, captions.text, timing=timing, transcript=said.line,
                       speaker=said.speaker, speech=[list(s) for s in captions.speech],
                       user=user)


@dataclass
class Prepared:
    """A clip's captions made in the fetch step, before the clip's row is saved: the WebVTT
    file is in storage (staged), its rows are saved with the clip's (``save_prepared``)."""

    asset: Asset | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    warning: dict[str, str] | None = None

    @property
    def stored(self) -> list[Asset]:
        return [self.asset] if self.asset is not None else []


def _warning(*, code: str, message: str) -> dict[str, str]:
    return {"type": "captions", "code": code, "message": message}


def prepare(job: VideoRequest, path: str, duration: float) -> Prepared:
    """Caption a downloaded clip and stage its WebVTT file. Never raises: a paid clip never
    fails for its captions, any error is a warning on the request."""
    if not kling_settings.CAPTIONS or (said := spoken_line(job)) is None:
        return Prepared()
    try:
        captions = caption_clip(path, said.line, said.speaker, duration)
        data = captions.text.encode()
        language, label = track_language(job)
        asset = _caption_asset(job, data)
        staging.write(job, asset, data, f"captions.{language}.vtt")
    except Exception as exc:  # noqa: BLE001  (a paid clip never fails for its captions)
        logger.warning("captioning job %s failed: %s", job.pk, type(exc).__name__)
        return Prepared(warning=failed_warning(exc))
    timing = CaptionTiming.TIMED if captions.timed else CaptionTiming.UNTIMED
    fields = dict(language=language, label=label, transcript=said.line, speaker=said.speaker,
                  webvtt=captions.text, timing=timing,
                  speech=[list(s) for s in captions.speech])
    untimed = None if captions.timed else _warning(code="captions_untimed", message=gettext(
        "No speech was found in the clip's audio: the captions span the whole clip. Check "
        "their timing before approving the clip."))
    return Prepared(asset, fields, untimed)


def failed_warning(exc: BaseException) -> dict[str, str]:
    return _warning(code="captions_failed", message=gettext(
        "The captions could not be made (%(error)s); the clip is kept. Make them again with "
        "the admin's “Regenerate captions” action, or write them by hand.")
        % {"error": type(exc).__name__})


def with_warning(fields: dict[str, Any], job: VideoRequest,
                 prepared: Prepared) -> dict[str, Any]:
    """The success transition's ``fields`` with the captions' warning added, if any."""
    if prepared.warning is None:
        return fields
    return {**fields, "warnings": [*fields.get("warnings", job.warnings), prepared.warning]}


def save_prepared(job: VideoRequest, prepared: Prepared) -> None:
    """Save the prepared track with the clip (inside its transaction, in a savepoint: a
    failure here drops the captions, with a warning, and keeps the clip)."""
    if prepared.asset is None:
        return
    try:
        with transaction.atomic():
            prepared.asset.save()
            staging.settled(prepared.asset)
            CaptionTrack.objects.create(request=job, asset=prepared.asset, **prepared.fields)
    except Exception as exc:  # noqa: BLE001
        logger.warning("saving the captions of job %s failed: %s", job.pk, type(exc).__name__)
        warning = failed_warning(exc)
        transaction.on_commit(lambda: add_warning(job, code=warning["code"],
                                                  message=warning["message"]))


def add_warning(job: VideoRequest, *, code: str, message: str) -> None:
    with transaction.atomic():
        row = VideoRequest.objects.select_for_update().filter(pk=job.pk).values(
            "warnings").first()
        if row is None:
            return
        warnings = [w for w in row["warnings"] if w.get("code") != code]
        warning = _warning(code=code, message=message)
        VideoRequest.objects.update_fields(job, expect=Status.SUCCEEDED,
                                           warnings=[*warnings, warning])
