"""The sandbox's request handler: each provider's routes under its own path prefix.

The gateway's routes (``gateway.py``) answer everything that no other provider claims, so its
URLs stay as they were; Kling's own API lives under ``/kling`` (``kling.py``).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from .gateway import GatewayHandler
from .kling import PREFIX as KLING
from .kling import KlingRoutes


class SandboxHandler(KlingRoutes, GatewayHandler):
    """Dispatches by path prefix to the providers' route mixins."""

    def _provider_route(self, method: str) -> bool:
        path = urlsplit(self.path).path
        if path.startswith(KLING + "/"):
            self._kling_request(method)
            return True
        return False

    def do_POST(self) -> None:
        if not self._provider_route("POST"):
            super().do_POST()

    def do_GET(self) -> None:
        if self.command == "GET" and self._provider_route("GET"):
            return
        super().do_GET()

    do_HEAD = do_GET
