from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser
from django.utils.translation import gettext as _

from ...editorial.preset_defaults import install_default_presets
from ...video_presets import VideoPreset
from ..terminal import KlingCommand


class Command(KlingCommand):
    help = _("List the video presets, or install the starting set.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--install-defaults", action="store_true",
                            help=_("add the default presets that are missing (existing slugs "
                                   "are left as they are)"))

    def handle(self, *args: Any, **options: Any) -> None:
        if options["install_defaults"]:
            created = install_default_presets()
            self.stdout.write(_("Installed %(count)d preset(s).") % {"count": len(created)})
        for preset in VideoPreset.objects.all():
            self.stdout.write(f"{preset.slug}\t{preset.name}\t{preset.formats}\t"
                              f"{preset.duration}s {preset.mode}"
                              f"{' sound' if preset.sound else ''}")
