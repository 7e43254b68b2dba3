from __future__ import annotations

import time
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.utils.translation import gettext as _

from ...testing.sandbox import Sandbox
from ...testing.sandbox.jobs import RESULT_KINDS
from ..terminal import KlingCommand


class Command(KlingCommand):
    help = _("Run the sandbox: a local fake of the Vercel AI Gateway for Kling v2.6 "
             "image-to-video, rendering real MP4 clips. Runs until Ctrl-C.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help=_("address to listen on"))
        parser.add_argument("--port", type=int, default=8765, help=_("port (0: any free port)"))
        parser.add_argument("--delay", type=float, default=5.0,
                            help=_("seconds each generation takes before it completes"))
        parser.add_argument("--result", choices=RESULT_KINDS, default="url",
                            help=_("return videos as a URL on the sandbox or inline base64"))
        parser.add_argument("--api-key", default="sandbox-key",
                            help=_("the API key clients must send"))
        parser.add_argument("--render-scale", type=float, default=1.0,
                            help=_("scale of the rendered clips (1.0: Kling's real sizes)"))
        parser.add_argument("--pad-to-bytes", type=int, default=None,
                            help=_("pad served files up to this many bytes"))

    def handle(self, *args: Any, **options: Any) -> None:
        if options["render_scale"] <= 0:
            raise CommandError(_("--render-scale must be greater than 0."))
        sandbox = Sandbox(
            options["api_key"],
            delay=max(0.0, options["delay"]),
            result=options["result"],
            render_scale=options["render_scale"],
            host=options["host"],
            port=options["port"],
            pad_to_bytes=options["pad_to_bytes"],
        )
        try:
            sandbox.start()
        except OSError as exc:
            raise CommandError(_("Could not start the sandbox: %(error)s") % {"error": exc}) \
                from None
        self.stdout.write(_("Kling sandbox running."), self.style.SUCCESS)
        self.stdout.write(_("Streaming base URL (v3): %(url)s") % {"url": sandbox.v3_url})
        self.stdout.write(_("Jobs base URL (v4):      %(url)s") % {"url": sandbox.v4_url})
        self.stdout.write(_("Kling API base URL:      %(url)s") % {"url": sandbox.kling_url})
        self.stdout.write(_("fal queue URL:           %(url)s") % {"url": sandbox.fal_url})
        self.stdout.write(_("Replicate base URL:      %(url)s") % {"url": sandbox.replicate_url})
        self.stdout.write(_("API key:                 %(key)s") % {"key": sandbox.api_key})
        self.stdout.write(_("Press Ctrl-C to stop."))
        try:
            self.wait_for_interrupt()
        except KeyboardInterrupt:
            self.stdout.write(_("Stopping the sandbox."))
        finally:
            sandbox.stop()

    def wait_for_interrupt(self) -> None:
        """Block until Ctrl-C (raises ``KeyboardInterrupt``); the server runs in its threads."""
        while True:
            time.sleep(1)
