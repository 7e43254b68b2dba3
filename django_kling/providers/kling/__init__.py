"""Kling's own API for ``kling-v2-6`` image-to-video (``api-singapore`` or ``api-beijing``).

Create with ``POST /v1/videos/image2video`` (our idempotency key as ``external_task_id``),
then query ``GET /v1/videos/image2video/{task_id}``; auth by API key or by an HS256 JWT made
from an access key and a secret key. Everything about Kling lives here: its options and checks,
its error codes (``wire.ERROR_TYPES``), the reading of its task object and its callbacks.
"""

from .provider import HOSTS, KlingProvider
from .wire import ERROR_TYPES, create_body, jwt_token, parse_task

__all__ = ["ERROR_TYPES", "HOSTS", "KlingProvider", "create_body", "jwt_token", "parse_task"]
