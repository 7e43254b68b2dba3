"""django-kling in Django admin.

Host projects use :class:`KlingVideoAdminMixin` (or :func:`generate_video_action`) on their own
``ModelAdmin``; importing this package (admin autodiscovery does) registers the admin of the
app's own models, ``VideoRequest`` and ``Asset``, on the default site.

Modules: ``actions`` (the action and its permission), ``mixins`` (the one-line mixin),
``generate`` and ``forms`` (the "Generate video" page), ``requests`` and ``progress`` (the
video request admin and its live status), ``batches`` (many objects at once: the confirmation
and the batch's page), ``inlines``, ``assets``, ``display`` (shared HTML fragments),
``sources`` (bulk loading of the objects jobs belong to), ``explanations`` (what error codes
mean), ``captions`` (correcting and regenerating caption tracks), ``review``
(approving, rejecting, featuring, comparing variants), ``presets`` (the
preset admin).
"""

from django.contrib import admin

from ..caption_tracks import CaptionTrack
from ..models import Asset, VideoBatch, VideoRequest
from ..video_presets import VideoPreset
from ..voices import Voice
from .actions import can_generate_videos, generate_video_action
from .assets import AssetAdmin
from .batches import VideoBatchAdmin
from .captions import CaptionTrackAdmin
from .inlines import VideoRequestInline
from .mixins import KlingVideoAdminMixin
from .presets import VideoPresetAdmin, VoiceAdmin
from .requests import VideoRequestAdmin

admin.site.register(VideoRequest, VideoRequestAdmin)
admin.site.register(Asset, AssetAdmin)
admin.site.register(CaptionTrack, CaptionTrackAdmin)
admin.site.register(VideoBatch, VideoBatchAdmin)
admin.site.register(VideoPreset, VideoPresetAdmin)
admin.site.register(Voice, VoiceAdmin)

__all__ = [
    "AssetAdmin",
    "CaptionTrackAdmin",
    "VideoBatchAdmin",
    "KlingVideoAdminMixin",
    "VideoPresetAdmin",
    "VideoRequestAdmin",
    "VideoRequestInline",
    "VoiceAdmin",
    "can_generate_videos",
    "generate_video_action",
]
