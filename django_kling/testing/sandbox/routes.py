"""The sandbox's request handler: each provider's routes under its own path prefix.

The gateway's routes (``gateway.py``) answer everything that no other provider claims, so its
URLs stay as they were; Kling's own API lives under ``/kling`` (``kling.py``), fal's queue under
``/fal`` (``fal.py``), Replicate under ``/replicate`` (``replicate.py``).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from .fal import PREFIX as FAL
from .fal import FalRoutes
from .gateway import GatewayHandler
from .kling import PREFIX as KLING
from .kling import KlingRoutes
from .replicate import PREFIX as REPLICATE
from .replicate import ReplicateRoutes


class SandboxHandler(KlingRoutes, FalRoutes, ReplicateRoutes, GatewayHandler):
    """Dispatches by path prefix to the providers' route mixins."""

    def _provider_route(self, method: str) -> bool:
        path = urlsplit(self.path).path
        if path.startswith(KLING + "/"):
            self._kling_request(method)
            return True
        if path.startswith(FAL + "/"):
            self._fal_request(method)
            return True
        if path.startswith(REPLICATE + "/"):
            self._replicate_request(method)
            return True
        return False

    def do_POST(self) -> None:
        with self.sandbox._answering():
            if not self._provider_route("POST"):
                super().do_POST()

    def do_GET(self) -> None:
        with self.sandbox._answering():
            if self.command == "GET" and self._provider_route("GET"):
                return
            super().do_GET()

    do_HEAD = do_GET
