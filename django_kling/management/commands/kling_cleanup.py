from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser
from django.utils import timezone
from django.utils.translation import gettext as _

from ...editorial.cleanup import expired_clips, remove_clip_files
from ...flow import staging
from ...models import ReviewStatus
from ..terminal import KlingCommand


class Command(KlingCommand):
    help = _("Delete the files of long-rejected clips and of variants nobody picked (rows stay, "
             "with a note). Safe to run from cron.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true",
                            help=_("list what would be deleted, delete nothing"))
        parser.add_argument("--orphans", action="store_true",
                            help=_("instead, delete the files workers began to store and never "
                                   "committed (they died), once their request has ended"))
        parser.add_argument("--grace", type=float, default=None,
                            help=_("with --orphans: seconds such a file is kept (default: "
                                   "ORPHAN_GRACE)"))

    def handle(self, *args: Any, **options: Any) -> None:
        if options["orphans"]:
            self._orphans(options["grace"], dry_run=options["dry_run"])
            return
        today = timezone.now().date().isoformat()
        count = 0
        for job in expired_clips().select_related("video"):
            reason = (_("rejected") if job.review_status == ReviewStatus.REJECTED
                      else _("a variant never approved nor featured"))
            size = job.video.size if job.video is not None else 0
            self.stdout.write(f"{job.pk}\t{reason}\t{size}")
            if not options["dry_run"]:
                remove_clip_files(job, _("Files deleted by kling_cleanup on %(date)s: "
                                         "%(reason)s.") % {"date": today, "reason": reason})
            count += 1
        message = (_("%(count)d clip(s) would lose their files (dry run).") if options["dry_run"]
                   else _("%(count)d clip(s) lost their files; the rows are kept."))
        self.stdout.write(message % {"count": count})

    def _orphans(self, grace: float | None, *, dry_run: bool) -> None:
        removed = staging.remove_orphans(grace, dry_run=dry_run)
        for name in removed:
            self.stdout.write(name)
        message = (_("%(count)d staged file(s) would be deleted (dry run).") if dry_run
                   else _("%(count)d staged file(s) deleted."))
        self.stdout.write(message % {"count": len(removed)})
