from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.utils.translation import gettext as _

from ...exceptions import SigningError
from ...files import credentials
from ...flow import signing
from ...models import Status, VideoRequest
from ..lookup import find_request
from ..terminal import KlingCommand


class Command(KlingCommand):
    help = _("Sign with C2PA content credentials the stored clips and posters that carry none "
             "yet (made before signing was configured, or whose signing failed). Files already "
             "signed are skipped, so running it again does no harm.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("ids", nargs="*", help=_("request ids (or their first characters); "
                                                     "default: every succeeded request"))

    def handle(self, *args: Any, **options: Any) -> None:
        if not credentials.configured():
            raise CommandError(_("No signing certificate is configured: set "
                                 "DJANGO_KLING['CONTENT_CREDENTIALS'] (see the manual's AI "
                                 "disclosure page)."))
        queryset = VideoRequest.objects.filter(status=Status.SUCCEEDED, video__isnull=False)\
            .select_related("video", "poster", "first_frame", "last_frame").order_by("created_at")
        jobs = [find_request(prefix, queryset) for prefix in options["ids"]] or \
            queryset.iterator(chunk_size=100)
        counts = {signing.SIGNED: 0, signing.ALREADY: 0, "failed": 0}
        for job in jobs:
            try:
                done = signing.sign_stored(job)
            except SigningError as exc:
                counts["failed"] += 1
                self.stderr.write(f"{job.pk}: {exc.message}")
                continue
            clip = done["video"]
            if clip in counts:
                counts[clip] += 1
            if clip == signing.SIGNED or options["verbosity"] > 1:
                self.stdout.write(f"{job.pk}: {clip}")
        self.stdout.write(_("%(signed)d clip(s) signed, %(already)d already signed, "
                            "%(failed)d failed.") % {
            "signed": counts[signing.SIGNED], "already": counts[signing.ALREADY],
            "failed": counts["failed"]})
        if counts["failed"]:
            raise CommandError(_("Some clips could not be signed (see above)."))
