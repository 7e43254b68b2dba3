from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.utils.translation import gettext as _

from ...exceptions import InvalidInput
from ...jobs import retry_video_request
from ..lookup import find_request
from ..terminal import KlingCommand


class Command(KlingCommand):
    help = _("Queue a new request with the same inputs as a failed or canceled one.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("id", help=_("a request id (or its first characters)"))

    def handle(self, *args: Any, **options: Any) -> None:
        job = find_request(options["id"])
        if job.status == "succeeded":
            raise CommandError(_("%(id)s succeeded; another take would be paid again. "
                                 "Use kling_generate for a new clip.") % {"id": job.pk})
        try:
            retried = retry_video_request(job)
        except InvalidInput as exc:
            raise CommandError(f"{exc.message} [{exc.code}]") from None
        self.stdout.write(_("Queued %(new)s (a retry of %(old)s).")
                          % {"new": retried.pk, "old": job.pk})
