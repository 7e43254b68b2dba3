"""Bringing a finished clip home: a URL streamed to a temp file, or base64 decoded to one.

Result URLs come from a third party, so they are treated like user input: https only, no IP
addresses or local names (the reference SDK's SSRF guard), redirects checked hop by hop, and a
byte cap enforced while streaming; a clip over the cap never lands on disk in full.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import hashlib
import ipaddress
import logging
import os
import ssl
import tempfile
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx
from django.utils.translation import gettext as _

from .conf import kling_settings
from .exceptions import DownloadError
from .providers.base import VideoOutput

logger = logging.getLogger("django_kling.download")

CHUNK = 1024 * 1024
MAX_REDIRECTS = 5
LOCAL_SUFFIXES = (".local", ".localhost", ".internal", ".lan", ".home", ".arpa")


@dataclass
class Downloaded:
    path: str
    size: int
    sha256: str

    def discard(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


def check_url(url: str, allowed_hosts: list[str] | None = None) -> None:
    """Refuse URLs a clip must not be fetched from (raises ``DownloadError``)."""
    allowed = {h.lower() for h in (allowed_hosts if allowed_hosts is not None
                                   else kling_settings.ALLOWED_DOWNLOAD_HOSTS)}
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not host:
        raise DownloadError(_("The result URL has no host."), code="download_refused")
    if host in allowed:
        if parts.scheme not in {"http", "https"}:
            raise DownloadError(_("The result URL uses an unsupported scheme."),
                                code="download_refused")
        return
    if parts.scheme != "https":
        raise DownloadError(
            _("The result URL is not https (%(scheme)s); refused.") % {"scheme": parts.scheme},
            code="download_refused",
        )
    if _is_ip(host) or "." not in host or host == "localhost" or host.endswith(LOCAL_SUFFIXES):
        raise DownloadError(
            _("The result URL points at a private or local address (%(host)s); refused.")
            % {"host": host},
            code="download_refused",
        )


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def fetch_video(video: VideoOutput, *, max_bytes: int | None = None,
                timeout: float = 60.0) -> Downloaded:
    """Write the clip to a new temp file (the caller discards it) and return where it is."""
    cap = int(max_bytes if max_bytes is not None else kling_settings.MAX_DOWNLOAD_BYTES)
    fd, path = tempfile.mkstemp(prefix="kling-", suffix=".mp4")
    digest = hashlib.sha256()
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in (_iter_base64(video.data, cap) if video.kind == "base64"
                          else _iter_url(video.url, cap, timeout)):
                size += len(chunk)
                if size > cap:
                    raise _too_big(cap)
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        os.unlink(path)
        raise
    return Downloaded(path=path, size=size, sha256=digest.hexdigest())


def _too_big(cap: int) -> DownloadError:
    return DownloadError(
        _("The clip is larger than the %(mib)s MiB download limit.") % {"mib": cap // 2**20},
        code="download_too_large",
    )


def _iter_base64(data: str, cap: int):
    if len(data) * 3 // 4 > cap + 3:
        raise _too_big(cap)
    try:
        yield base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise DownloadError(_("The clip sent inline is not valid base64."),
                            code="download_corrupt") from None


@functools.lru_cache(maxsize=1)
def _ssl_context() -> ssl.SSLContext:
    # Building a context (loading the CA bundle) costs ~20 ms: more than a small download.
    return httpx.create_ssl_context()


def _iter_url(url: str, cap: int, timeout: float):
    with httpx.Client(timeout=httpx.Timeout(timeout, connect=10.0), verify=_ssl_context(),
                      follow_redirects=False) as client:
        for _hop in range(MAX_REDIRECTS + 1):
            check_url(url)
            try:
                with client.stream("GET", url) as response:
                    if response.is_redirect and "location" in response.headers:
                        url = urljoin(url, response.headers["location"])
                        continue
                    if response.status_code in (403, 404, 410):
                        raise DownloadError(
                            _("The result URL has expired or is gone (HTTP %(status)s).")
                            % {"status": response.status_code},
                            code="download_expired",
                        )
                    if response.status_code != 200:
                        raise DownloadError(
                            _("Downloading the clip failed with HTTP %(status)s.")
                            % {"status": response.status_code},
                            code="download_failed",
                            retryable=response.status_code >= 500
                            or response.status_code == 429,
                        )
                    length = response.headers.get("content-length", "")
                    if length.isdigit() and int(length) > cap:
                        raise _too_big(cap)
                    yield from response.iter_bytes(CHUNK)
                    return
            except httpx.TransportError as exc:
                logger.warning("clip download interrupted: %s", type(exc).__name__)
                raise DownloadError(
                    _("The clip download was interrupted (%(error)s).")
                    % {"error": type(exc).__name__},
                    code="download_interrupted",
                    retryable=True,
                ) from None
    raise DownloadError(_("The result URL redirected too many times."), code="download_refused")
