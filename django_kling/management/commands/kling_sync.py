from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser
from django.utils.translation import gettext as _

from ...sync import default_grace, sync
from ..terminal import KlingCommand


class Command(KlingCommand):
    help = _("Re-enqueue video requests whose work was lost or never enqueued (safe from cron).")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--grace", type=float,
                            help=_("seconds overdue before a job counts as stuck "
                                   "(default: %(default)s)") % {"default": default_grace()})
        parser.add_argument("--dry-run", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        report = sync(options["grace"], dry_run=options["dry_run"])
        for step, ids in sorted(report.requeued.items()):
            for pk in ids:
                self.stdout.write(f"{step:7} {pk}")
        self.stdout.write(_("%(count)s request(s) re-enqueued.") % {"count": report.count})
