"""Provider calls handed straight to the transport the client would use (``providers.direct``)."""

from __future__ import annotations

import json

import httpx

from django_kling.providers import direct


def recording(seen: list[httpx.Request], **answer) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        request.read()
        seen.append(request)
        return httpx.Response(200, json={"ok": True}, **answer)

    return httpx.MockTransport(handler)


def call(client: httpx.Client, url: str, **headers: str) -> bytes:
    with direct.stream(client, "POST", url, headers=headers, content=b'{"a": 1}') as response:
        assert response.status_code == 200
        return response.read()


def test_the_request_is_the_one_the_client_would_send():
    seen: list[httpx.Request] = []
    client = httpx.Client(transport=recording(seen), timeout=httpx.Timeout(7.0, connect=3.0),
                          follow_redirects=False)
    answer = call(client, "https://api.example.com/v1/start", authorization="Bearer k")
    assert json.loads(answer) == {"ok": True}
    with client.stream("POST", "https://api.example.com/v1/start", content=b'{"a": 1}',
                       headers={"authorization": "Bearer k"}) as response:
        response.read()
    ours, theirs = seen
    assert (ours.method, ours.url, ours.content) == (theirs.method, theirs.url, theirs.content)
    assert list(ours.headers.items()) == list(theirs.headers.items())  # defaults, in order
    assert ours.extensions["timeout"] == theirs.extensions["timeout"] \
        == {"connect": 3.0, "read": 7.0, "write": 7.0, "pool": 7.0}


def test_a_mounted_transport_is_used_for_its_urls():
    direct_seen: list[httpx.Request] = []
    proxied: list[httpx.Request] = []
    client = httpx.Client(transport=recording(direct_seen),
                          mounts={"https://proxied.example.com": recording(proxied)})
    call(client, "https://proxied.example.com/start")
    call(client, "https://api.example.com/start")
    assert [str(r.url) for r in proxied] == ["https://proxied.example.com/start"]
    assert [str(r.url) for r in direct_seen] == ["https://api.example.com/start"]


def test_an_answers_cookie_never_rides_along_on_the_next_call():
    seen: list[httpx.Request] = []
    client = httpx.Client(transport=recording(
        seen, headers={"set-cookie": "session=abc; Path=/"}))
    call(client, "https://api.example.com/start")
    call(client, "https://api.example.com/start")
    assert "cookie" not in seen[1].headers
    assert not client.cookies  # nothing kept


def test_a_closed_client_fails_as_httpx_fails():
    client = httpx.Client(transport=recording([]))
    client.close()
    try:
        call(client, "https://api.example.com/start")
    except RuntimeError as exc:  # httpx: "Cannot send a request, as the client has been closed."
        assert "closed" in str(exc)
    else:
        raise AssertionError("a closed client sent a request")
