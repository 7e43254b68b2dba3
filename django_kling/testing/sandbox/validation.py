"""What the sandbox checks before accepting a call, with the gateway's error shapes.

Headers and body are held to the gateway's video-model protocol as the AI SDK's gateway
provider (``@ai-sdk/gateway``) sends it, and to the model's limits (both summarised in
``docs/providers.rst``), so a client that passes here sends what the real gateway expects.
Failures raise ``GatewayError``, which the server turns into
``{"error": {"message", "type", "param", "code"}, "generationId"}`` with the matching status.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import io
import json
import re
from dataclasses import dataclass, field
from typing import Any

import httpx
from PIL import Image

from . import signed_urls
from .served import MODEL_ID, klingai_problem, routes_on

#: The models the gateway serves, with what each can do (the registry's gateway routes).
MODELS = routes_on("gateway")
PROTOCOL_VERSION = "0.0.1"
MAX_TEXT = 2500
MAX_IMAGE_BYTES = 10 * 1024 * 1024
MIN_SIDE = 300
MAX_ASPECT = 2.5
IMAGE_TYPES = {"image/png": "PNG", "image/jpeg": "JPEG"}
FETCH_TIMEOUT = 10.0

ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "forbidden": 403,
    "model_not_found": 404,
    "not_found": 404,
    "failed_dependency": 424,
    "rate_limit_exceeded": 429,
    "internal_server_error": 500,
}

# For image-to-video Kling follows the input image, so these only earn a warning.
IGNORED_FOR_I2V = {
    "aspectRatio": "Image-to-video follows the shape of the input image.",
    "resolution": "Image-to-video follows the shape of the input image.",
    "seed": "Kling does not accept a seed.",
    "fps": "Kling renders at 30 fps.",
}

_RATIO = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*:\s*(\d+(?:\.\d+)?)\s*$")
_RESOLUTION = re.compile(r"^\s*(\d+)\s*x\s*(\d+)\s*$")


class GatewayError(Exception):
    """An error answer, before any stream started."""

    def __init__(self, error_type: str, message: str, *, param: str | None = None,
                 code: str | None = None) -> None:
        super().__init__(message)
        self.type = error_type
        self.message = message
        self.param = param
        self.code = code

    @property
    def status(self) -> int:
        return ERROR_STATUS.get(self.type, 500)

    def body(self, generation_id: str) -> dict[str, Any]:
        return {
            "error": {"message": self.message, "type": self.type, "param": self.param,
                      "code": self.code},
            "generationId": generation_id,
        }


def invalid(message: str, param: str | None = None) -> GatewayError:
    return GatewayError("invalid_request_error", message, param=param)


def check_headers(headers: Any, *, api_key: str, spec_version: str, stream: bool = False,
                  start: bool = False, oidc_token: str | None = None) -> None:
    """Raise ``GatewayError`` for the first header the real gateway would refuse.

    Both auth methods of the AI SDK's ``gateway-provider.ts`` are accepted: the API key with
    ``ai-gateway-auth-method: api-key``, or a Vercel OIDC token with ``oidc`` (the sandbox
    has no issuer: it accepts the one token it was given).
    """
    authorization = headers.get("authorization") or ""
    scheme, _, token = authorization.partition(" ")
    method = headers.get("ai-gateway-auth-method")
    expected = {"api-key": api_key, "oidc": oidc_token}.get(method or "")
    if method not in ("api-key", "oidc"):
        raise GatewayError("authentication_error",
                           "ai-gateway-auth-method must be 'api-key' or 'oidc'.")
    if scheme.lower() != "bearer" or not expected or not hmac.compare_digest(
            token.strip().encode(), expected.encode()):
        raise GatewayError("authentication_error",
                           "Invalid or missing API key." if method == "api-key"
                           else "Invalid or expired OIDC token.", code="invalid_api_key")
    if headers.get("ai-gateway-protocol-version") != PROTOCOL_VERSION:
        raise invalid(f"Unsupported ai-gateway-protocol-version; expected {PROTOCOL_VERSION}.")
    if headers.get("ai-model-id") not in MODELS:
        raise GatewayError("model_not_found",
                           f"Model {headers.get('ai-model-id')!r} not found; the sandbox serves "
                           f"{', '.join(MODELS)}.", param="model")
    if headers.get("ai-video-model-specification-version") != spec_version:
        raise invalid(f"ai-video-model-specification-version must be {spec_version} on this "
                      f"base URL.")
    content_type = (headers.get("content-type") or "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise invalid("content-type must be application/json.")
    if stream and "text/event-stream" not in (headers.get("accept") or ""):
        raise invalid("The streaming call needs accept: text/event-stream.")
    if start and not (headers.get("idempotency-key") or "").strip():
        raise invalid("The start call needs an idempotency-key header.", "idempotency-key")


@dataclass
class FrameImage:
    data: bytes
    width: int
    height: int


@dataclass
class GenerationSpec:
    """A validated request: what to render and what to answer."""

    first: FrameImage
    last: FrameImage | None
    duration: int = 5
    audio: bool = False
    mode: str = "pro"
    aspect: str | None = None  # requested "W:H" (already validated), or None
    prompt: str = ""
    negative_prompt: str = ""
    callback_url: str | None = None
    model: str = MODEL_ID
    #: ``providerOptions.gateway`` as received (checked for its shape).
    gateway_options: dict[str, Any] = field(default_factory=dict)
    warnings: list[dict[str, Any]] = field(default_factory=list)


def parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise invalid("The request body is not valid JSON.") from None


def parse_generation(raw: bytes, *, allow_callback: bool = False,
                     model: str = MODEL_ID) -> GenerationSpec:
    """Check a generation body like the gateway and Kling would; fetch URL images."""
    body = parse_json(raw)
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object.")
    gateway_options = _gateway_options(body)

    first, last = _frames(body)
    options = _provider_options(body)
    mode = options.get("mode", "pro")
    if mode not in ("std", "pro"):
        raise invalid("providerOptions.klingai.mode must be 'std' or 'pro'.",
                      "providerOptions.klingai.mode")

    route = MODELS[model] if model in MODELS else MODELS[MODEL_ID]
    duration = body.get("duration", 5)
    if duration is None:
        duration = 5
    if isinstance(duration, bool) or duration not in route.durations:
        raise invalid(f"duration must be one of {', '.join(map(str, route.durations))} "
                      f"(seconds) on {model}.", "duration")

    audio = body.get("generateAudio", False)
    if not isinstance(audio, bool):
        raise invalid("generateAudio must be a boolean.", "generateAudio")
    sound = options.get("sound")
    if sound is not None:
        if sound not in ("on", "off"):
            raise invalid("providerOptions.klingai.sound must be 'on' or 'off'.",
                          "providerOptions.klingai.sound")
        audio = sound == "on"
    if audio and not route.sound:
        raise invalid(f"{model} makes silent clips only; set generateAudio to false.",
                      "generateAudio")
    if audio and mode != "pro":
        raise invalid("Sound (generateAudio) needs mode 'pro' on Kling v2.6.", "generateAudio")
    problem, param = klingai_problem(options, route, sound=audio, duration=duration,
                                     last_frame=last is not None)
    if problem:
        raise invalid(problem, param)

    warnings: list[dict[str, Any]] = []
    n = body.get("n", 1)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise invalid("n must be a positive integer.", "n")
    if n > 1:
        warnings.append({"type": "unsupported", "feature": "n",
                         "details": "Kling returns one video per call."})

    aspect = body.get("aspectRatio")
    if aspect is not None and not (isinstance(aspect, str) and _valid_ratio(aspect)):
        raise invalid("aspectRatio must look like '16:9'.", "aspectRatio")
    resolution = body.get("resolution")
    if resolution is not None and not (isinstance(resolution, str)
                                       and _RESOLUTION.match(resolution)):
        raise invalid("resolution must look like '1920x1080'.", "resolution")
    seed = body.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise invalid("seed must be an integer.", "seed")
    fps = body.get("fps")
    if fps is not None and (isinstance(fps, bool) or not isinstance(fps, (int, float))
                            or fps <= 0):
        raise invalid("fps must be a positive number.", "fps")
    for feature, details in IGNORED_FOR_I2V.items():
        if body.get(feature) is not None:
            warnings.append({"type": "unsupported", "feature": feature, "details": details})

    prompt = _text(body.get("prompt"), "prompt")
    negative = _text(options.get("negativePrompt"), "providerOptions.klingai.negativePrompt")
    cfg = options.get("cfgScale")
    if cfg is not None and (isinstance(cfg, bool) or not isinstance(cfg, (int, float))
                            or not 0 <= cfg <= 1):
        raise invalid("providerOptions.klingai.cfgScale must be between 0 and 1.",
                      "providerOptions.klingai.cfgScale")

    callback = body.get("callbackUrl")
    if callback is not None:
        if not allow_callback:
            raise invalid("callbackUrl is only accepted by the start call.", "callbackUrl")
        if not (isinstance(callback, str) and callback.startswith(("http://", "https://"))):
            raise invalid("callbackUrl must be an http(s) URL.", "callbackUrl")

    return GenerationSpec(
        first=first, last=last, duration=duration, audio=audio, mode=mode, aspect=aspect,
        prompt=prompt, negative_prompt=negative, callback_url=callback, model=model,
        gateway_options=gateway_options, warnings=warnings,
    )


def ratio_of(aspect: str) -> float:
    match = _RATIO.match(aspect)
    if not match:
        raise ValueError(aspect)
    return float(match.group(1)) / float(match.group(2))


def _valid_ratio(aspect: str) -> bool:
    match = _RATIO.match(aspect)
    return bool(match) and float(match.group(1)) > 0 and float(match.group(2)) > 0


def _text(value: Any, param: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise invalid(f"{param} must be a string.", param)
    if len(value) > MAX_TEXT:
        raise invalid(f"{param} is longer than {MAX_TEXT} characters.", param)
    return value


#: ``providerOptions.gateway`` keys the sandbox checks (``gateway-provider-options.ts``).
GATEWAY_LIST_OPTIONS = ("tags", "order", "only", "models")


def _gateway_options(body: dict[str, Any]) -> dict[str, Any]:
    options = body.get("providerOptions") or {}
    gateway = options.get("gateway") if isinstance(options, dict) else None
    if gateway is None:
        return {}
    param = "providerOptions.gateway"
    if not isinstance(gateway, dict):
        raise invalid(f"{param} must be an object.", param)
    for key in GATEWAY_LIST_OPTIONS:
        value = gateway.get(key)
        if value is not None and not (isinstance(value, list)
                                      and all(isinstance(v, str) for v in value)):
            raise invalid(f"{param}.{key} must be a list of strings.", f"{param}.{key}")
    if gateway.get("user") is not None and not isinstance(gateway["user"], str):
        raise invalid(f"{param}.user must be a string.", f"{param}.user")
    if gateway.get("byok") is not None and not isinstance(gateway["byok"], dict):
        raise invalid(f"{param}.byok must be an object.", f"{param}.byok")
    return gateway


def _provider_options(body: dict[str, Any]) -> dict[str, Any]:
    options = body.get("providerOptions") or {}
    if not isinstance(options, dict):
        raise invalid("providerOptions must be an object.", "providerOptions")
    kling = options.get("klingai") or {}
    if not isinstance(kling, dict):
        raise invalid("providerOptions.klingai must be an object.", "providerOptions.klingai")
    return kling


def _frames(body: dict[str, Any]) -> tuple[FrameImage, FrameImage | None]:
    """The first and last frame, from ``frameImages`` or the plain ``image`` field."""
    first_json: Any = None
    first_param = "image"
    last_json: Any = None
    last_param = ""
    frames = body.get("frameImages")
    if frames is not None:
        if not isinstance(frames, list):
            raise invalid("frameImages must be a list.", "frameImages")
        for index, frame in enumerate(frames):
            param = f"frameImages[{index}]"
            if not isinstance(frame, dict) or "image" not in frame:
                raise invalid(f"{param} must be an object with an image.", param)
            kind = frame.get("frameType")
            if kind == "first_frame" and first_json is None:
                first_json, first_param = frame["image"], param + ".image"
            elif kind == "last_frame" and last_json is None:
                last_json, last_param = frame["image"], param + ".image"
            else:
                raise invalid(f"{param}.frameType must be first_frame or last_frame, once each.",
                              param + ".frameType")
    if first_json is None:
        first_json = body.get("image")
    if first_json is None:
        raise invalid("Image-to-video needs a first frame (image or frameImages).", "image")
    first = _image(first_json, first_param)
    last = _image(last_json, last_param) if last_json is not None else None
    return first, last


def _image(value: Any, param: str) -> FrameImage:
    if not isinstance(value, dict):
        raise invalid(f"{param} must be an image object.", param)
    kind = value.get("type")
    if kind == "url":
        url = value.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise invalid(f"{param}.url must be an http(s) URL.", param + ".url")
        data = _fetch(url, param)
    elif kind == "file":
        if value.get("mediaType") not in IMAGE_TYPES:
            raise invalid(f"{param}.mediaType must be image/png or image/jpeg.",
                          param + ".mediaType")
        encoded = value.get("data")
        if not isinstance(encoded, str) or not encoded:
            raise invalid(f"{param}.data must be base64 text.", param + ".data")
        if encoded.startswith("data:"):
            raise invalid(f"{param}.data must be plain base64, without a data: prefix.",
                          param + ".data")
        try:
            data = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise invalid(f"{param}.data is not valid base64.", param + ".data") from None
    else:
        raise invalid(f"{param}.type must be 'url' or 'file'.", param + ".type")
    return _check_image(data, param)


def _fetch(url: str, param: str) -> bytes:
    if signed_urls.expired(url):  # what S3 answers (moto's server does not check it)
        raise invalid(f"Could not fetch {param}: HTTP 403 (the signed URL has expired).", param)
    try:
        with httpx.stream("GET", url, timeout=FETCH_TIMEOUT, follow_redirects=True) as response:
            if response.status_code != 200:
                raise invalid(f"Could not fetch {param}: HTTP {response.status_code}.", param)
            data = bytearray()
            for chunk in response.iter_bytes():
                data += chunk
                if len(data) > MAX_IMAGE_BYTES:
                    raise invalid(f"{param} is larger than 10 MB.", param)
            return bytes(data)
    except httpx.HTTPError as exc:
        raise invalid(f"Could not fetch {param} ({type(exc).__name__}).", param) from None


def _check_image(data: bytes, param: str) -> FrameImage:
    if len(data) > MAX_IMAGE_BYTES:
        raise invalid(f"{param} is larger than 10 MB.", param)
    try:
        with Image.open(io.BytesIO(data)) as image:
            fmt = image.format
            width, height = image.size
    except (OSError, ValueError, Image.DecompressionBombError):
        raise invalid(f"{param} is not a readable image.", param) from None
    if fmt not in IMAGE_TYPES.values():
        raise invalid(f"{param} must be a PNG or JPEG image (got {fmt}).", param)
    if min(width, height) < MIN_SIDE:
        raise invalid(f"{param} is {width}x{height}; each side must be at least {MIN_SIDE} px.",
                      param)
    if max(width / height, height / width) > MAX_ASPECT:
        raise invalid(f"{param} is {width}x{height}; the aspect ratio must be between 1:2.5 "
                      "and 2.5:1.", param)
    return FrameImage(data=data, width=width, height=height)
