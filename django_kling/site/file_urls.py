"""The URL a browser fetches a stored file at (signed for long enough on private buckets)."""

from __future__ import annotations

from django.db.models.fields.files import FieldFile

# A visitor may open a page, read for a while, then play and seek (each seek is a new range
# request on the same URL); a signed URL must outlive that, whatever the storage's own default.
SIGNED_URL_MIN_SECONDS = 3600


def file_url(file: FieldFile) -> str:
    """The URL of a stored file: signed for long enough on private S3-style buckets.

    django-storages' S3 backend signs URLs when ``querystring_auth`` is on and accepts an
    ``expire`` argument; any other storage's own ``url()`` is used as it is.
    """
    storage = file.storage
    expire = getattr(storage, "querystring_expire", None)
    if (getattr(storage, "querystring_auth", False) and isinstance(expire, int)
            and expire < SIGNED_URL_MIN_SECONDS):
        return storage.url(file.name, expire=SIGNED_URL_MIN_SECONDS)
    return file.url
