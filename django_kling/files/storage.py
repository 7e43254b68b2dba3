"""Where django-kling keeps its files: the storage alias from settings, and file names.

File names are always ours (a UUID plus an extension chosen from the detected content type), so
an uploaded name can never pick a folder or overwrite another file.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from typing import Any

from django.core.files.storage import Storage, storages
from django.utils import timezone

from ..conf import kling_settings

logger = logging.getLogger("django_kling.files.storage")

EXTENSIONS = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "video/mp4": ".mp4",
    "image/webp": ".webp",
}


def kling_storage() -> Storage:
    """The storage named by ``DJANGO_KLING['STORAGE']`` (an alias of ``STORAGES``)."""
    return storages[kling_settings.STORAGE]


class ConfiguredStorage(Storage):
    """Stands for ``kling_storage()`` and looks it up on every use.

    Django evaluates a FileField's storage callable once, when models load; going through this
    object instead means a changed ``STORAGES``/``DJANGO_KLING`` (tests, multi-tenant setups)
    is honoured without touching the field.
    """

    def __getattribute__(self, name: str) -> Any:
        if name.startswith("__"):
            return object.__getattribute__(self, name)
        return getattr(kling_storage(), name)


_configured_storage = ConfiguredStorage()


def resolved(storage: Storage) -> Storage:
    """The storage ``storage`` stands for now (itself unless it is the configured one)."""
    return kling_storage() if isinstance(storage, ConfiguredStorage) else storage


def asset_storage() -> Storage:
    """The FileField storage callable of ``Asset.file``."""
    return _configured_storage


def asset_upload_to(instance: Any, filename: str) -> str:
    folder = timezone.now().strftime(kling_settings.UPLOAD_TO)
    if folder and not folder.endswith("/"):
        folder += "/"
    extension = EXTENSIONS.get(getattr(instance, "mime", ""), "")
    return f"{folder}{instance.kind}/{uuid.uuid4().hex}{extension}"


def discard_files(assets: Iterable[Any]) -> None:
    """Delete the stored files of Assets that will not be saved (best effort)."""
    for asset in assets:
        try:
            asset.file.delete(save=False)
        except Exception:  # noqa: BLE001  (best effort; the original error matters more)
            logger.warning("could not delete %s after a failed save", asset.file.name)
