"""A clip sent inline (base64 in the JSON answer) is read with bounded memory (issue 23, item 18).

The sandbox's ``huge_answer`` fault answers a status call with a completed job whose clip is
N MiB of base64 text, chunked (no content-length to refuse it by). Within the download cap
(:setting:`MAX_DOWNLOAD_BYTES`) it must be brought home without ever holding the answer in
memory; over the cap it must be refused while it is read, with a specific error on the job.
"""

from __future__ import annotations

import os
import tracemalloc

import pytest

from django_kling.files.download import fetch_video
from django_kling.jobs import create_video_request
from django_kling.models import Status
from django_kling.providers import GenerationInput, ImageInput, get_provider

from .conftest import use_protocol, wait_for_end

MiB = 2**20


@pytest.mark.parametrize("protocol", ["async", "stream"])
def test_a_big_inline_clip_within_the_cap_is_read_with_bounded_memory(settings, sandbox,
                                                                      make_image, protocol):
    use_protocol(settings, sandbox, protocol)
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "MAX_DOWNLOAD_BYTES": 32 * MiB}
    provider = get_provider("gateway")
    job = GenerationInput(first_frame=ImageInput("image/png", data=make_image()))
    if protocol == "async":
        operation = provider.start(job, idempotency_key="kling_inline").operation
        sandbox.set_fault("huge_answer", times=1, route="status", megabytes=16)
    else:
        sandbox.set_fault("huge_answer", times=1, route="stream", megabytes=16)
    tracemalloc.start()
    try:
        status = provider.status(operation) if protocol == "async" else provider.generate(job)
        downloaded = fetch_video(status.videos[0])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    try:
        assert downloaded.size == 12 * MiB  # 16 MiB of base64 "A"s: 12 MiB of zeros
    finally:
        downloaded.discard()
    # The answer is 16 MiB; before, it peaked at about three copies of it (48 MiB as a status
    # answer, 65 MiB as a streamed event); now at 4 to 5.5 MiB, the in-process sandbox included.
    assert peak < 8 * MiB, f"peak {peak / MiB:.1f} MiB"


def test_an_inline_clip_over_the_cap_fails_the_job_before_it_is_all_read(worker, settings,
                                                                         sandbox, make_image):
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "MAX_DOWNLOAD_BYTES": 2 * MiB}
    sandbox.set_fault("huge_answer", route="status", megabytes=24)
    job = wait_for_end(create_video_request(make_image()))
    assert (job.status, job.error_code) == (Status.FAILED, "download_too_large")
    assert "2 MiB" in job.error_message and "MAX_DOWNLOAD_BYTES" in job.error_message
    assert sandbox.wait_until_idle() and sandbox.huge_answers_sent == 0  # hung up early


@pytest.mark.parametrize("answer", [
    # Escaped slashes are valid JSON (some encoders write them); other strings stay as they are.
    b'{"status": "completed", "warnings": [{"type": "other", "message": "a \\"quoted\\" one"}],'
    b' "videos": [{"type": "base64", "mediaType": "video/mp4", "data": "' + b"AAA\\/" * 50000
    + b'"}]}',
])
def test_escapes_in_a_spooled_answer(answer):
    from django_kling.providers.inline import read_json

    data = read_json(iter([answer[:1000], answer[1000:70001], answer[70001:]]),
                     string_cap=10 * MiB, rest_cap=MiB)
    assert data["warnings"][0]["message"] == 'a "quoted" one'
    spooled = data["videos"][0]["data"]
    with open(spooled.path, "rb") as text:
        assert text.read() == b"AAA/" * 50000
    path = spooled.path
    del data, spooled  # the answer is dropped: its temporary file goes with it
    assert not os.path.exists(path)
