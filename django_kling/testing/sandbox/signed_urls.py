"""Whether a signed URL has expired, read from its query as S3 reads it.

The sandbox fetches URL frames for real (from moto's S3 server in the tests), but moto's server
does not check a presigned URL's expiry, while S3 refuses an expired one (HTTP 403, "Request
has expired") and the provider then cannot fetch the frame. The sandbox checks the expiry
itself, before fetching, so that code sending a URL that is no longer valid fails here as it
would against a real bucket.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit


def expired(url: str, now: float | None = None) -> bool:
    """True for an S3-style signed URL past its expiry: SigV4 (``X-Amz-Date`` +
    ``X-Amz-Expires``) or SigV2 (``Expires``, a Unix time). Other URLs never expire here."""
    query = {key.lower(): values[0] for key, values in parse_qs(urlsplit(url).query).items()}
    now = time.time() if now is None else now
    try:
        if "x-amz-date" in query and "x-amz-expires" in query:
            signed = datetime.strptime(query["x-amz-date"], "%Y%m%dT%H%M%SZ").replace(
                tzinfo=timezone.utc)
            return now > signed.timestamp() + int(query["x-amz-expires"])
        if "expires" in query and "signature" in query:
            return now > int(query["expires"])
    except ValueError:
        return True  # a signature S3 cannot read is refused too
    return False
