from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser
from django.utils import timezone
from django.utils.translation import gettext as _

from ...models import VideoRequest
from ..lookup import find_request
from ..terminal import KlingCommand


class Command(KlingCommand):
    help = _("Show recent video requests, or one request in full.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("id", nargs="?", help=_("a request id (or its first characters)"))
        parser.add_argument("--limit", type=int, default=20)
        parser.add_argument("--status", help=_("only requests in this status"))

    def handle(self, *args: Any, **options: Any) -> None:
        if options["id"]:
            self.show(self.find(options["id"]))
            return
        qs = VideoRequest.objects.all()
        if options["status"]:
            qs = qs.filter(status=options["status"])
        rows = list(qs[: options["limit"]])
        self.stdout.write(f"{'id':36}  {'status':10}  {'dur':>3}  {'aspect':6}  {'sound':5}  "
                          f"{'age':>8}  error")
        now = timezone.now()
        for job in rows:
            age = int((now - job.created_at).total_seconds())
            self.stdout.write(
                f"{job.pk!s:36}  {job.status:10}  {job.duration:>3}  {job.aspect_ratio:6}  "
                f"{'on' if job.generate_audio else 'off':5}  {age:>7}s  {job.error_code}")
        if not rows:
            self.stdout.write(_("No video requests."))

    def find(self, prefix: str) -> VideoRequest:
        return find_request(prefix, VideoRequest.objects.select_related("video", "poster"))

    def show(self, job: VideoRequest) -> None:
        fields = [
            ("id", job.pk), ("status", job.status), ("source", job.source_object or "-"),
            ("prompt", job.prompt), ("negative prompt", job.negative_prompt),
            ("duration", job.duration), ("aspect ratio", job.aspect_ratio), ("mode", job.mode),
            ("sound", job.generate_audio), ("language", job.language or "-"),
            ("seed", job.seed if job.seed is not None else "-"),
            ("variant group", job.variant_group or "-"),
            ("review", f"{job.review_status}{', featured' if job.featured else ''}"
                       f"{f' ({job.review_note})' if job.review_note else ''}"),
            ("provider", f"{job.provider} ({job.protocol})"),
            ("model", job.model), ("operation", job.operation_id or "-"),
            ("status calls", job.poll_count), ("submit attempts", job.submit_attempts),
            ("estimated cost", job.estimated_cost), ("reported cost", job.reported_cost),
            ("created", job.created_at), ("submitted", job.submitted_at),
            ("finished", job.finished_at),
            ("video", job.video.file.name if job.video else "-"),
            ("poster", job.poster.file.name if job.poster else "-"),
            ("warnings", len(job.warnings)),
            ("error", f"{job.error_message} [{job.error_code}]" if job.error_code else "-"),
        ]
        for label, value in fields:
            self.stdout.write(f"{label:>16}: {value}")
