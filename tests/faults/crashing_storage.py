from django.core.files.storage import FileSystemStorage

from .crash import crash_once


class CrashingStorage(FileSystemStorage):
    """Local storage that can kill the worker just before a clip is written (after download),
    or just after (``stored_video``: the clip is in storage, its row not committed yet)."""

    def _save(self, name, content):
        if "/video/" in name:
            crash_once("store_video")
        saved = super()._save(name, content)
        if "/video/" in name:
            crash_once("stored_video")
        return saved
