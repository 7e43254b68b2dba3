"""Finding the clips of an object, for templates and views: ``Clip``, lookups and prefetching.

A *clip* is the video and poster of a succeeded ``VideoRequest`` that may be shown: with
``REQUIRE_APPROVAL`` (the default) only approved ones, otherwise any that was not rejected.
``featured_clip(product)`` is the one a page shows (the featured clip of the active language,
see its fallback order). ``latest_clip(product)`` and
``clips_of(product)`` look them up through the request's generic link to the source object;
``prefetch_clips(queryset)`` attaches every object's clips in one query, so a page that shows
the clips of N objects costs the same number of queries for any N.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from functools import cached_property
from typing import Any, TypeVar

from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Prefetch, Q
from django.utils.translation import get_language

from ..clip_renditions import Rendition, RenditionStatus
from ..conf import kling_settings
from ..models import Asset, AssetKind, ReviewStatus, Status, VideoRequest
from .captions import Captions, captions_of, cross_origin
from .file_urls import SIGNED_URL_MIN_SECONDS, file_url  # noqa: F401  (their old home)

# Where prefetch_clips() leaves its results on each object: {field name or "": [Clip, ...]}.
CACHE_ATTRIBUTE = "_kling_clips"

# Objects per query when prefetching: far below every database's limit of query parameters.
_CHUNK = 500

T = TypeVar("T", bound=models.Model)


class Source:
    """One ``<source>`` of a clip's ``<video>``: a rendition (with its media query) or the
    original (no media query: it is the last one, for every screen no query matched)."""

    def __init__(self, asset: Asset, media: str = "") -> None:
        self.asset = asset
        self.media = media

    @cached_property
    def url(self) -> str:
        return file_url(self.asset.file)

    @property
    def mime(self) -> str:
        return self.asset.mime or "video/mp4"

    @property
    def height(self) -> int | None:
        return self.asset.height

    @property
    def width(self) -> int | None:
        return self.asset.width


def ready_renditions() -> Prefetch:
    """Prefetch of a video's ready renditions and their files (``video__renditions``)."""
    return Prefetch("video__renditions", queryset=Rendition.objects.filter(
        status=RenditionStatus.READY, asset__isnull=False).select_related("asset"))


class Clip:
    """A stored clip: its video Asset, poster Asset (if any) and the request that made it.

    URLs are computed once per ``Clip`` (signing one costs a little CPU, never a query).
    ``str(clip)`` is the video URL.
    """

    def __init__(self, video: Asset, poster: Asset | None = None,
                 request: VideoRequest | None = None) -> None:
        self.video = video
        self.poster = poster
        self.request = request

    def __repr__(self) -> str:
        return f"<Clip {self.video.file.name}>"

    def __str__(self) -> str:
        return self.url

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Clip) and other.video.pk == self.video.pk

    def __hash__(self) -> int:
        return hash(self.video.pk)

    @cached_property
    def url(self) -> str:
        return file_url(self.video.file)

    @cached_property
    def sources(self) -> list[Source]:
        """The ``<source>`` elements: the ready renditions that have a media query in
        ``RENDITIONS``, smallest first, then the original (for every other screen)."""
        media = {str(spec["name"]): spec.get("media", "") for spec in kling_settings.RENDITIONS}
        if self.video.pk is None or not media:
            return [Source(self.video)]
        rows = (self.video.renditions.all()
                if "renditions" in getattr(self.video, "_prefetched_objects_cache", {})
                else self.video.renditions.filter(status=RenditionStatus.READY)
                .select_related("asset"))
        renditions = sorted((r for r in rows if r.asset is not None and media.get(r.name)),
                            key=lambda r: (r.asset.height or 0, r.asset.width or 0))
        return [*(Source(r.asset, media[r.name]) for r in renditions), Source(self.video)]

    @cached_property
    def poster_url(self) -> str:
        return file_url(self.poster.file) if self.poster is not None and self.poster.file else ""

    @property
    def mime(self) -> str:
        return self.video.mime or "video/mp4"

    @property
    def width(self) -> int | None:
        return self.video.width

    @property
    def height(self) -> int | None:
        return self.video.height

    @property
    def size(self) -> int:
        return self.video.size

    @property
    def duration(self) -> float | None:
        """Seconds, as probed from the file (the requested duration if it was never probed)."""
        if self.video.duration is not None:
            return self.video.duration
        return float(self.request.duration) if self.request is not None else None

    @property
    def has_audio(self) -> bool | None:
        return self.video.has_audio

    @property
    def prompt(self) -> str:
        return self.request.prompt if self.request is not None else ""

    @cached_property
    def captions(self) -> Captions | None:
        """The clip's caption track (``captions.url``, ``.language``, ``.label``, ``.transcript``),
        or None: a clip without a spoken line has none."""
        return captions_of(self.request)

    @cached_property
    def crossorigin(self) -> str | None:
        """``"anonymous"`` when the captions come from another origin than the page (they are
        then fetched with CORS, which needs the attribute on ``<video>``), else None."""
        return cross_origin(self.captions.url) if self.captions is not None else None

    @property
    def created(self) -> datetime:
        """When the clip was stored."""
        if self.request is not None and self.request.finished_at is not None:
            return self.request.finished_at
        return self.video.created_at


def shown() -> Q:
    """The reviews that let a clip be shown under the current ``REQUIRE_APPROVAL``."""
    if kling_settings.REQUIRE_APPROVAL:
        return Q(review_status=ReviewStatus.APPROVED)
    return ~Q(review_status=ReviewStatus.REJECTED)


def may_show(request: VideoRequest) -> bool:
    if kling_settings.REQUIRE_APPROVAL:
        return request.review_status == ReviewStatus.APPROVED
    return request.review_status != ReviewStatus.REJECTED


def _clip_of_request(request: VideoRequest) -> Clip | None:
    if request.status != Status.SUCCEEDED or request.video_id is None or not may_show(request):
        return None
    return Clip(request.video, request.poster, request)


def _succeeded() -> models.QuerySet[VideoRequest]:
    return (VideoRequest.objects.filter(shown(), status=Status.SUCCEEDED, video__isnull=False)
            .select_related("video", "poster", "caption_track__asset")
            .prefetch_related(ready_renditions())
            .order_by("-created_at", "-pk"))


def _succeeded_of(obj: models.Model, field: str | None) -> models.QuerySet[VideoRequest]:
    requests = _succeeded().filter(
        content_type=ContentType.objects.get_for_model(obj), object_id=str(obj.pk))
    return requests.filter(field_name=field) if field else requests


def _cached(obj: models.Model, field: str | None) -> list[Clip] | None:
    cache = obj.__dict__.get(CACHE_ATTRIBUTE)
    if cache is None:
        return None
    if (field or "") in cache:
        return cache[field or ""]
    if field and "" in cache:  # prefetched for every field: a superset, filtered here
        return [c for c in cache[""] if c.request is not None and c.request.field_name == field]
    return None


def clips_of(obj: models.Model, field: str | None = None) -> list[Clip]:
    """The clips of ``obj`` that may be shown (through its ``field`` only, if given), newest
    first.

    Uses what ``prefetch_clips`` attached to ``obj``; queries once otherwise.
    """
    cached = _cached(obj, field)
    if cached is not None:
        return cached
    if obj.pk is None:
        return []
    return [Clip(r.video, r.poster, r) for r in _succeeded_of(obj, field)]


def latest_clip(obj: models.Model, field: str | None = None) -> Clip | None:
    """The newest clip of ``obj`` that may be shown (one query, none after ``prefetch_clips``);
    pages usually want :func:`featured_clip`."""
    cached = _cached(obj, field)
    if cached is not None:
        return cached[0] if cached else None
    if obj.pk is None:
        return None
    request = _succeeded_of(obj, field).first()
    return Clip(request.video, request.poster, request) if request is not None else None


def speech_language(language: str | None) -> str:
    """``"en"``/``"zh"`` for a Django language code (``zh-hans``, ``en-us``), else ``""``."""
    code = (language or "").lower().replace("_", "-").split("-")[0]
    return code if code in ("en", "zh") else ""


def featured_clip(obj: models.Model, field: str | None = None, *, language: str | None = None,
                  aspect: str | None = None) -> Clip | None:
    """The clip a page shows for ``obj``: among its shown clips (of ``aspect`` only, if given),
    the featured clip of ``language`` (default: the active language, ``get_language()``), else
    the newest clip in that language; then the same among language-neutral clips; then the
    featured, else newest, clip of any language. No query after ``prefetch_clips``.
    """
    clips = clips_of(obj, field)
    if aspect:
        clips = [c for c in clips if c.request is not None and c.request.aspect_ratio == aspect]
    wanted = speech_language(get_language() if language is None else language)
    tiers = ([wanted] if wanted else []) + ["", None]
    for tier in tiers:
        group = [c for c in clips if tier is None
                 or (c.request is not None and c.request.language == tier)]
        if group:
            return next((c for c in group if c.request is not None and c.request.featured),
                        group[0])
    return None


def resolve_clip(target: Any, field: str | None = None, *, language: str | None = None,
                 aspect: str | None = None) -> Clip | None:
    """The clip a template means by ``target``.

    A ``Clip`` is itself; a ``VideoRequest`` gives its own clip if it succeeded (and may be
    shown); a video ``Asset`` gives itself with the poster of its request (if that may be
    shown); any other model instance gives its ``featured_clip``; anything else (``None``,
    ``""``) gives None.
    """
    if isinstance(target, Clip):
        return target
    if isinstance(target, VideoRequest):
        return _clip_of_request(target)
    if isinstance(target, Asset):
        if target.kind != AssetKind.VIDEO or not target.file:
            return None
        request = VideoRequest.objects.filter(video=target).select_related(
            "poster", "caption_track__asset").first()
        if request is not None and not may_show(request):
            return None
        return Clip(target, request.poster if request else None, request)
    if isinstance(target, models.Model):
        return featured_clip(target, field, language=language, aspect=aspect)
    return None


def attach_clips(objects: Iterable[Any], field: str | None = None) -> None:
    """Give each model instance among ``objects`` its clips, in one query per 500 objects.

    Later calls of ``clips_of``/``latest_clip`` (and the template tags) on these instances
    use what was attached and make no query. Items that are not saved model instances are
    skipped, so a ``values()`` list does no harm.
    """
    instances = [o for o in objects if isinstance(o, models.Model) and o.pk is not None]
    key = field or ""
    for instance in instances:
        instance.__dict__.setdefault(CACHE_ATTRIBUTE, {})[key] = []
    for start in range(0, len(instances), _CHUNK):
        chunk = instances[start:start + _CHUNK]
        by_link: dict[tuple[int, str], list[models.Model]] = {}
        for instance in chunk:
            content_type = ContentType.objects.get_for_model(instance)  # cached per model
            by_link.setdefault((content_type.pk, str(instance.pk)), []).append(instance)
        wanted = Q()
        for content_type_id in {ct for ct, _pk in by_link}:
            ids = [pk for ct, pk in by_link if ct == content_type_id]
            wanted |= Q(content_type_id=content_type_id, object_id__in=ids)
        requests = _succeeded().filter(wanted)
        if field:
            requests = requests.filter(field_name=field)
        for request in requests:
            clip = Clip(request.video, request.poster, request)
            for instance in by_link.get((request.content_type_id, request.object_id), ()):
                instance.__dict__[CACHE_ATTRIBUTE][key].append(clip)


class _ClipPrefetchingQuerySet:
    """Mixed into a queryset's own class by ``prefetch_clips``: attaches clips on evaluation."""

    _kling_field: str | None = None
    _kling_base: type = models.QuerySet

    def _clone(self) -> Any:
        clone = super()._clone()  # type: ignore[misc]
        clone._kling_field = self._kling_field
        return clone

    def _fetch_all(self) -> None:
        fresh = self._result_cache is None  # type: ignore[attr-defined]
        super()._fetch_all()  # type: ignore[misc]
        if fresh:
            attach_clips(self._result_cache, self._kling_field)  # type: ignore[attr-defined]

    def __reduce__(self) -> tuple[Any, ...]:
        # The mixed class is made at run time and cannot be found by pickle: a pickled copy
        # (e.g. in a cache) is a plain, evaluated queryset whose rows keep their clips.
        return _unpickle_as, (self._kling_base, self.__getstate__())  # type: ignore[attr-defined]


def _unpickle_as(queryset_class: type, state: dict[str, Any]) -> models.QuerySet:
    queryset = queryset_class.__new__(queryset_class)
    queryset.__setstate__(state)
    return queryset


_prefetching_classes: dict[type, type] = {}


def _prefetching_class(queryset_class: type) -> type:
    if issubclass(queryset_class, _ClipPrefetchingQuerySet):
        return queryset_class
    if queryset_class not in _prefetching_classes:
        _prefetching_classes[queryset_class] = type(
            f"ClipPrefetching{queryset_class.__name__}",
            (_ClipPrefetchingQuerySet, queryset_class), {"_kling_base": queryset_class})
    return _prefetching_classes[queryset_class]


def prefetch_clips(objects: models.QuerySet[T] | Iterable[T],
                   field: str | None = None) -> models.QuerySet[T] | list[T]:
    """Attach the clips of every object that may be shown, newest first, in one extra query.

    Given a ``QuerySet``, returns a lazy copy that can still be filtered, sliced and paginated:
    the clips of the rows are fetched when (and only for the rows that) it is evaluated, e.g.
    ``Paginator(prefetch_clips(Product.objects.all()), 24)`` costs one query per page. Given
    any other iterable of model instances (a list, a page's ``object_list``), attaches at once
    and returns them as a list. ``field`` limits the clips to those made from that field.
    ``queryset.iterator()`` streams rows without caching them, so it attaches nothing.
    """
    if isinstance(objects, models.QuerySet):
        clone = objects._chain()
        clone.__class__ = _prefetching_class(type(objects))
        clone._kling_field = field
        return clone
    instances = list(objects)
    attach_clips(instances, field)
    return instances
