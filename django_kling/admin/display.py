"""HTML fragments the admin pages share: status badges, thumbnails, players, sizes, links.

Every fragment is built with ``format_html`` so prompts, file names and provider messages are
always escaped, whatever they contain.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib.admin.sites import AdminSite
from django.contrib.admin.utils import quote
from django.db import models
from django.template.defaultfilters import filesizeformat
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.text import Truncator
from django.utils.timesince import timesince
from django.utils.translation import gettext as _

from ..conf import kling_settings
from ..models import Asset, VideoRequest
from ..options import Mode
from ..site.captions import captions_of, cross_origin

EMPTY = "—"


def status_url(admin_site: AdminSite) -> str:
    """URL of the JSON status endpoint on this admin site ("" when the site lacks it)."""
    try:
        return reverse(f"{admin_site.name}:django_kling_videorequest_status")
    except NoReverseMatch:
        return ""


def status_badge(job: VideoRequest, poll_url: str = "") -> SafeString:
    """The coloured status label; with ``poll_url`` the progress script keeps it current."""
    return format_html(
        '<span class="kling-badge kling-badge--{}" data-kling-job="{}" data-kling-status="{}"'
        ' data-kling-final="{}" data-kling-status-url="{}">{}</span>',
        job.status, job.pk, job.status, "true" if job.is_final else "false", poll_url,
        job.get_status_display(),
    )


def file_url(asset: Asset | None) -> str:
    """The asset's URL, or "" when there is no file (or the storage cannot give a URL)."""
    if asset is None or not asset.file:
        return ""
    try:
        return asset.file.url
    except (NotImplementedError, ValueError):
        return ""


def fieldfile_url(fieldfile: Any) -> str:
    if not fieldfile:
        return ""
    try:
        return fieldfile.url
    except (NotImplementedError, ValueError):
        return ""


#: Thumbnail sizes (longest side, px) that kling.css knows; classes, not inline styles, so
#: the admin works under a strict Content-Security-Policy.
THUMBNAIL_SIZES = ("small", "medium", "large", "preview")


def thumbnail(url: str, alt: str = "", size: str = "small") -> SafeString | str:
    if not url:
        return EMPTY
    assert size in THUMBNAIL_SIZES, size
    return format_html('<img class="kling-thumb kling-thumb--{}" src="{}" alt="{}" loading="lazy">',
                       size, url, alt)


def video_player(job_or_asset: VideoRequest | Asset, *, width: int = 480,
                 preload: str = "metadata") -> SafeString | str:
    """An HTML5 player for a finished job (with its poster) or for a video asset."""
    if isinstance(job_or_asset, VideoRequest):
        video, poster = job_or_asset.video, job_or_asset.poster
    else:
        video, poster = job_or_asset, None
    src = file_url(video)
    if not src:
        return EMPTY
    captions = captions_of(job_or_asset) if isinstance(job_or_asset, VideoRequest) else None
    track = format_html('<track kind="captions" srclang="{}" label="{}" src="{}" default>',
                        captions.language, captions.label, captions.url) if captions else ""
    cors = format_html(' crossorigin="{}"', cross_origin(captions.url)) \
        if captions and cross_origin(captions.url) else ""
    return format_html(
        '<video class="kling-player" controls preload="{}" playsinline poster="{}" width="{}"{}>'
        '<source src="{}" type="{}">{}<a href="{}">{}</a></video>',
        preload, file_url(poster), width, cors, src, video.mime or "video/mp4", track, src,
        _("Download the video"),
    )


def human_size(size: int | None) -> str:
    return filesizeformat(size or 0)


def money(amount: Decimal | None) -> str:
    """An amount with the configured currency, 2 decimals unless the third one matters."""
    if amount is None:
        return EMPTY
    places = Decimal("0.01") if amount == amount.quantize(Decimal("0.01")) else Decimal("0.001")
    return f"{amount.quantize(places)} {kling_settings.CURRENCY}"


def age(moment: Any) -> str:
    if moment is None:
        return EMPTY
    now = timezone.now()
    if (now - moment).total_seconds() < 60:
        return _("just now")
    return _("%(time)s ago") % {"time": timesince(moment, now, depth=1)}


def duration_text(seconds: float) -> str:
    """Elapsed time as m:ss (h:mm:ss past an hour)."""
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def clip_summary(job: VideoRequest) -> str:
    return _("%(duration)s s · %(aspect)s · %(mode)s · %(sound)s") % {
        "duration": job.duration,
        "aspect": job.aspect_ratio,
        "mode": job.mode,
        "sound": _("with sound") if job.generate_audio else _("silent"),
    }


def mode_text(job: VideoRequest) -> str:
    """The mode as this clip has it ("Pro (1080p, silent)"), not everything the mode can do."""
    if job.mode != Mode.PRO:
        return str(dict(Mode.choices).get(job.mode, job.mode))
    features = ["1080p", _("sound") if job.generate_audio else _("silent")]
    if job.last_frame_id:
        features.append(_("last frame"))
    return _("Pro (%(features)s)") % {"features": ", ".join(features)}


def short_text(text: str, chars: int = 80) -> str:
    return Truncator(text).chars(chars) if text else EMPTY


def admin_change_url(admin_site: AdminSite, obj: models.Model) -> str:
    """The change page of ``obj`` on this admin site, or "" when its model is not registered."""
    if not admin_site.is_registered(type(obj)):
        return ""
    opts = obj._meta
    try:
        return reverse(f"{admin_site.name}:{opts.app_label}_{opts.model_name}_change",
                       args=[quote(obj.pk)])
    except NoReverseMatch:
        return ""


def source_link(job: VideoRequest | Asset, admin_site: AdminSite) -> SafeString | str:
    """The object a job (or asset) belongs to, linked to its admin page when it has one.

    Reads the generic relation; the changelist loads those objects in bulk beforehand (see
    ``sources.attach_sources``) so this makes no query there.
    """
    if not job.content_type_id:
        return EMPTY
    obj = getattr(job, "source_object", None) if isinstance(job, VideoRequest) else job.owner
    if obj is None:
        return format_html('<span class="kling-muted">{}</span>', _(
            "%(type)s #%(id)s (deleted)") % {"type": job.content_type.name, "id": job.object_id})
    url = admin_change_url(admin_site, obj)
    label = f"{obj._meta.verbose_name}: {obj}"
    if url:
        return format_html('<a href="{}">{}</a>', url, label)
    return label
