from django.core.files.storage import FileSystemStorage

from .crash import crash_once


class CrashingStorage(FileSystemStorage):
    """Local storage that can kill the worker just before a clip is written (after download)."""

    def _save(self, name, content):
        if "/video/" in name:
            crash_once("store_video")
        return super()._save(name, content)
