from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.utils.translation import gettext as _

from ...conf import kling_settings
from ...editorial.batches import preset_options, start_batch
from ...editorial.preset_jobs import create_preset_requests
from ...exceptions import InvalidInput
from ...jobs import create_video_request, resolve_source, variants_of
from ...models import Status, VideoRequest
from ...options import ASPECT_RATIOS, DURATIONS, LANGUAGES, MAX_VARIANTS, MODES
from ...options.generation import GenerationOptions
from ...options.shots import parse_shot, parse_shots_json
from ...providers import REGISTRY
from ...testing.worker import start_embedded_worker, uses_in_memory_broker
from ...video_presets import VideoPreset
from ..batch_progress import follow_batch, select_objects
from ..terminal import KlingCommand


class Command(KlingCommand):
    help = _("Generate a video from an image file or from an object's image field.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("image", help=_("an image file, or app_label.Model:pk[:field]; "
                                            "with --all, app_label.Model[:field]"))
        parser.add_argument("--all", action="store_true",
                            help=_("a batch: a clip for every object of the model (or those "
                                   "--filter selects), its jobs made in the background"))
        parser.add_argument("--filter", action="append", default=[], metavar="FIELD=VALUE",
                            help=_("with --all: only objects whose field has this value "
                                   "(repeatable; Django lookups such as price__lt=10 work)"))
        parser.add_argument("--prompt", default="", help=_("what should move, and how it sounds"))
        parser.add_argument("--negative-prompt", default="")
        parser.add_argument("--last-frame", help=_("an image file for the last frame"))
        parser.add_argument("--duration", type=int, choices=DURATIONS)
        parser.add_argument("--aspect-ratio", choices=ASPECT_RATIOS)
        parser.add_argument("--mode", choices=MODES)
        parser.add_argument("--model", help=_("the model id, one of DJANGO_KLING['MODELS'] "
                                              "(default: the provider's MODEL)"))
        parser.add_argument("--no-sound", action="store_true", help=_("generate a silent clip"))
        parser.add_argument("--seed", type=int)
        parser.add_argument("--variants", type=int, default=1,
                            choices=range(1, MAX_VARIANTS + 1),
                            help=_("make this many takes (the model varies each one)"))
        parser.add_argument("--preset", help=_("the slug of a video preset (see kling_presets)"))
        parser.add_argument("--language", choices=LANGUAGES,
                            help=_("the language the clip speaks (the preset's line in it)"))
        parser.add_argument("--voice", action="append", default=[], metavar="NAME",
                            help=_("a voice (by name) that says the spoken line, where the "
                                   "model and provider take voices (repeatable: at most 2)"))
        parser.add_argument("--spoken-line", default="",
                            help=_("a line the clip says, in --language"))
        parser.add_argument("--shot", action="append", default=[], metavar="PROMPT|SECONDS",
                            help=_("a shot of a multi-shot prompt (Kling v3.0), e.g. "
                                   "\"The bag turns|3\" (repeatable: 2 to 6, their seconds "
                                   "adding up to --duration)"))
        parser.add_argument("--shots-json", metavar="FILE",
                            help=_("the shots as a JSON file: [{\"prompt\": ..., "
                                   "\"duration\": seconds}, ...]"))
        parser.add_argument("--provider", choices=sorted(REGISTRY),
                            help=_("the provider to send it to (default: the configured one)"))
        parser.add_argument("--wait", action="store_true",
                            help=_("follow the job to its end; exit non-zero if it fails"))
        parser.add_argument("--timeout", type=float,
                            help=_("seconds --wait waits at most (default: the job deadline)"))

    def handle(self, *args: Any, **options: Any) -> None:
        if options["all"]:
            return self.batch(options)
        try:
            jobs = self.create(options)
        except InvalidInput as exc:
            raise CommandError(f"{exc.message} [{exc.code}]") from None
        for job in jobs:
            self.stdout.write(_("Queued %(id)s (%(model)s, %(duration)ss, %(aspect)s, %(mode)s, "
                                "sound %(sound)s, seed %(seed)s, estimated %(cost)s "
                                "%(currency)s)") % {
                "id": job.pk, "model": job.model, "duration": job.duration,
                "aspect": job.aspect_ratio, "mode": job.mode,
                "sound": _("on") if job.generate_audio else _("off"),
                "seed": job.seed if job.seed is not None else "-",
                "cost": job.estimated_cost, "currency": kling_settings.CURRENCY})
        if options["wait"]:
            failed = [job for job in jobs if not self.wait(job, options["timeout"])]
            if failed:
                raise CommandError(" / ".join(f"{job.get_status_display()}: "
                                              f"{job.error_message} [{job.error_code}]"
                                              for job in failed))

    def create(self, options: dict[str, Any]) -> list[VideoRequest]:
        spec = options["image"]
        sound = False if options["no_sound"] else None
        common = {
            "prompt": options["prompt"], "negative_prompt": options["negative_prompt"],
            "duration": options["duration"], "mode": options["mode"], "sound": sound,
            "seed": options["seed"], "model": options["model"], "provider": options["provider"],
            "voices": self.voices(options["voice"]), "shots": self.shots(options),
            "last_frame": self.read(options["last_frame"], "last_frame")
            if options["last_frame"] else None,
        }
        if Path(spec).is_file():
            source: dict[str, Any] = {"image": self.read(spec, "image")}
        elif ":" not in spec:
            raise InvalidInput(_("%(path)s is not a file.") % {"path": spec},
                               code="image_missing", field="image")
        else:
            obj, field_name = resolve_source(spec)
            source = {"source": obj, "field_name": field_name}
        if options["preset"]:
            preset = self.preset(options["preset"])
            overrides = {name: common.pop(name) for name in
                         ("prompt", "negative_prompt", "duration", "mode", "sound", "model",
                          "seed", "provider", "voices", "shots")}
            for name in ("voices", "shots"):
                if not overrides[name]:
                    del overrides[name]  # the preset's voice and shots stand
            if options["spoken_line"]:
                overrides["spoken_line"] = options["spoken_line"]
            formats = [options["aspect_ratio"]] if options["aspect_ratio"] else None
            return create_preset_requests(preset, languages=[options["language"]],
                                          variants=options["variants"], formats=formats,
                                          overrides=overrides, **source, **common)
        last_frame = common.pop("last_frame")
        chosen = GenerationOptions(**common, aspect_ratio=options["aspect_ratio"],
                                   language=options["language"],
                                   spoken_line=options["spoken_line"],
                                   variants=options["variants"])
        first = create_video_request(**source, last_frame=last_frame, options=chosen)
        return list(variants_of(first))

    def shots(self, options: dict[str, Any]) -> tuple[Any, ...]:
        """The shots of ``--shot`` (``"prompt|seconds"``, repeated) or ``--shots-json``; checked
        with the request (``GenerationOptions``)."""
        if options["shot"] and options["shots_json"]:
            raise InvalidInput(_("Give the shots with --shot or with --shots-json, not both."),
                               code="shot_invalid", field="shots")
        if options["shots_json"]:
            try:
                text = Path(options["shots_json"]).read_text("utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise InvalidInput(_("%(path)s could not be read (%(error)s).") % {
                    "path": options["shots_json"], "error": type(exc).__name__},
                    code="shot_invalid", field="shots") from None
            return tuple(parse_shots_json(text))
        return tuple(parse_shot(text) for text in options["shot"])

    def voices(self, names: list[str]) -> tuple[int, ...]:
        """The primary keys of the voices named ``names``, in order."""
        from ...voices import Voice

        found = {voice.name: voice.pk for voice in Voice.objects.filter(name__in=names)}
        for name in names:
            if name not in found:
                raise InvalidInput(_("There is no voice named “%(name)s”.") % {"name": name},
                                   code="voice_invalid", field="voices")
        return tuple(found[name] for name in names)

    def batch(self, options: dict[str, Any]) -> None:
        if options["last_frame"]:
            raise CommandError(_("A batch takes no --last-frame (each object has its own image)."))
        if options["variants"] != 1:
            raise CommandError(_("A batch makes one clip per object; --variants works on one "
                                 "object (app_label.Model:pk)."))
        chosen = {"prompt": options["prompt"], "negative_prompt": options["negative_prompt"],
                  "duration": options["duration"], "aspect_ratio": options["aspect_ratio"],
                  "mode": options["mode"], "sound": False if options["no_sound"] else None,
                  "model": options["model"], "provider": options["provider"],
                  "language": options["language"], "spoken_line": options["spoken_line"]}
        try:
            if shots := self.shots(options):  # none: a preset's shots stand
                chosen["shots"] = list(shots)
            if options["preset"]:
                chosen = preset_options(self.preset(options["preset"]),
                                        language=options["language"] or "", overrides=chosen)
            queryset, field_name = select_objects(options["image"], options["filter"])
            batch = start_batch(
                queryset.model, list(queryset.values_list("pk", flat=True)),
                field_name=field_name,
                selection=" ".join([options["image"], *options["filter"]]), options=chosen)
        except InvalidInput as exc:
            raise CommandError(f"{exc.message} [{exc.code}]") from None
        self.stdout.write(_("Batch %(id)s: %(count)s objects, estimated %(cost)s %(currency)s")
                          % {"id": batch.pk, "count": batch.size,
                             "cost": batch.estimated_cost,
                             "currency": kling_settings.CURRENCY})
        if uses_in_memory_broker():
            start_embedded_worker()
        follow_batch(self.stdout, batch, until_done=options["wait"],
                     timeout=options["timeout"] or kling_settings.DEADLINE + 120)

    def preset(self, slug: str) -> VideoPreset:
        preset = VideoPreset.objects.filter(slug=slug).first()
        if preset is None:
            raise InvalidInput(_("There is no preset %(slug)s; kling_presets lists them.")
                               % {"slug": slug}, code="preset_missing", field="preset")
        return preset

    def read(self, path: str, field: str) -> bytes:
        try:
            return Path(path).read_bytes()
        except OSError as exc:
            raise InvalidInput(_("Cannot read %(path)s: %(error)s")
                               % {"path": path, "error": exc.strerror},
                               code="image_missing", field=field) from None

    def wait(self, job: VideoRequest, timeout: float | None) -> bool:
        """Follow ``job`` to its end; True if it succeeded."""
        if uses_in_memory_broker():
            start_embedded_worker()
        limit = time.monotonic() + (timeout or kling_settings.DEADLINE + 120)
        last = None
        while True:
            job.refresh_from_db()
            if job.status != last:
                self.stdout.write(f"{job.get_status_display()}")
                last = job.status
            if job.is_final:
                break
            if time.monotonic() > limit:
                raise CommandError(_("Still %(status)s after waiting; see kling_status %(id)s")
                                   % {"status": job.status, "id": job.pk})
            time.sleep(0.25)
        if job.status != Status.SUCCEEDED:
            return False
        video = job.video
        self.stdout.write(
            _("Succeeded: %(name)s (%(width)sx%(height)s, %(duration).2fs, %(fps)g fps, "
              "audio %(audio)s, %(size)s bytes); poster %(poster)s") % {
                "name": video.file.name, "width": video.width, "height": video.height,
                "duration": video.duration, "fps": video.fps,
                "audio": _("yes") if video.has_audio else _("no"), "size": video.size,
                "poster": job.poster.file.name}, self.style.SUCCESS)
        return True
