"""One rooted exception hierarchy for everything django-kling raises on purpose.

Each class is also the standard type code elsewhere already catches (anymail's pattern): a
configuration error is an ``ImproperlyConfigured``, invalid input a ``ValueError``, a refused
callback a ``SuspiciousOperation``, a missing clip a ``LookupError``.

Every error carries a stable ``code`` (stored in ``VideoRequest.error_code`` and listed in the
manual's troubleshooting page) and a ``message`` that is safe to show to an editor: it never
contains a secret, and it is plain text (templates escape it).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured, SuspiciousOperation


class KlingError(Exception):
    """Root of every error the app raises on purpose."""

    code: str = "error"
    retryable: bool = False

    def __init__(self, message: str = "", *, code: str | None = None) -> None:
        self.message = str(message)
        if code is not None:
            self.code = code
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class ConfigurationError(KlingError, ImproperlyConfigured):
    """The ``DJANGO_KLING`` setting is wrong (also reported by a system check)."""

    code = "configuration"


class InvalidInput(KlingError, ValueError):
    """An input (image, prompt, duration, ...) breaks one of the model's rules.

    ``field`` names the form field or command option it belongs to, ``params`` holds the
    numbers the message was built from (so forms can re-render it).
    """

    code = "invalid_input"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        field: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.field = field
        self.params = params or {}


class BudgetExceeded(InvalidInput):
    """A new request would go over the configured daily or monthly budget."""

    code = "budget_exceeded"


class ProviderError(KlingError):
    """The provider refused or failed a call.

    ``status`` is the HTTP status (or the one the provider reported inside a stream),
    ``retryable`` says whether the same call may succeed later, ``retry_after`` is the delay in
    seconds the provider asked for, if any, and ``generation_id`` the provider's id of the
    failed generation (what its support asks for), if it sent one.

    ``fallback`` says the provider refused the call before accepting any work, for a reason
    another provider may not share (unreachable, overloaded, rate-limited, out of credit): the
    job may then be sent to the next provider of ``PROVIDERS_ORDER`` without paying twice. It is
    never set for a failure after the request went out (a timeout, a cut connection, an
    unreadable success), where the provider may have accepted and billed the job.
    """

    code = "provider_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
        provider: str = "",
        generation_id: str = "",
        fallback: bool = False,
    ) -> None:
        super().__init__(message, code=code)
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after
        self.provider = provider
        self.generation_id = generation_id
        self.fallback = fallback

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code!r}, status={self.status!r}, "
            f"retryable={self.retryable!r}, message={self.message!r})"
        )


class DownloadError(KlingError):
    """The finished clip could not be downloaded (expired URL, refused host, over the cap...)."""

    code = "download_failed"

    def __init__(self, message: str, *, code: str | None = None, retryable: bool = False) -> None:
        super().__init__(message, code=code)
        self.retryable = retryable


class MediaError(KlingError):
    """The downloaded file is not the promised clip (not an MP4, no audio, truncated...)."""

    code = "invalid_media"


class InvalidTransition(KlingError):
    """A state change the state machine does not allow (a programming or concurrency error)."""

    code = "invalid_transition"


class ReviewError(KlingError, ValueError):
    """A review step that does not apply to this clip (approving an unfinished job, featuring a
    rejected clip...). ``code`` says which rule: ``review_not_succeeded``,
    ``feature_not_approved``, ``feature_conflict``."""

    code = "review_invalid"


class CallbackRefused(KlingError, SuspiciousOperation):
    """A completion callback failed authentication (token, signature, timestamp).

    Its ``code`` is the reason, which the webhook view logs to ``django.security.CallbackRefused``
    (as Django logs its own ``SuspiciousOperation``) and never sends back to the caller.
    """

    code = "bad signature"

    def __init__(self, message: str = "", *, code: str | None = None) -> None:
        super().__init__(message or code or self.code, code=code)


class ClipNotFound(KlingError, LookupError):
    """A template tag with ``strict=True`` found no succeeded clip for the object."""

    code = "clip_not_found"


class SigningError(KlingError):
    """A clip or poster could not be signed with content credentials (no library, a
    certificate or key that cannot be read, a C2PA error); the file is kept unsigned."""

    code = "signing_failed"
