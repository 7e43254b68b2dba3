from __future__ import annotations

import signal
import threading
from typing import Any

from django.core.management.base import CommandParser
from django.utils.translation import gettext as _

from ...flow.sync import default_grace, sync
from ..terminal import KlingCommand


class Command(KlingCommand):
    help = _("Re-enqueue video requests whose work was lost or never enqueued (safe from cron).")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--grace", type=float,
                            help=_("seconds overdue before a job counts as stuck "
                                   "(default: %(default)s)") % {"default": default_grace()})
        parser.add_argument("--dry-run", action="store_true")
        parser.add_argument("--loop", action="store_true",
                            help=_("then run the polling scheduler until stopped (SIGTERM or "
                                   "Ctrl-C): for workers without the Scheduler middleware"))

    def handle(self, *args: Any, **options: Any) -> None:
        report = sync(options["grace"], dry_run=options["dry_run"])
        for step, ids in sorted(report.requeued.items()):
            for pk in ids:
                self.stdout.write(f"{step:7} {pk}")
        self.stdout.write(_("%(count)s request(s) re-enqueued.") % {"count": report.count})
        if options["loop"] and not options["dry_run"]:
            self.loop()

    def loop(self) -> None:
        from ...flow.scheduler import Scheduler

        stopped = threading.Event()
        for number in (signal.SIGTERM, signal.SIGINT):
            signal.signal(number, lambda *_args: stopped.set())
        scheduler = Scheduler().start()
        self.stdout.write(_("Polling running jobs; stop with SIGTERM or Ctrl-C."))
        stopped.wait()
        scheduler.stop()
        self.stdout.write(_("Stopped."))
