"""Finding a request from what an operator types: its id or the first characters of it."""

from __future__ import annotations

from django.core.management.base import CommandError
from django.utils.translation import gettext as _

from ..models import VideoRequest


def find_request(prefix: str, queryset=None) -> VideoRequest:
    """The request whose id starts with ``prefix``, or a ``CommandError`` saying why not."""
    queryset = VideoRequest.objects.all() if queryset is None else queryset
    try:
        return queryset.by_id_prefix(prefix)
    except (VideoRequest.DoesNotExist, VideoRequest.MultipleObjectsReturned):
        raise CommandError(_("No single video request matches %(id)s.") % {"id": prefix}) from None
