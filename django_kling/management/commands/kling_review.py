from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.utils.translation import gettext as _

from ...editorial.review import approve, feature, reject
from ...exceptions import ReviewError
from ..lookup import find_request
from ..terminal import KlingCommand


class Command(KlingCommand):
    help = _("Approve or reject a finished clip (and feature it), as a reviewer would in the "
             "admin.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("id", help=_("a request id (or its first characters)"))
        decision = parser.add_mutually_exclusive_group(required=True)
        decision.add_argument("--approve", action="store_true", help=_("approve the clip"))
        decision.add_argument("--reject", action="store_true", help=_("reject the clip"))
        parser.add_argument("--note", default="", help=_("the reviewer's note"))
        parser.add_argument("--feature", action="store_true",
                            help=_("also make the approved clip the one its object shows"))

    def handle(self, *args: Any, **options: Any) -> None:
        job = find_request(options["id"])
        if options["feature"] and not options["approve"]:
            raise CommandError(_("--feature goes with --approve."))
        try:
            if options["approve"]:
                job = approve(job, note=options["note"])
                if options["feature"]:
                    job = feature(job)
            else:
                job = reject(job, note=options["note"])
        except ReviewError as exc:
            raise CommandError(f"{exc.message} [{exc.code}]") from None
        self.stdout.write(_("%(id)s: %(review)s%(featured)s.") % {
            "id": job.pk, "review": job.get_review_status_display(),
            "featured": _(", featured") if job.featured else ""})
