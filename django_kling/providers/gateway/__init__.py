"""Vercel AI Gateway client for ``klingai/kling-v2.6-i2v``.

The wire format is the AI SDK's gateway provider (``@ai-sdk/gateway``, the ``video-model``
endpoints); the manual's providers page (``docs/providers.rst``) describes what is used. Two
protocols: ``async`` (v4 ``/video-model/start`` + ``/video-model/status`` with an
idempotency key, so a retried start is never billed twice) and ``stream`` (one long
server-sent-events call to ``/video-model``). Every answer is parsed defensively: whatever bytes
come back, the caller sees a ``JobStatus``/``Started`` or a ``ProviderError``, nothing else.

Everything about the gateway lives here: its options and their checks (``options.py``), the
request body (``body.py``), its error types and ``providerMetadata`` (cost, signing secret, job
and generation ids, read into the normalized fields of ``Started``/``JobStatus``) and the
signature of its completion callbacks (``wire.py``), and the client (``provider.py``).
"""

from .body import build_body
from .options import GATEWAY_V4_URL, KLING_MODEL_ID
from .provider import GatewayProvider
from .wire import (
    ERROR_TYPES,
    SIGNATURE_HEADER,
    callback_signature,
    generation_id,
    image_json,
    is_retryable_status,
    iter_sse_data,
    parse_retry_after,
    parse_status,
    parse_stream_event,
    parse_videos,
    reported_cost,
    signature_header,
    signing_secret,
)

__all__ = [
    "ERROR_TYPES",
    "GATEWAY_V4_URL",
    "KLING_MODEL_ID",
    "SIGNATURE_HEADER",
    "GatewayProvider",
    "build_body",
    "callback_signature",
    "generation_id",
    "image_json",
    "is_retryable_status",
    "iter_sse_data",
    "parse_retry_after",
    "parse_status",
    "parse_stream_event",
    "parse_videos",
    "reported_cost",
    "signature_header",
    "signing_secret",
]
