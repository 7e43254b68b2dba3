"""Fixes the benchmarks still propose, applied as monkeypatches for before/after figures.

Nothing here is imported by the app; a benchmark applies a patch only when asked
(``memory --patched``), so the plain figures always measure the code as it is in the tree.

Patches A (one SSL context for downloads), D (``states.update_fields`` as one conditional
UPDATE), E (``pipeline._load`` joins the frames only for submit) and F (``TCP_NODELAY`` in the
sandbox) are applied in the app (commit fc93afa), so their monkeypatches are gone. What is left
is C, which is not app code but the host project's storage setting (see bench/README.md).
"""

from __future__ import annotations

import os
from typing import Any

_applied: set[str] = set()
S3_TRANSFER: Any = None


def s3_transfer_config() -> None:
    """Patch C: upload clips to S3 with a bounded memory footprint.

    django-storages hands the open clip to boto3's ``upload_fileobj`` with its default
    ``TransferConfig`` (8 MiB parts, 10 threads). For a file object (not a file name),
    s3transfer reads each part into memory, and queues more parts than it uploads at once,
    so peak memory grows with the clip until its queue limits kick in. Uploading with fewer
    concurrent parts bounds it. In a project this is ``OPTIONS["transfer_config"]`` of the
    clips' storage (the README's recommendation); here every ``S3Storage`` gets it.
    """
    if "s3" in _applied:
        return
    from boto3.s3.transfer import TransferConfig
    from storages.backends.s3 import S3Storage

    global S3_TRANSFER

    concurrency = int(os.environ.get("BENCH_S3_CONCURRENCY", "2"))
    S3_TRANSFER = TransferConfig(use_threads=True, max_concurrency=concurrency,
                                 multipart_chunksize=int(os.environ.get("BENCH_S3_CHUNK_MB", "8"))
                                 * 2**20)
    # Not a boto3 keyword, but read by s3transfer: parts held in memory at once (default 10).
    S3_TRANSFER.max_in_memory_upload_chunks = concurrency
    original = S3Storage.__init__

    def __init__(self: Any, **settings: Any) -> None:
        original(self, **settings)
        self.transfer_config = S3_TRANSFER

    S3Storage.__init__ = __init__
    _applied.add("s3")


def applied() -> list[str]:
    return sorted(_applied)
