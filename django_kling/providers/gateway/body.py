"""The JSON body of a generation call (stream and start), as the AI SDK's gateway client sends it.

``buildRequestBody`` in ``gateway-video-model.ts`` leaves out every unset key; the Kling options
go under ``providerOptions.klingai``, the gateway's routing and reporting options under
``providerOptions.gateway`` (``gateway-provider-options.ts``). No ``seed`` is ever sent: Kling's
image-to-video ignores it and answers every clip with an "unsupported" warning, so variants differ
by the model's own randomness alone.
"""

from __future__ import annotations

from typing import Any

from ...options.shots import SHOT_TYPE
from ..base import GenerationInput
from .options import LIST_OPTIONS
from .wire import image_json


def build_body(job: GenerationInput, options: dict[str, Any]) -> dict[str, Any]:
    first = image_json(job.first_frame)
    frames = [{"frameType": "first_frame", "image": first}]
    if job.last_frame is not None:
        frames.append({"frameType": "last_frame", "image": image_json(job.last_frame)})
    klingai: dict[str, Any] = {"mode": job.mode}
    if job.negative_prompt:
        klingai["negativePrompt"] = job.negative_prompt
    if job.voice_ids:
        # Kling's voice_list as the AI SDK's Kling options name it (klingai-video-model-options.ts
        # ``voiceList``: at most 2, ``<<<voice_1>>>`` in the prompt).
        klingai["voiceList"] = [{"voice_id": voice} for voice in job.voice_ids]
    if job.shots:
        # klingai-video-model-options.ts: multiShot, shotType ("customize": our own shots),
        # multiPrompt [{index, prompt, duration: string}], passed on as Kling's multi_shot,
        # shot_type, multi_prompt; the gateway's video page numbers the shots from 1.
        klingai.update(multiShot=True, shotType=SHOT_TYPE, multiPrompt=[
            {"index": place, "prompt": prompt, "duration": str(seconds)}
            for place, (prompt, seconds) in enumerate(job.shots, start=1)])
    provider_options: dict[str, Any] = {"klingai": klingai}
    gateway = gateway_options(job, options)
    if gateway:
        provider_options["gateway"] = gateway
    body: dict[str, Any] = {
        "n": 1,
        "duration": job.duration,
        "generateAudio": job.generate_audio,
        "image": first,
        "frameImages": frames,
        "providerOptions": provider_options,
    }
    # With shots the main prompt "is ignored by the API" (klingai-video-model-options.ts).
    if job.prompt and not job.shots:
        body["prompt"] = job.prompt
    # The image was cropped to the chosen aspect already; for image-to-video the gateway
    # only answers aspectRatio with an "unsupported" warning, so it is sent only on request.
    if job.aspect_ratio:
        body["aspectRatio"] = job.aspect_ratio
    return body


def gateway_options(job: GenerationInput, options: dict[str, Any]) -> dict[str, Any]:
    """``providerOptions.gateway``: only the keys that are set."""
    gateway: dict[str, Any] = {}
    tags = list(options.get("TAGS") or [])
    if tags and job.source_label and job.source_label not in tags:
        tags.append(job.source_label)
    if tags:
        gateway["tags"] = tags
    if options.get("USER") == "editor" and job.editor_id:
        gateway["user"] = job.editor_id
    if options.get("BYOK"):
        gateway["byok"] = options["BYOK"]
    for option, key in LIST_OPTIONS.items():
        if option != "TAGS" and options.get(option):
            gateway[key] = list(options[option])
    return gateway
