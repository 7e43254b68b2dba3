"""Provider calls sent straight to the transport ``httpx.Client`` would use for them.

The start call is the largest part of a submit's CPU (``bench.submit_cost``), and about a fifth
of it was the client's own layers around the transport: merging the URL, headers and cookies
into a new request, the auth and redirect loops, and storing the cookies of every answer. Our
calls use none of them: no auth flow (keys go in headers we set), no redirect followed
(``follow_redirects=False``, a 3xx answer is an answer), and no cookie sent back (an answer's
cookies are not a provider's protocol, and one must not ride along on the next job's call).
So the request is built once, with the client's default headers, timeouts and the transport it
would pick for the URL (a mounted proxy included), and handed to that transport.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

_defaults: weakref.WeakKeyDictionary[httpx.Client, dict[str, str]] = weakref.WeakKeyDictionary()


@functools.lru_cache(maxsize=1024)
def _url(text: str) -> httpx.URL:
    return httpx.URL(text)  # immutable: one parse per URL (a provider's start URL is one)


@contextmanager
def stream(client: httpx.Client, method: str, url: str, *, headers: dict[str, str],
           content: bytes | None = None) -> Iterator[httpx.Response]:
    """The answer to one call, its body not read yet (as ``client.stream`` gives it)."""
    choose = getattr(client, "_transport_for_url", None)
    if choose is None or client.is_closed:  # an httpx without it: the client's own path
        with client.stream(method, url, headers=headers, content=content) as response:
            yield response
        return
    defaults = _defaults.get(client)
    if defaults is None:
        defaults = _defaults[client] = dict(client.headers.items())
    target = _url(url)
    request = httpx.Request(method, target, headers={**defaults, **headers}, content=content,
                            extensions={"timeout": client.timeout.as_dict()})
    response = choose(target).handle_request(request)
    response.request = request
    try:
        yield response
    finally:
        response.close()
