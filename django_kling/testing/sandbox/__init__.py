"""A fake Vercel AI Gateway for Kling v2.6 image-to-video, for tests, demos and benchmarks; it
also speaks Kling's own API (``/kling``), fal's queue (``/fal``) and Replicate (``/replicate``).

Importing it does not import Django. See ``server.py`` for the protocol it speaks, ``faults.py``
for the misbehaviour it can be told to show and ``render.py`` for the clips it makes.
"""

from .faults import FAULTS
from .server import Call, Sandbox, WebhookDelivery

__all__ = ["FAULTS", "Call", "Sandbox", "WebhookDelivery"]
