"""How a stored frame travels to a provider: a short-lived signed URL, or base64 encoded once.

:setting:`IMAGE_TRANSFER` chooses. Where the storage signs URLs (django-storages' S3 backend
and friends with ``querystring_auth``, over https), ``"auto"`` sends the provider a URL signed
for :setting:`FRAME_URL_EXPIRY` seconds: the body stays small and nothing is encoded at all, and
the bucket stays private (the URL opens that one file, until it expires). Local storage sends the
frame inline, as base64 text made **once**, when the frame is stored (``store_encoded``: a
``<name>.b64`` file beside it), so neither a retry nor the next provider encodes it again.
"""

from __future__ import annotations

import base64
import contextlib
import logging

from django.core.files.base import ContentFile
from django.core.files.storage import Storage

from ..conf import kling_settings
from . import presigned
from .storage import resolved

logger = logging.getLogger("django_kling.files.frames")

#: The encoded form of ``name`` is stored as ``name + ENCODED_SUFFIX``.
ENCODED_SUFFIX = ".b64"


def signs_urls(storage: Storage) -> bool:
    """Whether ``storage.url()`` gives signed, expiring URLs (django-storages' S3, GCS...)."""
    return bool(getattr(storage, "querystring_auth", False))


def frame_url(storage: Storage, name: str) -> str | None:
    """The URL the provider is to fetch the frame ``name`` from, or None: it goes inline.

    ``"auto"``: the storage's URL when it is ``https://`` (S3 and friends, signed for
    ``FRAME_URL_EXPIRY`` seconds where the storage signs; public media, a CDN); ``"url"``:
    always the storage's URL (signed when it can be); ``"inline"``: never a URL. ``"auto"``
    keeps a plain-http URL inline: an internal endpoint (MinIO on the private network) the
    provider could not reach."""
    mode = kling_settings.IMAGE_TRANSFER
    if mode == "inline":
        return None
    if signs_urls(storage):
        try:
            url = presigned.signed_url(resolved(storage), name,
                                       int(kling_settings.FRAME_URL_EXPIRY))
        except TypeError:  # a signing storage without ``expire``: its own expiry applies
            url = storage.url(name)
    else:
        url = storage.url(name)
    return url if mode == "url" or url.startswith("https://") else None


def encoded_name(name: str) -> str:
    return name + ENCODED_SUFFIX


def store_encoded(storage: Storage, name: str, data: bytes) -> None:
    """Keep the frame ``name``'s base64 text beside it, when it will travel inline.

    Best effort: a frame whose encoded form is missing is encoded when it is sent."""
    if frame_url(storage, name) is not None:
        return
    try:
        saved = storage.save(encoded_name(name), ContentFile(base64.b64encode(data)))
    except Exception:  # noqa: BLE001  (the frame is stored; it is encoded on sending instead)
        logger.warning("could not store the encoded form of %s", name, exc_info=True)
        return
    if saved != encoded_name(name):  # taken (never, our names are UUIDs): not ours to read
        with contextlib.suppress(Exception):
            storage.delete(saved)


def read_encoded(storage: Storage, name: str) -> bytes | None:
    """The base64 text stored beside the frame ``name``, as its ASCII bytes (it goes into the
    request body as they are), or None (not stored, unreadable)."""
    try:
        with storage.open(encoded_name(name), "rb") as fh:
            return fh.read()
    except Exception:  # noqa: BLE001  (missing, or the storage cannot tell: encode it instead)
        return None


def delete_encoded(storage: Storage, name: str) -> None:
    """Remove the encoded form of the frame ``name`` if there is one (best effort)."""
    with contextlib.suppress(Exception):
        storage.delete(encoded_name(name))
