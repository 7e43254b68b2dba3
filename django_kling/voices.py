"""Voices: a named voice with the id each provider knows it by, and the voices of a request.

Kling v2.6 pro and v3.0 speak a spoken line in a chosen voice (Kling's ``voice_list``, the
gateway's ``providerOptions.klingai.voiceList``, fal's ``voice_ids``: at most two, referenced in
the prompt as ``<<<voice_1>>>``; see ``django_kling.capabilities``). The gateway passes Kling's
own voice ids on, so a voice usually has the same id for ``gateway`` and ``kling``; fal keeps
its own. A voice without an id on a provider is never sent there (the fallback order skips the
provider, ``voice_not_on_provider``).

Its own module: ``models.py`` is full, and this is where a request's voices are read
(:func:`voices_of`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _

from .options import Language

#: The providers a voice may have an id on: those whose routes take voices (the registry).
VOICE_PROVIDERS = ("gateway", "kling", "fal")


class Voice(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)
    language = models.CharField(_("language"), max_length=2, choices=Language.choices,
                                blank=True, help_text=_("The language the voice speaks."))
    gateway_id = models.CharField(
        _("gateway voice id"), max_length=200, blank=True,
        help_text=_("Kling's voice id as sent through the Vercel AI Gateway (voiceList)."))
    kling_id = models.CharField(_("Kling voice id"), max_length=200, blank=True,
                                help_text=_("The voice_id of Kling's voice_list."))
    fal_id = models.CharField(_("fal voice id"), max_length=200, blank=True,
                              help_text=_("The id fal.ai takes in voice_ids."))
    requests = models.ManyToManyField("django_kling.VideoRequest", through="RequestVoice",
                                      related_name="voices", blank=True)

    class Meta:
        app_label = "django_kling"
        ordering = ["name"]
        verbose_name = _("voice")
        verbose_name_plural = _("voices")

    def __str__(self) -> str:
        return self.name

    def id_on(self, provider: str) -> str:
        """The voice's id on ``provider`` ("" when it has none there)."""
        return str(getattr(self, f"{provider}_id", "") or "") if provider in VOICE_PROVIDERS \
            else ""

    @property
    def providers(self) -> frozenset[str]:
        """The providers this voice has an id on."""
        return frozenset(name for name in VOICE_PROVIDERS if self.id_on(name))


class RequestVoice(models.Model):
    """A voice of a request, at its place (``<<<voice_1>>>`` is position 1)."""

    request = models.ForeignKey("django_kling.VideoRequest", on_delete=models.CASCADE,
                                related_name="voice_links")
    voice = models.ForeignKey(Voice, on_delete=models.PROTECT, related_name="+")
    position = models.PositiveSmallIntegerField(default=1)

    class Meta:
        app_label = "django_kling"
        ordering = ["position"]
        constraints = [models.UniqueConstraint(fields=["request", "position"],
                                               name="django_kling_one_voice_per_place")]

    def __str__(self) -> str:
        return f"<<<voice_{self.position}>>> {self.voice_id}"


def voices_of(job: Any) -> list[Voice]:
    """The voices of a request, in their places (none for a request without)."""
    if job.pk is None or getattr(job, "has_voices", None) is False:  # known from its load
        return []
    return [link.voice for link in RequestVoice.objects.filter(request=job).select_related(
        "voice").order_by("position")]


def voice_ids_for(job: Any, provider: str) -> tuple[str, ...]:
    """The ids of a request's voices on ``provider``, in their places."""
    return tuple(voice.id_on(provider) for voice in voices_of(job))


def link_voices(jobs: Iterable[Any], voices: list[Voice]) -> None:
    """Give each of ``jobs`` the ``voices``, in their order."""
    RequestVoice.objects.bulk_create([
        RequestVoice(request=job, voice=voice, position=place)
        for job in jobs for place, voice in enumerate(voices, start=1)])


def voice_providers(voices: list[Voice]) -> frozenset[str] | None:
    """The providers every one of ``voices`` has an id on (None: no voice, any provider)."""
    if not voices:
        return None
    return frozenset.intersection(*(voice.providers for voice in voices))
