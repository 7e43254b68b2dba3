from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.utils.translation import gettext as _

from ...jobs import cancel_video_request
from ..lookup import find_request
from ..terminal import KlingCommand


class Command(KlingCommand):
    help = _("Cancel a request that has not ended (the provider may still finish and bill it).")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("id", help=_("a request id (or its first characters)"))

    def handle(self, *args: Any, **options: Any) -> None:
        job = find_request(options["id"])
        if not cancel_video_request(job):
            raise CommandError(_("%(id)s has already ended (%(status)s).")
                               % {"id": job.pk, "status": job.status})
        self.stdout.write(_("Canceled %(id)s.") % {"id": job.pk})
