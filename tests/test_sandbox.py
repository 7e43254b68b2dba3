"""The sandbox gateway, spoken to over HTTP the way a client would (no Django needed)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import av
import httpx
import pytest
from PIL import Image, ImageStat

from django_kling.testing.sandbox import Sandbox

API_KEY = "sandbox-test-key"
SCALE = 0.1  # 1920x1080 -> 192x108: every size class stays exact, renders take a blink
RED = (220, 30, 30)
BLUE = (30, 30, 220)


# -- fixtures and helpers -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[Sandbox]:
    with Sandbox(API_KEY, render_scale=SCALE) as sandbox:
        yield sandbox


@pytest.fixture(autouse=True)
def fresh(server: Sandbox) -> Iterator[None]:
    server.reset()
    server.delay = 0.0
    server.result = "url"
    server.pad_to_bytes = None
    yield
    server.clear_faults()


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as http:
        yield http


class Receiver:
    """A loopback web server standing in for the host project: serves images, takes webhooks."""

    def __init__(self) -> None:
        self.images: dict[str, bytes] = {}
        self.posts: list[tuple[dict[str, str], bytes]] = []
        self.paths: list[tuple[str, bytes]] = []
        self.received = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                data = receiver.images.get(self.path)
                self.send_response(200 if data else 404)
                self.send_header("content-length", str(len(data or b"")))
                self.end_headers()
                self.wfile.write(data or b"")

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.posts.append(({k.lower(): v for k, v in self.headers.items()}, body))
                receiver.paths.append((self.path, body))
                receiver.received.set()
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    web = Receiver()
    yield web
    web.close()


def png(width: int = 640, height: int = 360, color=RED, fmt: str = "PNG") -> bytes:
    image = Image.new("RGB", (width, height), color)
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


def file_image(data: bytes | None = None, media_type: str = "image/png") -> dict[str, Any]:
    return {"type": "file", "mediaType": media_type,
            "data": base64.b64encode(data if data is not None else png()).decode()}


def make_body(**changes: Any) -> dict[str, Any]:
    """What the reference client sends for a first frame, 5 s, sound on, mode pro."""
    image = file_image()
    body: dict[str, Any] = {
        "prompt": "The bottle turns slowly.", "n": 1, "duration": 5, "generateAudio": True,
        "seed": 0, "image": image, "frameImages": [{"frameType": "first_frame", "image": image}],
        "providerOptions": {"klingai": {"mode": "pro"}},
    }
    for key, value in changes.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    return body


def headers(version: str = "4", **changes: str | None) -> dict[str, str]:
    values: dict[str, str | None] = {
        "authorization": f"Bearer {API_KEY}",
        "ai-gateway-protocol-version": "0.0.1",
        "ai-gateway-auth-method": "api-key",
        "ai-model-id": "klingai/kling-v2.6-i2v",
        "ai-video-model-specification-version": version,
        "content-type": "application/json",
    }
    values.update({key.replace("_", "-"): value for key, value in changes.items()})
    return {key: value for key, value in values.items() if value is not None}


def post_start(client: httpx.Client, server: Sandbox, body: dict[str, Any] | None = None,
               key: str = "key-1") -> httpx.Response:
    return client.post(server.v4_url + "/video-model/start", json=body or make_body(),
                       headers=headers(idempotency_key=key))


def post_status(client: httpx.Client, server: Sandbox, operation: Any) -> httpx.Response:
    return client.post(server.v4_url + "/video-model/status", json={"operation": operation},
                       headers=headers())


def wait_done(client: httpx.Client, server: Sandbox, operation: Any,
              timeout: float = 20.0) -> dict[str, Any]:
    limit = time.monotonic() + timeout
    while time.monotonic() < limit:
        answer = post_status(client, server, operation)
        assert answer.status_code == 200, answer.text
        if answer.json()["status"] != "pending":
            return answer.json()
        time.sleep(0.05)
    pytest.fail("the sandbox job stayed pending")


def generate(client: httpx.Client, server: Sandbox, body: dict[str, Any] | None = None,
             key: str = "key-1") -> dict[str, Any]:
    started = post_start(client, server, body, key)
    assert started.status_code == 202, started.text
    return wait_done(client, server, started.json()["operation"])


def stream(client: httpx.Client, url: str, body: dict[str, Any] | None = None,
           version: str = "4") -> tuple[list[str], httpx.Response]:
    lines: list[str] = []
    with client.stream("POST", url + "/video-model", json=body or make_body(),
                       headers=headers(version, accept="text/event-stream")) as response:
        if response.status_code == 200:
            lines.extend(response.iter_lines())
        else:
            response.read()
    return lines, response


def data_events(lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line[len("data: "):]) for line in lines if line.startswith("data:")]


def probe(data: bytes) -> dict[str, Any]:
    with av.open(io.BytesIO(data)) as container:
        video = container.streams.video[0]
        audio = container.streams.audio
        return {
            "codec": video.codec_context.name, "fps": video.average_rate,
            "size": (video.width, video.height), "duration": container.duration / 1e6,
            "frames": video.frames, "audio": audio[0].codec_context.name if audio else None,
        }


def assert_error(response: httpx.Response, status: int, error_type: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    payload = response.json()
    assert set(payload["error"]) == {"message", "type", "param", "code"}
    assert payload["error"]["type"] == error_type
    assert payload["generationId"].startswith("gen_")
    return payload["error"]


# -- headers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("change", "status", "error_type"), [
    ({"authorization": None}, 401, "authentication_error"),
    ({"authorization": "Bearer wrong-key"}, 401, "authentication_error"),
    ({"authorization": f"Basic {API_KEY}"}, 401, "authentication_error"),
    ({"ai_gateway_auth_method": "oidc"}, 401, "authentication_error"),  # no OIDC token set
    ({"ai_gateway_auth_method": None}, 401, "authentication_error"),
    ({"ai_gateway_protocol_version": None}, 400, "invalid_request_error"),
    ({"ai_gateway_protocol_version": "0.0.2"}, 400, "invalid_request_error"),
    ({"ai_model_id": "klingai/kling-v2.6-t2v"}, 404, "model_not_found"),
    ({"ai_model_id": None}, 404, "model_not_found"),
    ({"ai_video_model_specification_version": "3"}, 400, "invalid_request_error"),
    ({"content_type": "text/plain"}, 400, "invalid_request_error"),
    ({"idempotency_key": None}, 400, "invalid_request_error"),
])
def test_start_checks_every_header(client, server, change, status, error_type):
    sent = headers(**{"idempotency_key": "key-1", **change})
    response = client.post(server.v4_url + "/video-model/start",
                           content=json.dumps(make_body()), headers=sent)
    assert_error(response, status, error_type)
    assert server.bill_count == 0


def test_api_key_never_recorded_and_image_data_left_out(client, server):
    assert post_start(client, server).status_code == 202
    (call,) = server.calls
    assert call.method == "POST" and call.path == "/v4/ai/video-model/start"
    assert call.headers["authorization"] == "[REDACTED]"
    assert API_KEY not in json.dumps(call.headers) + json.dumps(call.json)
    assert call.json["image"]["data"].endswith("base64 chars>")
    assert call.json["prompt"] == "The bottle turns slowly."


def test_status_checks_headers(client, server):
    response = client.post(server.v4_url + "/video-model/status",
                           json={"operation": {"gatewayJobId": "job_x"}},
                           headers=headers(authorization="Bearer nope"))
    assert_error(response, 401, "authentication_error")


@pytest.mark.parametrize(("version_url", "change", "status", "error_type"), [
    ("v3", {"accept": None}, 400, "invalid_request_error"),
    ("v3", {"ai_video_model_specification_version": "4"}, 400, "invalid_request_error"),
    ("v4", {"ai_video_model_specification_version": "3"}, 400, "invalid_request_error"),
    ("v3", {"authorization": None}, 401, "authentication_error"),
    ("v3", {"ai_model_id": "openai/sora"}, 404, "model_not_found"),
])
def test_stream_checks_headers(client, server, version_url, change, status, error_type):
    url = server.v3_url if version_url == "v3" else server.v4_url
    version = "3" if version_url == "v3" else "4"
    sent = headers(version, **{"accept": "text/event-stream", **change})
    response = client.post(url + "/video-model", json=make_body(), headers=sent)
    assert_error(response, status, error_type)


def test_v3_has_no_job_routes(client, server):
    response = client.post(server.v3_url + "/video-model/start", json=make_body(),
                           headers=headers("3", idempotency_key="k"))
    assert response.status_code == 404


# -- body ---------------------------------------------------------------------------------------


def _without_image(body: dict[str, Any]) -> dict[str, Any]:
    body.pop("image")
    body.pop("frameImages")
    return body


@pytest.mark.parametrize(("body", "param"), [
    (b"{not json", None),
    (b"[1, 2]", None),
    (_without_image(make_body()), "image"),
    (make_body(duration=7), "duration"),
    (make_body(duration="5"), "duration"),
    (make_body(generateAudio="yes"), "generateAudio"),
    (make_body(n=0), "n"),
    (make_body(prompt="x" * 2501), "prompt"),
    (make_body(prompt=12), "prompt"),
    (make_body(providerOptions={"klingai": {"mode": "turbo"}}), "providerOptions.klingai.mode"),
    (make_body(providerOptions={"klingai": {"negativePrompt": "n" * 2501}}),
     "providerOptions.klingai.negativePrompt"),
    (make_body(providerOptions={"klingai": {"mode": "std"}}), "generateAudio"),
    (make_body(providerOptions={"klingai": {"cfgScale": 3}}), "providerOptions.klingai.cfgScale"),
    (make_body(aspectRatio="wide"), "aspectRatio"),
    (make_body(resolution="big"), "resolution"),
    (make_body(seed="7"), "seed"),
    (make_body(frameImages=[{"frameType": "middle", "image": file_image()}]),
     "frameImages[0].frameType"),
    (make_body(frameImages=None, image={"type": "file", "mediaType": "image/png",
                                        "data": "data:image/png;base64,AAAA"}), "image.data"),
    (make_body(frameImages=None, image={"type": "file", "mediaType": "image/png",
                                        "data": "not base64!"}), "image.data"),
    (make_body(frameImages=None, image=file_image(png(fmt="WEBP"), "image/webp")),
     "image.mediaType"),
    (make_body(frameImages=None, image=file_image(png(fmt="GIF"))), "image"),
    (make_body(frameImages=None, image=file_image(b"hello")), "image"),
    (make_body(frameImages=None, image=file_image(png(200, 200))), "image"),
    (make_body(frameImages=None, image=file_image(png(1000, 300))), "image"),
    (make_body(frameImages=None, image={"type": "path", "path": "/etc/passwd"}), "image.type"),
    (make_body(frameImages=None, image={"type": "url", "url": "ftp://example.com/a.png"}),
     "image.url"),
    (make_body(callbackUrl="javascript:alert(1)"), "callbackUrl"),
])
def test_body_is_validated(client, server, body, param):
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = client.post(server.v4_url + "/video-model/start", content=content,
                           headers=headers(idempotency_key="key-1"))
    error = assert_error(response, 400, "invalid_request_error")
    assert error["param"] == param
    assert server.bill_count == 0 and server.billed == {}


def test_callback_url_only_on_start(client, server):
    lines, response = stream(client, server.v4_url,
                             make_body(callbackUrl="http://127.0.0.1:9/hook"))
    assert_error(response, 400, "invalid_request_error")


def test_unreachable_image_url_is_a_clear_400(client, server, receiver):
    body = make_body(frameImages=None, image={"type": "url", "url": receiver.url + "/gone.png"})
    error = assert_error(post_start(client, server, body), 400, "invalid_request_error")
    assert "fetch" in error["message"]


# -- async jobs ---------------------------------------------------------------------------------


def test_start_pending_then_completed_with_a_real_mp4(client, server):
    server.delay = 0.6
    started = post_start(client, server)
    assert started.status_code == 202
    answer = started.json()
    operation = answer["operation"]
    assert operation["gatewayJobId"].startswith("job_")
    assert {"type": "unsupported", "feature": "seed"}.items() <= answer["warnings"][0].items()
    gateway = answer["providerMetadata"]["gateway"]
    assert gateway["generationId"].startswith("gen_")
    # The AI SDK's fixture: the job's own ids in asyncJob; no secret without a callbackUrl.
    assert gateway["asyncJob"] == {"jobId": operation["gatewayJobId"], "status": "queued"}
    assert gateway["routing"]["provider"] == "klingai"

    pending = post_status(client, server, operation).json()
    assert pending["status"] == "pending"
    assert pending["providerMetadata"]["gateway"]["asyncJob"]["status"] == "running"
    done = wait_done(client, server, operation)
    assert done["status"] == "completed"
    gateway = done["providerMetadata"]["gateway"]
    assert gateway["cost"] == "0.70" and gateway["marketCost"] == "0.70"
    assert gateway["asyncJob"]["status"] == "completed"
    (video,) = done["videos"]
    assert video["type"] == "url" and video["mediaType"] == "video/mp4"
    assert video["url"].startswith(server.url + "/files/")

    download = client.get(video["url"])
    assert download.status_code == 200
    assert download.headers["content-type"] == "video/mp4"
    assert int(download.headers["content-length"]) == len(download.content)
    info = probe(download.content)
    assert info["codec"] == "h264" and info["fps"] == 30 and info["frames"] == 150
    assert info["duration"] == pytest.approx(5.0, abs=0.1)
    assert info["size"] == (192, 108)
    assert info["audio"] == "aac"

    head = client.head(video["url"])
    assert head.headers["content-length"] == download.headers["content-length"]


def test_std_square_ten_seconds_silent(client, server):
    body = make_body(duration=10, generateAudio=False, aspectRatio="1:1",
                     providerOptions={"klingai": {"mode": "std", "negativePrompt": "blur"}})
    done = generate(client, server, body)
    features = {warning["feature"] for warning in done["warnings"]}
    assert features == {"aspectRatio", "seed"}
    assert done["providerMetadata"]["gateway"]["cost"] == "0.70"  # 10 s silent
    info = probe(client.get(done["videos"][0]["url"]).content)
    assert info["size"] == (72, 72)
    assert info["duration"] == pytest.approx(10.0, abs=0.1) and info["frames"] == 300
    assert info["audio"] is None


def test_portrait_image_gives_portrait_clip_and_defaults_apply(client, server):
    # Only `image`, no duration, no mode, no sound: 5 s, pro, silent.
    body = {"image": file_image(png(360, 640))}
    done = generate(client, server, body)
    assert done["warnings"] == []
    info = probe(client.get(done["videos"][0]["url"]).content)
    assert info["size"] == (108, 192)
    assert info["duration"] == pytest.approx(5.0, abs=0.1)
    assert info["audio"] is None


def test_last_frame_is_reached(client, server):
    first, last = file_image(png(color=RED)), file_image(png(color=BLUE))
    body = make_body(image=first, generateAudio=False, frameImages=[
        {"frameType": "first_frame", "image": first}, {"frameType": "last_frame", "image": last}])
    done = generate(client, server, body)
    with av.open(io.BytesIO(client.get(done["videos"][0]["url"]).content)) as container:
        frames = [frame.to_image() for frame in container.decode(video=0)]
    assert ImageStat.Stat(frames[0]).mean[0] > 150
    assert ImageStat.Stat(frames[-1]).mean[2] > 150


def test_url_images_are_fetched(client, server, receiver):
    receiver.images["/first.png"] = png(500, 500)
    body = make_body(frameImages=None, generateAudio=False,
                     image={"type": "url", "url": receiver.url + "/first.png"})
    done = generate(client, server, body)
    assert probe(client.get(done["videos"][0]["url"]).content)["size"] == (108, 108)


def test_jpeg_input(client, server):
    body = make_body(frameImages=None, image=file_image(png(fmt="JPEG"), "image/jpeg"))
    assert generate(client, server, body)["status"] == "completed"


def test_base64_result(client, server):
    server.result = "base64"
    done = generate(client, server)
    (video,) = done["videos"]
    assert video["type"] == "base64" and video["mediaType"] == "video/mp4"
    info = probe(base64.b64decode(video["data"]))
    assert info["codec"] == "h264" and info["audio"] == "aac"


def test_unknown_operation(client, server):
    # The real client's GatewayNotFoundError: an unknown async job id is a 404 not_found.
    for operation in ({"gatewayJobId": "job_nope"}, "job_nope", None):
        error = assert_error(post_status(client, server, operation), 404, "not_found")
        assert error["message"] == "No video job with this id."


def test_idempotency_key_is_billed_once(client, server):
    first = post_start(client, server, key="same")
    second = post_start(client, server, key="same")
    assert first.json()["operation"] == second.json()["operation"]
    assert server.billed == {"same": 1}
    assert server.start_calls == {"same": 2}
    assert server.bill_count == 1

    other = post_start(client, server, key="other")
    assert other.json()["operation"] != first.json()["operation"]
    assert server.billed == {"same": 1, "other": 1}
    assert server.bill_count == 2


def test_each_request_is_a_different_take_rendered_once(client, server):
    # Variants of one request send the same body under different keys: the real model's own
    # randomness makes each a different clip, and so does the sandbox (issue 21, item 10).
    from django_kling.testing.sandbox.render import RENDER_CACHE

    gradient = Image.linear_gradient("L")
    picture = Image.merge("RGB", (gradient.rotate(90), gradient, gradient)).resize((641, 361))
    out = io.BytesIO()
    picture.save(out, "PNG")
    body = make_body(prompt="cache me", generateAudio=False,
                     frameImages=None, image=file_image(out.getvalue()))
    clips = [client.get(generate(client, server, body, key=key)["videos"][0]["url"]).content
             for key in ("a", "b")]
    assert clips[0] != clips[1]
    with av.open(io.BytesIO(clips[0])) as one, av.open(io.BytesIO(clips[1])) as two:
        last_frames = [list(container.decode(video=0))[-1].to_image() for container in (one, two)]
    assert last_frames[0].tobytes() != last_frames[1].tobytes()  # other frames, not other bytes
    renders = RENDER_CACHE.renders
    again = generate(client, server, body, key="a")  # the same key is the same job
    assert client.get(again["videos"][0]["url"]).content == clips[0]
    assert RENDER_CACHE.renders == renders
    assert server.bill_count == 2


def test_webhook_is_signed(client, server, receiver):
    server.delay = 0.2
    started = post_start(client, server, make_body(callbackUrl=receiver.url + "/hook"))
    job = started.json()["providerMetadata"]["gateway"]["asyncJob"]
    secret = job["webhookSigningSecret"]
    assert receiver.received.wait(20)
    sent_headers, body = receiver.posts[0]
    # x-ai-gateway-signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">.
    timestamp, signature = (part.split("=", 1)[1]
                            for part in sent_headers["x-ai-gateway-signature"].split(","))
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body,
                        hashlib.sha256).hexdigest()
    assert hmac.compare_digest(signature, expected)
    assert abs(int(timestamp) - time.time()) < 60
    # A thin event: no video, no status answer; the receiver asks for the result.
    assert json.loads(body) == {"type": "video.generation.completed", "jobId": job["jobId"]}
    limit = time.monotonic() + 5
    while not server.webhooks and time.monotonic() < limit:
        time.sleep(0.01)
    assert server.webhooks[0].status_code == 204

    # Each job has its own secret.
    other = post_start(client, server, make_body(callbackUrl=receiver.url + "/hook"), key="k2")
    assert other.json()["providerMetadata"]["gateway"]["asyncJob"]["webhookSigningSecret"] != secret


def test_padding_to_a_large_file(client, server):
    server.pad_to_bytes = 3_000_000
    done = generate(client, server, make_body(generateAudio=False))
    download = client.get(done["videos"][0]["url"])
    assert len(download.content) == 3_000_000
    assert int(download.headers["content-length"]) == 3_000_000
    info = probe(download.content)
    assert info["frames"] == 150 and info["duration"] == pytest.approx(5.0, abs=0.1)


# -- streaming ----------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["3", "4"])
def test_stream_heartbeats_then_one_result(client, server, version):
    server.delay = 1.2
    url = server.v3_url if version == "3" else server.v4_url
    started = time.monotonic()
    lines, response = stream(client, url, version=version)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert time.monotonic() - started >= 1.1
    assert lines.count(":") >= 2
    first_data = next(i for i, line in enumerate(lines) if line.startswith("data:"))
    assert all(line in (":", "") for line in lines[:first_data])
    (event,) = data_events(lines)
    assert event["type"] == "result"
    assert event["providerMetadata"]["gateway"]["cost"] == "0.70"
    info = probe(client.get(event["videos"][0]["url"]).content)
    assert info["size"] == (192, 108) and info["audio"] == "aac"
    assert server.bill_count == 1


def test_each_stream_call_is_billed(client, server):
    stream(client, server.v4_url)
    stream(client, server.v4_url)
    assert server.bill_count == 2
    assert server.billed == {}


def test_stream_base64(client, server):
    server.result = "base64"
    lines, _ = stream(client, server.v3_url, version="3")
    (event,) = data_events(lines)
    assert probe(base64.b64decode(event["videos"][0]["data"]))["codec"] == "h264"


# -- faults -------------------------------------------------------------------------------------


def test_rate_limit_with_retry_after(client, server):
    server.set_fault("rate_limit", times=1, retry_after=3)
    limited = post_start(client, server)
    error = assert_error(limited, 429, "rate_limit_exceeded")
    assert limited.headers["retry-after"] == "3"
    assert error["code"] == "rate_limit_exceeded"
    assert server.bill_count == 0
    assert post_start(client, server).status_code == 202
    assert server.start_calls == {"key-1": 2}
    assert server.billed == {"key-1": 1}


def test_rate_limit_on_stream(client, server):
    server.set_fault("rate_limit", route="stream")
    _, response = stream(client, server.v4_url)
    assert_error(response, 429, "rate_limit_exceeded")
    assert post_start(client, server).status_code == 202  # start is not targeted


def test_server_error(client, server):
    server.set_fault("server_error", times=2, route="status")
    operation = post_start(client, server).json()["operation"]
    assert_error(post_status(client, server, operation), 500, "internal_server_error")
    assert_error(post_status(client, server, operation), 500, "internal_server_error")
    assert wait_done(client, server, operation)["status"] == "completed"


def test_bad_gateway_is_not_json(client, server):
    server.set_fault("bad_gateway", times=1)
    response = post_start(client, server)
    assert response.status_code == 502
    with pytest.raises(ValueError):
        response.json()


def test_malformed_json_on_start_then_retry_is_not_billed_twice(client, server):
    server.set_fault("malformed_json", times=1, route="start")
    broken = post_start(client, server)
    assert broken.status_code == 202
    with pytest.raises(ValueError):
        broken.json()
    retried = post_start(client, server)
    assert retried.json()["operation"]["gatewayJobId"].startswith("job_")
    assert server.billed == {"key-1": 1} and server.bill_count == 1


def test_malformed_json_in_stream(client, server):
    server.set_fault("malformed_json", route="stream")
    lines, _ = stream(client, server.v4_url)
    (data,) = [line for line in lines if line.startswith("data:")]
    with pytest.raises(ValueError):
        json.loads(data[len("data: "):])


def test_slow(client, server):
    server.set_fault("slow", times=1, seconds=0.5, route="start")
    started = time.monotonic()
    assert post_start(client, server).status_code == 202
    assert time.monotonic() - started >= 0.5
    started = time.monotonic()
    assert post_start(client, server, key="k2").status_code == 202
    assert time.monotonic() - started < 0.5


def test_cut_stream_drops_the_connection(client, server):
    server.heartbeat_interval = 0.1
    try:
        server.set_fault("cut_stream", times=1, heartbeats=3)
        received: list[str] = []
        with pytest.raises(httpx.RemoteProtocolError):  # noqa: SIM117 (the raise is mid-stream)
            with client.stream("POST", server.v4_url + "/video-model", json=make_body(),
                               headers=headers(accept="text/event-stream")) as response:
                received.extend(response.iter_lines())
        assert received.count(":") == 3
        assert not data_events(received)
    finally:
        del server.heartbeat_interval
    assert server.bill_count == 1  # the generation ran: a blind resend would pay twice


def test_cut_stream_clean_end(client, server):
    server.set_fault("cut_stream", times=1, heartbeats=1, clean=True)
    lines, response = stream(client, server.v4_url)
    assert response.status_code == 200
    assert lines.count(":") == 1 and not data_events(lines)


def test_generation_error_on_status_is_final(client, server):
    operation = post_start(client, server).json()["operation"]
    server.set_fault("generation_error", times=1, message="Content policy violation.")
    assert post_status(client, server, operation).json()["status"] == "error"
    answer = post_status(client, server, operation).json()
    assert answer["status"] == "error" and answer["error"] == "Content policy violation."


def test_generation_error_in_stream(client, server):
    server.set_fault("generation_error", route="stream", message="Too busy.",
                     error_type="rate_limit_exceeded", status_code=429)
    lines, response = stream(client, server.v4_url)
    assert response.status_code == 200
    (event,) = data_events(lines)
    assert event == {"type": "error", "message": "Too busy.", "errorType": "rate_limit_exceeded",
                     "statusCode": 429, "param": None}


def test_cancelled(client, server):
    server.set_fault("cancelled")
    operation = post_start(client, server).json()["operation"]
    assert post_status(client, server, operation).json()["status"] == "cancelled"


def test_result_expired(client, server):
    server.set_fault("result_expired")
    done = generate(client, server)
    assert done["status"] == "completed" and done["videos"] == []
    result = done["providerMetadata"]["gateway"]["asyncJob"]["result"]
    assert result["expiresAt"] < time.time()


def test_turbo_is_silent_and_priced_as_turbo(client, server):
    turbo = {"ai_model_id": "klingai/kling-v2.5-turbo-i2v"}
    started = client.post(server.v4_url + "/video-model/start", json=make_body(),
                          headers=headers(idempotency_key="t1", **turbo))
    error = assert_error(started, 400, "invalid_request_error")
    assert error["param"] == "generateAudio" and server.bill_count == 0
    body = make_body(generateAudio=False, providerOptions={"klingai": {"mode": "std"}})
    started = client.post(server.v4_url + "/video-model/start", json=body,
                          headers=headers(idempotency_key="t2", **turbo))
    assert started.status_code == 202, started.text
    done = wait_done(client, server, started.json()["operation"])
    assert done["providerMetadata"]["gateway"]["cost"] == "0.21"  # 5 s at 0.042
    assert probe(client.get(done["videos"][0]["url"]).content)["audio"] is None


def test_oidc_token_is_accepted_when_the_sandbox_has_one(client, server):
    oidc = {"authorization": "Bearer oidc-token", "ai_gateway_auth_method": "oidc",
            "idempotency_key": "o1"}
    server.oidc_token = "oidc-token"
    try:
        response = client.post(server.v4_url + "/video-model/start", json=make_body(),
                               headers=headers(**oidc))
        assert response.status_code == 202, response.text
        wrong = {**oidc, "authorization": f"Bearer {API_KEY}"}  # the key, sent as OIDC
        assert_error(client.post(server.v4_url + "/video-model/start", json=make_body(),
                                 headers=headers(**wrong)), 401, "authentication_error")
    finally:
        server.oidc_token = None


@pytest.mark.parametrize("gateway", [{"tags": "one"}, {"order": [1]}, {"user": 7},
                                     {"byok": []}, []])
def test_gateway_options_are_checked(client, server, gateway):
    body = make_body(providerOptions={"klingai": {"mode": "pro"}, "gateway": gateway})
    assert_error(post_start(client, server, body), 400, "invalid_request_error")


@pytest.mark.parametrize("status", [404, 403])
def test_expired_url(client, server, status):
    url = generate(client, server)["videos"][0]["url"]
    server.set_fault("expired_url", times=1, status=status)
    assert client.get(url).status_code == status
    assert client.get(url).status_code == 200


def test_truncated_mp4(client, server):
    url = generate(client, server)["videos"][0]["url"]
    full = client.get(url).content
    server.set_fault("truncated_mp4")
    cut = client.get(url)
    assert len(cut.content) == len(full) // 2
    assert int(cut.headers["content-length"]) == len(full) // 2
    assert cut.content == full[: len(full) // 2]


def test_not_a_video(client, server):
    url = generate(client, server)["videos"][0]["url"]
    server.set_fault("not_a_video")
    served = client.get(url)
    assert served.headers["content-type"] == "video/mp4"
    assert served.content.startswith(b"<!doctype html>")


def test_fault_times_and_clearing(client, server):
    server.set_fault("server_error", times=2, route="start")
    assert [post_start(client, server).status_code for _ in range(3)] == [500, 500, 202]
    server.set_fault("server_error", route="start")
    assert [post_start(client, server).status_code for _ in range(3)] == [500, 500, 500]
    server.clear_faults()
    assert post_start(client, server).status_code == 202


@pytest.mark.parametrize(("args", "kwargs"), [
    (("earthquake",), {}),
    (("rate_limit",), {"seconds": 1}),
    (("cut_stream",), {"route": "start"}),
    (("expired_url",), {"route": ["file", "status"]}),
    (("slow", 0), {}),
])
def test_bad_fault_settings(server, args, kwargs):
    with pytest.raises(ValueError):
        server.set_fault(*args, **kwargs)


# -- lifecycle ----------------------------------------------------------------------------------


def test_urls_and_stop():
    sandbox = Sandbox(render_scale=SCALE)
    with pytest.raises(RuntimeError):
        _ = sandbox.url
    with sandbox:
        assert sandbox.v3_url == sandbox.url + "/v3/ai"
        assert sandbox.v4_url == sandbox.url + "/v4/ai"
        assert sandbox.url.startswith("http://127.0.0.1:")
        with httpx.Client() as http:
            assert http.get(sandbox.url + "/").status_code == 200
    with pytest.raises(httpx.ConnectError), httpx.Client() as http:
        http.get(sandbox.url + "/")


def test_result_option_is_checked(server):
    with pytest.raises(ValueError):
        server.result = "gif"


def test_reset_forgets_everything(client, server):
    post_start(client, server)
    server.set_fault("slow")
    server.reset()
    assert server.calls == [] and server.billed == {} and server.bill_count == 0
    assert server.start_calls == {} and server.faults.active() == []


def test_reset_waits_for_a_create_in_flight(server):
    """A create still being answered when the reset comes bills in the book the reset clears.

    The fault matrix's and fallback's slow creates used to bill after the next test's reset:
    that test saw a bill for a key it never sent (issue 21).
    """
    server.set_fault("slow", times=1, seconds=0.5, route="start")
    answers: list[int] = []

    def send() -> None:
        with httpx.Client(timeout=30) as http:
            answers.append(post_start(http, server, key="late").status_code)

    sender = threading.Thread(target=send)
    sender.start()
    wait_for(lambda: server.start_calls.get("late") == 1)  # received, now being slow
    server.reset()
    sender.join(10)
    assert answers == [202]
    assert server.billed == {} and server.bill_count == 0 and server.start_calls == {}
    assert server.calls == []
    assert server.wait_until_idle(timeout=1)


def test_a_job_from_before_the_reset_calls_nobody_back(client, server, receiver):
    server.delay = 0.3
    post_start(client, server, make_body(callbackUrl=receiver.url + "/old"), key="old")
    server.reset()
    server.delay = 0.3
    post_start(client, server, make_body(callbackUrl=receiver.url + "/new"), key="new")
    # The old job was ready first: had it called back, its post would be here before this one.
    wait_for(lambda: any(d.url.endswith("/new") for d in server.webhooks))
    assert [path for path, _ in receiver.paths] == ["/new"]
    assert [delivery.url for delivery in server.webhooks] == [receiver.url + "/new"]


def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    limit = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > limit:
            pytest.fail("timed out")
        time.sleep(0.01)


def test_sandbox_does_not_import_django():
    code = ("import sys, django_kling.testing.sandbox; "
            "sys.exit(1 if any(m == 'django' or m.startswith('django.') for m in sys.modules) "
            "else 0)")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_management_command_prints_urls(monkeypatch):
    from django.conf import settings

    if not settings.configured:
        pytest.skip("needs the Django test settings")
    from django.core.management import call_command

    from django_kling.management.commands import kling_sandbox

    def interrupt(self) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(kling_sandbox.Command, "wait_for_interrupt", interrupt)
    out = io.StringIO()
    call_command("kling_sandbox", "--port", "0", "--api-key", "k", "--delay", "0", stdout=out)
    text = out.getvalue()
    assert "/v3/ai" in text and "/v4/ai" in text and "k" in text
