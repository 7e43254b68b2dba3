"""Request bodies with the frame spliced in (issue 27): byte for byte what ``json.dumps`` gives."""

import base64
import json
import os

from django_kling.providers.base import ImageInput
from django_kling.providers.fal import data_uri
from django_kling.providers.json_body import Verbatim, dumps


def test_a_body_with_frames_is_json_dumps_byte_for_byte():
    first = ImageInput(media_type="image/jpeg", data=os.urandom(300_000))
    last = ImageInput(media_type="image/png",
                      encoded=base64.b64encode(os.urandom(9_000)).decode())
    image = {"type": "file", "mediaType": "image/jpeg", "data": first.as_base64()}
    body = {"n": 1, "prompt": 'Waves "at dusk" \\ \u00e9\u4e2d\n', "image": image,
            "frameImages": [{"frameType": "first_frame", "image": image},  # the same object
                            {"frameType": "last_frame", "image": last.as_base64()}],
            "input": (data_uri(last), None, 2.5, True), "short": Verbatim("abc")}
    assert isinstance(first.as_base64(), Verbatim)
    assert dumps(body) == json.dumps(body, default=str).encode()  # a data: URI is Spliced
    assert json.loads(dumps(body))["image"]["data"] == base64.b64encode(first.data).decode()


def test_text_that_would_need_escaping_is_escaped_as_usual():
    for text in ['"}, "n": 2, "x": "' + "A" * 5000, "\\" + "A" * 5000, "\u00e9" * 5000]:
        body = {"image": Verbatim(text), "n": 1}
        assert dumps(body) == json.dumps(body).encode()
        assert json.loads(dumps(body)) == {"image": text, "n": 1}


def test_a_body_without_frames_is_json_dumps():
    body = {"operation": {"id": "op_1"}, "list": [1, "two", None]}
    assert dumps(body) == json.dumps(body).encode()


def test_spliced_frames_are_the_body_json_dumps_gives_for_their_text():
    # As the gateway, Kling and fal (a data: URI) carry a frame stored as base64 bytes: the
    # body is json.dumps of the same body with the text in place, byte for byte.
    stored = base64.b64encode(os.urandom(30_000))
    image = ImageInput(media_type="image/png", encoded=stored)
    made = ImageInput(media_type="image/jpeg", data=os.urandom(20_000))
    body = {"image": {"type": "file", "data": image.base64_json()}, "uri": data_uri(image),
            "made": made.base64_json(), "short": ImageInput("image/png", data=b"ab").base64_json()}
    as_text = {"image": {"type": "file", "data": stored.decode()},
               "uri": "data:image/png;base64," + stored.decode(),
               "made": base64.b64encode(made.data).decode(), "short": "YWI="}
    assert dumps(body) == json.dumps(as_text).encode()
    assert str(data_uri(image)) == as_text["uri"] and len(data_uri(image)) == len(as_text["uri"])


def test_spliced_bytes_that_would_need_escaping_are_escaped_as_usual():
    for text in [b'"}, "n": 2, "x": "' + b"A" * 5000, b"\\" + b"A" * 5000]:
        body = {"image": ImageInput("image/png", encoded=text).base64_json(), "n": 1}
        assert json.loads(dumps(body)) == {"image": text.decode(), "n": 1}


def test_text_that_is_not_ascii_is_escaped_not_refused():
    encoded = "\u00e9\u4e2d" * 3000
    body = {"image": ImageInput("image/png", encoded=encoded).base64_json()}
    assert dumps(body) == json.dumps({"image": encoded}).encode()
