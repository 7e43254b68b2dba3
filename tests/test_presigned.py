"""Frame URLs signed without botocore's per-URL work (``files.presigned``) are botocore's URLs,
byte for byte, or botocore signs them itself."""

from __future__ import annotations

import datetime
from types import SimpleNamespace

import pytest
from botocore import auth as botocore_auth
from storages.backends.s3 import S3Storage

from django_kling.files import presigned

T1 = datetime.datetime(2026, 12, 7, 5, 0, 0, tzinfo=datetime.timezone.utc)
NAMES = ["kling/2026/12/source_image/0f3a.jpg", "kling/Sommer Kollektion/Größe (1)+2.png",
         "kling/~tilde/a=b&c.jpg"]


@pytest.fixture
def clock(monkeypatch):
    """One clock for botocore and for the module: the same second gives the same URL."""
    now = {"at": T1}
    monkeypatch.setattr(botocore_auth, "get_current_datetime", lambda: now["at"])
    monkeypatch.setattr(botocore_auth, "time", SimpleNamespace(  # SigV2's clock
        time=lambda: now["at"].timestamp()))
    monkeypatch.setattr(presigned, "_now", lambda: now["at"])
    return now


@pytest.fixture
def botocore_calls(monkeypatch):
    """How often ``S3Storage.url`` (botocore's signer) was asked."""
    calls = []
    original = S3Storage.url

    def counted(self, *args, **kwargs):
        calls.append(args)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(S3Storage, "url", counted)
    return calls


def bucket(**options) -> S3Storage:
    return S3Storage(**{"bucket_name": "shop", "access_key": "AKIDEXAMPLE",
                        "secret_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                        "region_name": "eu-west-1", "querystring_auth": True,
                        "signature_version": "s3v4", **options})


@pytest.mark.parametrize("options", [
    {},  # AWS itself, virtual-hosted bucket
    {"endpoint_url": "https://minio.example.com:9000", "addressing_style": "path"},
    {"endpoint_url": "https://s3.eu-central-003.backblazeb2.com", "region_name": "eu-central-003"},
    {"security_token": "FwoGZXIvYXdzEJr//////////wEaDOr+token/with=signs=="},
    {"location": "media/shop"},
    {"signature_version": None},  # botocore's default for S3 presigning: SigV2
    {"signature_version": None, "endpoint_url": "http://127.0.0.1:9000"},  # SigV2, path style
    {"signature_version": "s3", "security_token": "FwoGZXIvYXdzEJr//////////wEa+t/k=="},
], ids=["aws", "path-style", "other-endpoint", "session-token", "location", "sigv2",
        "sigv2-path-style", "sigv2-session-token"])
def test_urls_signed_here_are_botocores_byte_for_byte(clock, botocore_calls, options):
    storage = bucket(**options)
    first = presigned.signed_url(storage, NAMES[0], 600)  # botocore's, and learned from
    assert isinstance(presigned._shapes[storage], presigned.UrlShape)
    assert "Signature=" in first and len(botocore_calls) == 1
    clock["at"] = T1 + datetime.timedelta(days=1, seconds=17)  # another day: another key
    ours = [presigned.signed_url(storage, name, 900) for name in NAMES]
    assert len(botocore_calls) == 1  # signed here
    assert ours == [storage.url(name, expire=900) for name in NAMES]  # botocore's, same second


def test_refreshed_credentials_are_used_as_botocore_uses_them(clock):
    storage = bucket()
    presigned.signed_url(storage, NAMES[0], 600)
    credentials = presigned._shapes[storage].credentials
    credentials.access_key, credentials.secret_key = "AKIDROTATED", "rotated-secret"
    ours = presigned.signed_url(storage, NAMES[1], 600)
    assert "AKIDROTATED" in ours
    assert ours == storage.url(NAMES[1], expire=600)


def test_other_urls_stay_the_storages_own(clock, botocore_calls):
    storage = bucket(custom_domain="cdn.example.com")  # the storage's own URL, no botocore
    for name in NAMES:
        assert presigned.signed_url(storage, name, 600) == storage.url(name, expire=600)
    assert presigned._shapes[storage] is None
    assert len(botocore_calls) == 2 * len(NAMES)  # every URL asked of the storage


def test_a_shape_that_signs_differently_is_not_used(clock, monkeypatch):
    # Were this module's signature ever to differ from botocore's (a new botocore, a setting
    # this module does not know), the storage keeps botocore's URLs.
    storage = bucket()
    original = presigned.UrlShape.url
    monkeypatch.setattr(presigned.UrlShape, "url",
                        lambda self, *args: original(self, *args)[:-1] + "x")
    urls = [presigned.signed_url(storage, name, 600) for name in NAMES]
    assert presigned._shapes[storage] is None
    assert urls == [storage.url(name, expire=600) for name in NAMES]
