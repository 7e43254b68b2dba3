"""Bringing a finished clip home: a URL streamed to a temp file, or base64 decoded to one.

Result URLs come from a third party, so they are treated like user input (SSRF): https only;
the host name (trailing dots removed) is resolved once and every address it has must be a
global one (``ipaddress.is_global``: no loopback, private, link-local, shared or reserved range,
whatever way the address is written: ``127.1``, ``0x7f.1``, ``::ffff:127.0.0.1``); the
connection then goes to the very address that was checked, so a second DNS answer cannot point
it elsewhere. Every redirect hop is checked the same way. Hosts listed in
``ALLOWED_DOWNLOAD_HOSTS`` (``host``, ``host:port``, ``host:*``, prefixed ``http://`` where
plain http is allowed) skip the address check: the sandbox in tests. The body is read raw, with
no content coding, and a byte cap is enforced while streaming; a clip over the cap never lands
on disk in full.
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
import socket
import ssl
import tempfile
from dataclasses import dataclass
from urllib.parse import urljoin

import httpx
from django.utils.translation import gettext as _

from ..conf import kling_settings
from ..exceptions import DownloadError
from ..providers.base import VideoOutput
from ..providers.bodies import IDENTITY, UnacceptableBody, iter_capped

logger = logging.getLogger("django_kling.files.download")

CHUNK = 1024 * 1024
MAX_REDIRECTS = 5
LOCAL_SUFFIXES = (".local", ".localhost", ".internal", ".lan", ".home", ".arpa")
DEFAULT_PORTS = {"http": 80, "https": 443}
#: Base64 text decoded per step: a multiple of 4, so each piece decodes on its own.
BASE64_STEP = 4 * 1024 * 1024


@dataclass
class Downloaded:
    path: str
    size: int
    sha256: str

    def discard(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


@dataclass(frozen=True)
class AllowedHost:
    """One ``ALLOWED_DOWNLOAD_HOSTS`` entry: a host, its port (None: any) and plain http."""

    host: str
    port: int | None
    plain_http: bool
    any_port: bool = False

    def admits(self, scheme: str, host: str, port: int) -> bool:
        if host != self.host or (scheme == "http" and not self.plain_http):
            return False
        if self.any_port:
            return True
        return port == (self.port if self.port is not None else DEFAULT_PORTS[scheme])


def parse_allowed_host(entry: str) -> AllowedHost:
    """``"cdn.example.com"``, ``"cdn.example.com:8443"``, ``"http://127.0.0.1:*"``...

    Without a port only the scheme's default port is allowed; ``*`` allows any port (the
    sandbox listens on a random one). Only entries starting with ``http://`` allow plain http.
    Raises ``ValueError`` for anything else.
    """
    if not isinstance(entry, str):
        raise ValueError(f"{entry!r} is not a string")
    text = entry.strip().lower()
    plain_http = text.startswith("http://")
    if plain_http:
        text = text[len("http://"):]
    elif text.startswith("https://"):
        text = text[len("https://"):]
    any_port = text.endswith(":*")
    if any_port:
        text = text[:-2]
    if not text or any(c in text for c in "/?#@ "):
        raise ValueError(f"{entry!r} is not host, host:port or host:* (no path or user)")
    try:
        url = httpx.URL(f"http://{text}")
    except httpx.InvalidURL as exc:
        raise ValueError(f"{entry!r} is not a valid host: {exc}") from None
    host = _normal_host(url)
    if not host:
        raise ValueError(f"{entry!r} names no host")
    return AllowedHost(host=host, port=url.port, plain_http=plain_http, any_port=any_port)


def _rules(entries: list[str]) -> list[AllowedHost]:
    # A malformed entry admits nothing (system check django_kling.E011 names it).
    rules = []
    for entry in entries:
        with contextlib.suppress(ValueError):
            rules.append(parse_allowed_host(entry))
    return rules


def _normal_host(url: httpx.URL) -> str:
    # The ASCII (IDNA) form, lowercase, without the trailing dot of a fully qualified name:
    # "localhost." is localhost.
    return url.raw_host.decode("ascii").lower().rstrip(".")


@dataclass(frozen=True)
class Target:
    """A checked URL and the address to connect to for it."""

    url: httpx.URL
    host: str
    port: int
    address: str


def resolve_host(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (the one DNS lookup of a download)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _literal_address(host: str) -> str | None:
    """The address a host written as an IP literal means, in any of its forms, else None.

    ``inet_aton`` reads the shorthand forms browsers and resolvers accept (``127.1``,
    ``0x7f.1``, ``169.254.43518``), which ``ipaddress`` does not.
    """
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        pass
    if all(c in "0123456789abcdefx." for c in host):
        with contextlib.suppress(OSError):
            return socket.inet_ntoa(socket.inet_aton(host))
    return None


def is_public_address(address: str) -> bool:
    """True for a global unicast address, including what a mapped or 6to4 IPv6 one wraps."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None and not embedded.is_global:
            return False
    return ip.is_global and not ip.is_multicast


def check_url(url: str, allowed_hosts: list[str] | None = None) -> Target:
    """Refuse URLs a clip must not be fetched from (raises ``DownloadError``); otherwise say
    which checked address to connect to."""
    entries = allowed_hosts if allowed_hosts is not None \
        else kling_settings.ALLOWED_DOWNLOAD_HOSTS
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        raise DownloadError(_("The result URL is not a valid URL."),
                            code="download_refused") from None
    scheme = parsed.scheme
    if scheme not in DEFAULT_PORTS:
        raise DownloadError(_("The result URL uses an unsupported scheme."),
                            code="download_refused")
    host = _normal_host(parsed)
    if not host:
        raise DownloadError(_("The result URL has no host."), code="download_refused")
    port = parsed.port or DEFAULT_PORTS[scheme]
    allowed = any(rule.admits(scheme, host, port) for rule in _rules(entries))
    if scheme != "https" and not allowed:
        raise DownloadError(
            _("The result URL is not https (%(scheme)s); refused.") % {"scheme": scheme},
            code="download_refused",
        )
    literal = _literal_address(host)
    if not allowed and literal is None and (
            "." not in host or host == "localhost" or host.endswith(LOCAL_SUFFIXES)):
        raise _private(host)
    if literal is not None:
        addresses = [literal]
    else:
        try:
            addresses = resolve_host(host, port)
        except (OSError, UnicodeError):
            addresses = []
        if not addresses:
            raise DownloadError(
                _("The host of the result URL could not be resolved (%(host)s).")
                % {"host": host},
                code="download_failed",
                retryable=True,
            )
    if not allowed and not all(is_public_address(a) for a in addresses):
        raise _private(host)
    return Target(url=parsed, host=host, port=port, address=addresses[0])


def _private(host: str) -> DownloadError:
    return DownloadError(
        _("The result URL points at a private or local address (%(host)s); refused.")
        % {"host": host},
        code="download_refused",
    )


def fetch_video(video: VideoOutput, *, max_bytes: int | None = None,
                timeout: float = 60.0) -> Downloaded:
    """Write the clip to a new temp file (the caller discards it) and return where it is."""
    cap = int(max_bytes if max_bytes is not None else kling_settings.MAX_DOWNLOAD_BYTES)
    fd, path = tempfile.mkstemp(prefix="kling-", suffix=".mp4")
    digest = hashlib.sha256()
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in (_iter_base64(video, cap) if video.kind == "base64"
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


def _iter_base64(video: VideoOutput, cap: int):
    spooled, data = video.spooled, video.data
    if (spooled.size if spooled is not None else len(data)) * 3 // 4 > cap + 3:
        raise _too_big(cap)
    # Decoded piece by piece: a 200 MiB answer never needs a second 150 MiB copy at once.
    for piece in (_pieces(spooled.path) if spooled is not None else
                  (data[start:start + BASE64_STEP] for start in range(0, len(data),
                                                                     BASE64_STEP))):
        try:
            yield base64.b64decode(piece, validate=True)
        except (binascii.Error, ValueError):
            raise DownloadError(_("The clip sent inline is not valid base64."),
                                code="download_corrupt") from None


def _pieces(path: str):
    """A spooled base64 text (see ``providers.inline``), read back a megabyte at a time (a
    multiple of 4 characters, so each piece decodes on its own)."""
    with open(path, "rb") as text:
        while piece := text.read(CHUNK):
            yield piece


@functools.lru_cache(maxsize=1)
def _ssl_context() -> ssl.SSLContext:
    # Building a context (loading the CA bundle) costs ~20 ms: more than a small download.
    return httpx.create_ssl_context()


def _iter_url(url: str, cap: int, timeout: float):
    # No connection is kept: each hop connects to the address checked for it, and a pooled
    # connection (keyed by that address) must never carry a request for another host name.
    with httpx.Client(timeout=httpx.Timeout(timeout, connect=10.0), verify=_ssl_context(),
                      follow_redirects=False,
                      limits=httpx.Limits(max_keepalive_connections=0)) as client:
        for _hop in range(MAX_REDIRECTS + 1):
            target = check_url(url)
            try:
                with _open(client, target) as response:
                    if response.is_redirect and "location" in response.headers:
                        url = urljoin(url, response.headers["location"])
                        continue
                    _check_status(response)
                    try:
                        yield from iter_capped(response, cap, CHUNK)
                    except UnacceptableBody as exc:
                        if exc.encoding:
                            raise DownloadError(
                                _("The clip was sent compressed (%(encoding)s) although "
                                  "none was asked for; refused.")
                                % {"encoding": exc.encoding[:40]},
                                code="download_refused",
                            ) from None
                        raise _too_big(cap) from None
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


def _open(client: httpx.Client, target: Target):
    """Stream a GET to the checked address, naming the original host in ``Host`` and TLS.

    The URL's host is replaced by the address, so httpx makes no DNS lookup of its own; the
    ``Host`` header and ``sni_hostname`` (which httpcore also uses as the name the server's
    certificate must match) keep the original name, so https is verified as usual.
    """
    default = DEFAULT_PORTS[target.url.scheme]
    netloc = target.host if target.port == default else f"{target.host}:{target.port}"
    if ":" in target.host:  # an IPv6 literal
        netloc = f"[{target.host}]" if target.port == default \
            else f"[{target.host}]:{target.port}"
    request = client.build_request(
        "GET", target.url.copy_with(host=target.address),
        headers={**IDENTITY, "host": netloc},
        extensions={"sni_hostname": target.host} if target.url.scheme == "https" else None,
    )
    return contextlib.closing(client.send(request, stream=True))


def _check_status(response: httpx.Response) -> None:
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
            retryable=response.status_code >= 500 or response.status_code == 429,
        )
