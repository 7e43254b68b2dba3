"""The size and SHA-256 of a file on disk, read once in chunks (what an ``Asset`` records)."""

from __future__ import annotations

import hashlib

CHUNK = 1024 * 1024


def size_and_sha256(path: str) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()
