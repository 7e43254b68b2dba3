"""Signed frame URLs for S3 storages without botocore's per-URL machinery, checked against it.

botocore's ``generate_presigned_url`` resolves the endpoint's rule set, serializes an operation
and emits events for every URL it signs: about 0.4 ms of CPU, the largest single part of a
submit with URL frames (``bench.submit_cost``). The signature itself (SigV4 query
authentication) is five HMACs. So the first URL a storage signs in a process is botocore's, and
from it the URL's shape is learned (origin, the path before the key, region, credential); the
same URL is then signed here from that shape, and only if the two are byte for byte the same
are the storage's later URLs signed here. Anything else keeps going through the storage: SigV2,
a custom domain or CloudFront signer, a URL with parameters of its own, a key the shape cannot
place, storages that are not django-storages' S3 (GCS, Azure), or an error while learning.

Credentials are read at every URL from botocore's own credentials object, so refreshed ones
(an instance role, a web identity) are used as botocore would use them.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import logging
import threading
import weakref
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from django.core.files.storage import Storage

logger = logging.getLogger("django_kling.files.presigned")

ALGORITHM = "AWS4-HMAC-SHA256"
#: The query of a URL this module can sign, in botocore's order (``SigV4QueryAuth``).
QUERY = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
         "X-Amz-SignedHeaders")
TOKEN = "X-Amz-Security-Token"  # noqa: S105  (a parameter's name)
SIGNATURE = "X-Amz-Signature"
#: SigV2's query (``HmacV1QueryAuth``), without and with a session token.
TOKEN_V2 = "x-amz-security-token"  # noqa: S105  (a parameter's name)
QUERY_V2 = (["AWSAccessKeyId", "Signature", "Expires"],
            ["AWSAccessKeyId", "Signature", TOKEN_V2, "Expires"])
TIMESTAMP = "%Y%m%dT%H%M%SZ"
#: What ``quote`` leaves as is: botocore's sets for S3 keys and for query values.
KEY_SAFE, VALUE_SAFE = "/~", "-_.~"

_shapes: weakref.WeakKeyDictionary[Storage, UrlShape | None] = weakref.WeakKeyDictionary()
_learning = threading.Lock()


@dataclass(frozen=True)
class UrlShape:
    """What every signed URL of one storage shares; ``url`` fills in a key and a time."""

    origin: str  # "https://bucket.s3.eu-west-1.amazonaws.com"
    host: str  # as signed: the URL's netloc
    prefix: str  # the path before the quoted key ("" or "/bucket")
    region: str  # "" for SigV2
    service: str
    credentials: Any  # botocore's Credentials (may refresh itself)
    bucket: str = ""  # SigV2 signs "/bucket/key" whatever the URL's host

    def url(self, key: str, expire: int, when: datetime.datetime) -> str:
        return (self._v4 if self.region else self._v2)(key, expire, when)

    def _v2(self, key: str, expire: int, when: datetime.datetime) -> str:
        frozen = self.credentials.get_frozen_credentials()
        path = self.prefix + quote(key, safe=KEY_SAFE)
        expires = str(int(when.timestamp() + expire))
        token = f"{TOKEN_V2}:{frozen.token}\n" if frozen.token else ""
        resource = path if self.prefix.startswith(f"/{self.bucket}/") else f"/{self.bucket}{path}"
        to_sign = f"GET\n\n\n{expires}\n{token}{resource}"
        signature = base64.b64encode(hmac.new(frozen.secret_key.encode(), to_sign.encode(),
                                              hashlib.sha1).digest()).decode()
        params = {"AWSAccessKeyId": frozen.access_key, "Signature": signature,
                  **({TOKEN_V2: frozen.token} if frozen.token else {}), "Expires": expires}
        return f"{self.origin}{path}?{_query(params)}"

    def _v4(self, key: str, expire: int, when: datetime.datetime) -> str:
        frozen = self.credentials.get_frozen_credentials()
        stamp = when.strftime(TIMESTAMP)
        scope = f"{stamp[:8]}/{self.region}/{self.service}/aws4_request"
        params = {"X-Amz-Algorithm": ALGORITHM, "X-Amz-Credential": f"{frozen.access_key}/{scope}",
                  "X-Amz-Date": stamp, "X-Amz-Expires": str(expire),
                  "X-Amz-SignedHeaders": "host"}
        if frozen.token is not None:
            params[TOKEN] = frozen.token
        query, canonical_query = _query(params), _query(dict(sorted(params.items())))
        path = self.prefix + quote(key, safe=KEY_SAFE)
        canonical = "\n".join(("GET", path, canonical_query, f"host:{self.host}", "", "host",
                               "UNSIGNED-PAYLOAD"))
        to_sign = "\n".join((ALGORITHM, stamp, scope,
                             hashlib.sha256(canonical.encode()).hexdigest()))
        signing_key = f"AWS4{frozen.secret_key}".encode()
        for part in (stamp[:8], self.region, self.service, "aws4_request"):
            signing_key = hmac.new(signing_key, part.encode(), hashlib.sha256).digest()
        signature = hmac.new(signing_key, to_sign.encode(), hashlib.sha256).hexdigest()
        return f"{self.origin}{path}?{query}&{SIGNATURE}={signature}"


def _query(params: dict[str, str]) -> str:
    return "&".join(f"{name}={quote(value, safe=VALUE_SAFE)}" for name, value in params.items())


def signed_url(storage: Storage, name: str, expire: int) -> str:
    """``storage.url(name, expire=expire)``, signed here once the storage's shape is known."""
    shape = _shapes.get(storage, False)
    if shape is False:
        url = storage.url(name, expire=expire)
        with _learning:
            if storage not in _shapes:
                _shapes[storage] = _learn(storage, name, url)
        return url
    if shape is None:
        return storage.url(name, expire=expire)
    return shape.url(_key(storage, name), expire, _now())


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _key(storage: Any, name: str) -> str:
    from storages.utils import clean_name

    return storage._normalize_name(clean_name(name))  # what ``S3Storage.url`` signs


def _learn(storage: Any, name: str, url: str) -> UrlShape | None:
    """The shape of ``url`` (botocore's signature of ``name``) if signing it here gives the
    very same URL, else None: the storage keeps signing its own."""
    try:
        shape, when, expire = _shape_of(storage, name, url)
    except (LookupError, ValueError, AttributeError, TypeError, ImportError) as exc:
        logger.debug("signed URLs of %s stay botocore's: %s", type(storage).__name__, exc)
        return None
    if shape.url(_key(storage, name), expire, when) != url:
        logger.debug("signed URLs of %s stay botocore's: another signature",
                     type(storage).__name__)
        return None
    return shape


def _shape_of(storage: Any, name: str,
              url: str) -> tuple[UrlShape, datetime.datetime, int]:
    from storages.backends.s3 import S3Storage

    if not isinstance(storage, S3Storage) or storage.custom_domain:
        raise TypeError("not an S3 storage's own URL")
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=True)
    names = [key for key, _value in query]
    values = dict(query)
    quoted = quote(_key(storage, name), safe=KEY_SAFE)
    if not parts.path.endswith(quoted) or parts.fragment:
        raise ValueError("the key is not the end of the path")
    # botocore's own credentials object: the one its signer uses (and refreshes).
    credentials = storage.connection.meta.client._request_signer._credentials
    if credentials is None:
        raise ValueError("unsigned")
    common = dict(origin=f"{parts.scheme}://{parts.netloc}", host=parts.netloc,
                  prefix=parts.path[: len(parts.path) - len(quoted)], credentials=credentials)
    if names in QUERY_V2:
        # The URL was signed to expire ``Expires``; any second and expiry adding up to it do.
        expires = int(values["Expires"])
        return (UrlShape(region="", service="s3", bucket=storage.bucket_name, **common),
                datetime.datetime.fromtimestamp(expires, datetime.timezone.utc), 0)
    if names not in ([*QUERY, SIGNATURE], [*QUERY, TOKEN, SIGNATURE]):
        raise ValueError(f"a query of {names}")
    if values["X-Amz-Algorithm"] != ALGORITHM or values["X-Amz-SignedHeaders"] != "host":
        raise ValueError("another algorithm or signed headers")
    _access, _day, region, service, _end = values["X-Amz-Credential"].split("/")
    when = datetime.datetime.strptime(values["X-Amz-Date"], TIMESTAMP).replace(
        tzinfo=datetime.timezone.utc)
    return (UrlShape(region=region, service=service, **common), when,
            int(values["X-Amz-Expires"]))
