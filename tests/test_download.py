"""Bringing clips home: host checks (SSRF), byte cap, base64, expired URLs."""

import base64
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from django_kling.download import check_url, fetch_video
from django_kling.exceptions import DownloadError
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


def test_public_https_and_allowed_hosts_pass():
    check_url("https://files.example.com/v.mp4", allowed_hosts=[])
    check_url("http://127.0.0.1:9000/v.mp4", allowed_hosts=["127.0.0.1"])
    with pytest.raises(DownloadError):
        check_url("gopher://127.0.0.1/v.mp4", allowed_hosts=["127.0.0.1"])


class Files(BaseHTTPRequestHandler):
    routes: dict = {}

    def do_GET(self):  # noqa: N802
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
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "ALLOWED_DOWNLOAD_HOSTS": ["127.0.0.1"]}
    base = f"http://127.0.0.1:{server.server_address[1]}"
    Files.routes = {
        "/ok.mp4": (200, {"content-type": "video/mp4"}, b"x" * 5000),
        "/redirect": (302, {"location": "/ok.mp4"}, b""),
        "/away": (302, {"location": "https://10.1.2.3/x.mp4"}, b""),
        "/forbidden": (403, {}, b"expired"),
        "/busy": (503, {}, b"later"),
    }
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
