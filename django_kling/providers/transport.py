"""JSON over HTTP for the direct providers (Kling, fal, Replicate): one client, one error rule.

Every failure leaves here as a ``ProviderError`` with a stable code, and with ``fallback`` set
only when nothing can have been accepted: no connection was made. An error *answer* is read by
the provider's own ``error_from`` (its error shapes differ); a timeout or a cut connection after
the request went out is never a reason to try another provider, since this one may be working
(and billing) on it. Answers are read unencoded and capped, as ``bodies`` does for the gateway.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from django.utils.translation import gettext as _

from ..exceptions import ProviderError
from . import direct, json_body
from .bodies import IDENTITY, UnacceptableBody, read_capped

MAX_MESSAGE = 1000
#: Largest answer read: these services answer with small JSON (clips come as URLs).
ANSWER_CAP = 4 * 1024 * 1024
#: Largest error body read; a longer one is treated as unreadable.
ERROR_CAP = 64 * 1024
#: A multipart form's files: field name -> (file name, bytes, content type).
Files = dict[str, tuple[str, bytes, str]]


class JsonTransport:
    """An ``httpx.Client`` that sends and expects JSON, and speaks ``ProviderError``."""

    def __init__(self, provider: str, label: str, *, timeout: float,
                 transport: httpx.BaseTransport | None = None,
                 secrets: Iterable[str] = ()) -> None:
        self.provider = provider
        self.label = label  # "Kling", "fal": how messages name the service
        self.secrets = [s for s in secrets if s and len(s) >= 4]
        self.logger = logging.getLogger(f"django_kling.providers.{provider}")
        self.client = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            transport=transport,
            follow_redirects=False,
        )

    def call(self, method: str, url: str, *, headers: dict[str, str], body: Any = None,
             error_from: Callable[[httpx.Response], ProviderError],
             files: Files | None = None) -> Any:
        """The parsed JSON answer of one call, or a ``ProviderError``; ``files`` sends a
        multipart form instead of a JSON body (Replicate's files API)."""
        content = None if body is None else json_body.dumps(body)
        with connection_errors(self.transport_error):
            try:
                headers = {**IDENTITY, **headers}
                # A multipart form goes through the client, which encodes it.
                sent = (self.client.stream(method, url, headers=headers, files=files) if files
                        else direct.stream(self.client, method, url, headers=headers,
                                           content=content))
                with sent as response:
                    if response.status_code >= 300:
                        try:
                            raw = read_capped(response, ERROR_CAP)
                        except UnacceptableBody:
                            raw = b""
                        # The provider reads its own error shape from a response that holds the
                        # capped body (never an unbounded or encoded one).
                        kept = {name: value for name, value in response.headers.items()
                                if name.lower() in ("retry-after", "retry-after-ms")}
                        raise error_from(httpx.Response(response.status_code, headers=kept,
                                                        content=raw))
                    raw = read_capped(response, ANSWER_CAP)
            except UnacceptableBody as exc:
                error = self.bad_response(f"the answer is {exc}")
                error.retryable = False
                raise error from None
        return parse_json(raw, self.bad_response)

    def call_returned_url(self, method: str, url: str, *, authorization: str, origin: str,
                          body: Any = None,
                          error_from: Callable[[httpx.Response], ProviderError],
                          files: Files | None = None) -> Any:
        """``call`` on a URL the service returned earlier (fal's and Replicate's job URLs).

        The key goes only to ``origin``, the configured base URL the job was submitted to
        (scheme, host and port alike, as the AI SDK's fal provider does): an answer naming
        another host, another port or plain ``http://`` must not be able to collect it.
        """
        if not url.startswith(("https://", "http://")):
            raise self.bad_response("the job has no status URL")
        if origin_of(url) is None or origin_of(url) != origin_of(origin):
            self.logger.warning("%s named a job URL off its own origin; the key was not sent",
                                self.provider)
            raise ProviderError(
                _("%(service)s named a job URL on another server than the one the job was "
                  "sent to; the key was not sent there and the job was not followed.")
                % {"service": self.label},
                code="provider_foreign_url", status=502, retryable=False,
                provider=self.provider)
        # A multipart body brings its own content type (with the boundary).
        kind = {} if files else {"content-type": "application/json"}
        return self.call(method, url, body=body, error_from=error_from, files=files,
                         headers={"authorization": authorization, **kind})

    def transport_error(self, code: str, what: str, exc: Exception) -> ProviderError:
        self.logger.warning("%s %s: %s", self.provider, what, type(exc).__name__)
        return ProviderError(f"{self.label} {what} ({type(exc).__name__}).", code=code,
                             retryable=True, provider=self.provider)

    def bad_response(self, why: str) -> ProviderError:
        return ProviderError(f"{self.label} sent an unexpected answer: {why}.",
                             code="provider_bad_response", status=502, retryable=True,
                             provider=self.provider)

    def safe(self, text: str) -> str:
        """Provider text made safe to store and show: no secret, bounded length."""
        for secret in self.secrets:
            text = text.replace(secret, "[redacted]")
        return text[:MAX_MESSAGE]

    def close(self) -> None:
        self.client.close()


def origin_of(url: str) -> tuple[str, str, int] | None:
    """``(scheme, host, port)`` of an http(s) URL, the default port made explicit; None for
    anything else (another scheme, no host, credentials in the URL, unparseable)."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        return None
    if parsed.scheme not in ("http", "https") or not parsed.host or parsed.userinfo:
        return None
    return parsed.scheme, parsed.host.lower(), parsed.port or (
        443 if parsed.scheme == "https" else 80)


def retryable_status(status: int) -> bool:
    return status in (408, 409, 429) or status >= 500


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


@contextmanager
def connection_errors(
        transport_error: Callable[[str, str, Exception], ProviderError]) -> Iterator[None]:
    """httpx's failures as ``ProviderError``s. Only a connection never made may fall back:
    a timeout or a cut connection after the request went out may have started (and billed) a job."""
    try:
        yield
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        error = transport_error("provider_unreachable", "could not be reached", exc)
        error.fallback = True
        raise error from None
    except httpx.TimeoutException as exc:
        raise transport_error("provider_timeout", "timed out", exc) from None
    except httpx.TransportError as exc:
        raise transport_error("provider_unreachable", "could not be reached", exc) from None


def parse_json(raw: bytes, bad_response: Callable[[str], ProviderError]) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise bad_response("the answer is not valid JSON") from None
