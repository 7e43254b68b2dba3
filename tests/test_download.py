"""Bringing clips home: host checks (SSRF), byte cap, base64, expired URLs."""

import base64
import gzip
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from django_kling.exceptions import DownloadError
from django_kling.files import download
from django_kling.files.download import check_url, fetch_video, parse_allowed_host
from django_kling.providers import VideoOutput


@pytest.mark.parametrize("url", [
    "http://cdn.example.com/v.mp4",          # not https
    "ftp://cdn.example.com/v.mp4",
    "https://127.0.0.1/v.mp4",               # loopback
    "https://10.0.0.8/v.mp4",                # private range
    "https://[::1]/v.mp4",
    "https://169.254.169.254/latest/meta-data",
    "https://localhost/v.mp4",
    "https://metadata/v.mp4",                # a bare local name
    "https://nas.local/v.mp4",
    "https://db.internal/v.mp4",
    "file:///etc/passwd",
])
def test_refused_urls(url):
    with pytest.raises(DownloadError) as caught:
        check_url(url, allowed_hosts=[])
    assert caught.value.code == "download_refused"


# Every way of writing a private address the red team got through (issue 13, item 4).
SNEAKY = [
    "https://127.1/v.mp4",                   # shorthand IPv4
    "https://0x7f.1/v.mp4",                  # hexadecimal
    "https://127.0.1/v.mp4",
    "https://0.0/v.mp4",                     # 0.0.0.0
    "https://169.254.43518/latest",          # 169.254.169.254, the cloud metadata service
    "https://2130706433/v.mp4",              # 127.0.0.1 as one number
    "https://[::ffff:127.0.0.1]/v.mp4",      # IPv4-mapped IPv6
    "https://[::ffff:a9fe:a9fe]/latest",     # 169.254.169.254, mapped, in hex
    "https://[2002:7f00:1::]/v.mp4",         # 6to4 wrapping 127.0.0.1
    "https://localhost./v.mp4",              # trailing dots
    "https://nas.local./v.mp4",
    "https://clips.rebind.example/v.mp4",    # a DNS name that resolves to loopback
    "https://mixed.rebind.example/v.mp4",    # one public and one private address
]


@pytest.fixture
def dns(monkeypatch):
    """The resolver ``check_url`` calls, answering from a table (nothing leaves the machine)."""
    table = {
        "clips.rebind.example": ["127.0.0.1"],
        "mixed.rebind.example": ["93.184.215.14", "10.0.0.7"],
        "files.example.com": ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"],
        "clips.test": ["127.0.0.1"],
    }
    asked = []

    def resolve(host, port):
        asked.append(host)
        if host not in table:
            raise OSError("unknown host")
        return table[host]

    monkeypatch.setattr(download, "resolve_host", resolve)
    return asked


@pytest.mark.parametrize("url", SNEAKY)
def test_sneaky_private_addresses_are_refused(dns, url):
    with pytest.raises(DownloadError) as caught:
        check_url(url, allowed_hosts=[])
    assert caught.value.code == "download_refused"


def test_public_https_and_allowed_hosts_pass(dns):
    target = check_url("https://files.example.com./v.mp4", allowed_hosts=[])
    assert (target.host, target.port, target.address) == ("files.example.com", 443,
                                                          "93.184.215.14")
    assert check_url("http://127.0.0.1:9000/v.mp4",
                     allowed_hosts=["http://127.0.0.1:*"]).address == "127.0.0.1"
    with pytest.raises(DownloadError):
        check_url("gopher://127.0.0.1/v.mp4", allowed_hosts=["http://127.0.0.1:*"])


@pytest.mark.parametrize("url, entry, admitted", [
    ("https://127.0.0.1/v.mp4", "127.0.0.1", True),          # https on the default port
    ("https://127.0.0.1:8443/v.mp4", "127.0.0.1", False),    # another port needs naming
    ("https://127.0.0.1:8443/v.mp4", "127.0.0.1:8443", True),
    ("http://127.0.0.1:8443/v.mp4", "127.0.0.1:8443", False),  # plain http needs http://
    ("http://127.0.0.1:8443/v.mp4", "http://127.0.0.1:8443", True),
    ("http://127.0.0.1:9000/v.mp4", "http://127.0.0.1:8443", False),
    ("http://127.0.0.1:9000/v.mp4", "http://127.0.0.1:*", True),
    ("http://localhost.:9000/v.mp4", "http://localhost:*", True),  # trailing dot stripped
    ("https://127.1/v.mp4", "127.0.0.1", False),              # the entry names a host, not
])                                                           # whatever else means it
def test_allowed_hosts_name_port_and_plain_http(url, entry, admitted):
    if admitted:
        target = check_url(url, allowed_hosts=[entry])
        assert (target.host, target.port) == (httpx.URL(url).host.rstrip("."),
                                              httpx.URL(url).port or 443)
        assert target.address in ("127.0.0.1", "::1")
    else:
        with pytest.raises(DownloadError) as caught:
            check_url(url, allowed_hosts=[entry])
        assert caught.value.code == "download_refused"


@pytest.mark.parametrize("entry", ["", "http://", "cdn.example.com/path", "user@host",
                                   "host:port", 42])
def test_malformed_allowed_hosts_are_reported(entry):
    with pytest.raises(ValueError):
        parse_allowed_host(entry)


class Files(BaseHTTPRequestHandler):
    routes: dict = {}
    seen: list = []

    def do_GET(self):  # noqa: N802
        self.seen.append({k.lower(): v for k, v in self.headers.items()})
        status, headers, body = self.routes.get(self.path, (404, {}, b"gone"))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def files(settings):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Files)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.DJANGO_KLING = {**settings.DJANGO_KLING,
                             "ALLOWED_DOWNLOAD_HOSTS": ["http://127.0.0.1:*"]}
    base = f"http://127.0.0.1:{server.server_address[1]}"
    Files.routes = {
        "/ok.mp4": (200, {"content-type": "video/mp4"}, b"x" * 5000),
        "/redirect": (302, {"location": "/ok.mp4"}, b""),
        "/away": (302, {"location": "https://10.1.2.3/x.mp4"}, b""),
        "/forbidden": (403, {}, b"expired"),
        "/busy": (503, {}, b"later"),
        "/gzip": (200, {"content-type": "video/mp4", "content-encoding": "gzip"},
                  gzip.compress(b"x" * 5000)),
        **{f"/to/{index}": (302, {"location": url}, b"") for index, url in enumerate(SNEAKY)},
    }
    Files.seen = []
    yield base
    server.shutdown()


def test_streams_to_a_temp_file(files):
    result = fetch_video(VideoOutput(kind="url", url=files + "/ok.mp4"))
    try:
        assert result.size == 5000
        with open(result.path, "rb") as fh:
            assert fh.read() == b"x" * 5000
        assert len(result.sha256) == 64
    finally:
        result.discard()


def test_redirects_are_followed_and_checked(files):
    result = fetch_video(VideoOutput(kind="url", url=files + "/redirect"))
    assert result.size == 5000
    result.discard()
    with pytest.raises(DownloadError) as caught:
        fetch_video(VideoOutput(kind="url", url=files + "/away"))
    assert caught.value.code == "download_refused"


@pytest.mark.parametrize("path, code, retryable", [
    ("/missing", "download_expired", False),
    ("/forbidden", "download_expired", False),
    ("/busy", "download_failed", True),
])
def test_http_failures(files, path, code, retryable):
    with pytest.raises(DownloadError) as caught:
        fetch_video(VideoOutput(kind="url", url=files + path))
    assert (caught.value.code, caught.value.retryable) == (code, retryable)


def test_byte_cap_leaves_no_file(files, tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    with pytest.raises(DownloadError) as caught:
        fetch_video(VideoOutput(kind="url", url=files + "/ok.mp4"), max_bytes=4000)
    assert caught.value.code == "download_too_large"
    assert list(tmp_path.iterdir()) == []


def test_base64(tmp_path):
    data = base64.b64encode(b"\x00\x01video").decode()
    result = fetch_video(VideoOutput(kind="base64", data=data))
    with open(result.path, "rb") as fh:
        assert fh.read() == b"\x00\x01video"
    result.discard()
    with pytest.raises(DownloadError) as caught:
        fetch_video(VideoOutput(kind="base64", data="not base64!!"))
    assert caught.value.code == "download_corrupt"
    with pytest.raises(DownloadError) as caught:
        fetch_video(VideoOutput(kind="base64", data=data * 100), max_bytes=10)
    assert caught.value.code == "download_too_large"


@pytest.mark.parametrize("index", range(len(SNEAKY)), ids=SNEAKY)
def test_redirects_to_sneaky_addresses_are_refused(files, dns, index):
    with pytest.raises(DownloadError) as caught:
        fetch_video(VideoOutput(kind="url", url=f"{files}/to/{index}"))
    assert caught.value.code == "download_refused"


def test_connects_to_the_checked_address_without_a_second_lookup(files, dns, settings):
    # clips.test exists only in the patched resolver: the download can only reach the server
    # by connecting to the address check_url resolved, and it names the host it asked for.
    port = files.rsplit(":", 1)[1]
    settings.DJANGO_KLING = {**settings.DJANGO_KLING,
                             "ALLOWED_DOWNLOAD_HOSTS": ["http://clips.test:*"]}
    result = fetch_video(VideoOutput(kind="url", url=f"http://clips.test.:{port}/ok.mp4"))
    result.discard()
    assert result.size == 5000
    assert dns == ["clips.test"]
    assert Files.seen[-1]["host"] == f"clips.test:{port}"


def test_compressed_bodies_are_refused_and_identity_is_asked(files):
    with pytest.raises(DownloadError) as caught:
        fetch_video(VideoOutput(kind="url", url=files + "/gzip"))
    assert caught.value.code == "download_refused"
    assert "gzip" in caught.value.message
    assert Files.seen[-1]["accept-encoding"] == "identity"
