from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser
from django.utils.translation import gettext as _

from ...clip_renditions import Rendition, RenditionStatus
from ...flow import dispatch, renditions, stored_clips
from ...models import Status, VideoRequest
from ..terminal import KlingCommand


class Command(KlingCommand):
    help = _("Make the renditions (RENDITIONS) of clips stored before, and move their index "
             "first (faststart). Safe to run again: what is made is skipped.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--queue", action="store_true",
                            help=_("queue the renditions for the workers instead of making "
                                   "them in this process"))
        parser.add_argument("--retry-failed", action="store_true",
                            help=_("try the renditions that ended failed again"))
        parser.add_argument("--no-faststart", action="store_true",
                            help=_("leave the stored clips' files as they are"))
        parser.add_argument("--dry-run", action="store_true",
                            help=_("list the clips that would get renditions, change nothing"))

    def handle(self, *args: Any, **options: Any) -> None:
        jobs = VideoRequest.objects.filter(status=Status.SUCCEEDED, video__isnull=False) \
            .select_related("video").order_by("created_at")
        made = moved = 0
        for job in jobs.iterator(chunk_size=200):
            video = job.video
            if options["dry_run"]:
                self.stdout.write(f"{job.pk}\t{video.width}x{video.height}")
                continue
            if not options["no_faststart"] and stored_clips.remux_stored(job, video):
                moved += 1
            if options["retry_failed"]:
                Rendition.objects.filter(clip=video, status=RenditionStatus.FAILED).update(
                    status=RenditionStatus.PENDING, attempts=0, error="")
            for row in renditions.plan_rows(video):
                if row.status != RenditionStatus.PENDING:
                    continue
                if options["queue"]:
                    dispatch.send("rendition", row.pk)
                    made += 1
                    continue
                try:
                    made += renditions.make(row.pk)
                except Exception as exc:  # noqa: BLE001  (reported; the next one goes on)
                    self.stderr.write(f"{job.pk}\t{row.name}\t{type(exc).__name__}")
        message = (_("%(count)d rendition(s) queued, %(moved)d clip(s) made faststart.")
                   if options["queue"] else
                   _("%(count)d rendition(s) made, %(moved)d clip(s) made faststart."))
        self.stdout.write(message % {"count": made, "moved": moved})
