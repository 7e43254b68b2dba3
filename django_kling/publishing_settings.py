"""The settings of what is published with a clip: captions, content credentials, the visible
label, renditions and posters (``conf.SETTINGS`` includes them; docs/settings.rst has them)."""

from __future__ import annotations

from .setting_types import Setting

PUBLISHING: tuple[Setting, ...] = (
    Setting(
        "CAPTIONS",
        True,
        "Whether every succeeded clip with a spoken line gets a WebVTT caption track, timed to "
        "the speech in its audio (docs/accessibility.rst). False: none are made.",
    ),
    Setting(
        "CAPTIONS_CORS",
        False,
        "Set True once the storage (bucket, CDN) answers CORS requests from your site's origin "
        "for GET and HEAD: remote caption files need it (the deploy check W005 says so until "
        "then).",
    ),
    Setting(
        "CONTENT_CREDENTIALS",
        {"CERTIFICATE": None, "PRIVATE_KEY": None, "ALGORITHM": "es256", "TSA_URL": None,
         "SOURCE_THUMBNAIL": False},
        "C2PA signing of every stored clip and poster: CERTIFICATE (path to the PEM chain, "
        "signer first) and PRIVATE_KEY (path to its PEM key), never the database; ALGORITHM; "
        "TSA_URL (an RFC 3161 timestamp authority, or None); SOURCE_THUMBNAIL (embed a "
        "thumbnail of the source image; False: only its SHA-256). No certificate: unsigned.",
    ),
    Setting(
        "AI_LABEL",
        True,
        "Whether {% kling_video %} and the Wagtail blocks show a visible \"AI-generated\" "
        "label (the tag's ai_label argument overrides it). JSON-LD states it always.",
    ),
    Setting(
        "RENDITIONS",
        [{"name": "480p", "height": 480, "max_bitrate": 1_000_000, "audio_bitrate": 96_000,
          "media": "(max-width: 640px)"},
         {"name": "720p", "height": 720, "max_bitrate": 2_500_000, "audio_bitrate": 128_000,
          "media": "(max-width: 1280px)"}],
        "Smaller H.264 + AAC copies made of every stored clip, smallest first; each is a dict "
        "(name, height, max_bitrate, audio_bitrate in bits per second, media: the media query "
        "of its <source>, optional crf). A clip no taller than a rendition gets none of it "
        "(never upscaled). Empty: no renditions.",
    ),
    Setting("RENDITION_PRESET", "veryfast", "x264 preset of the renditions (CPU against bytes)."),
    Setting("RENDITION_CLAIM", 600.0, "Seconds a worker holds a rendition it encodes; one that "
            "died holding it frees it after that (kling_sync then sends it again)."),
    Setting("POSTER_JPEG", False, "Also store a JPEG next to each WebP poster an editor picks."),
    Setting("POSTER_STRIP_FRAMES", 8, "Frames shown in the poster strip an editor picks from."),
)
