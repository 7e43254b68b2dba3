"""List filters whose choices come from the app's own lists, not from the table.

Django's filter for a plain column (``AllValuesFieldListFilter``) runs ``SELECT DISTINCT`` over
every row to build its choices: with 100,000 jobs queued behind a concurrency cap, the request
list paid two such scans (provider, model) on each page view (``bench.waiting``).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from ..conf import PROVIDER_OPTIONS
from ..options import KlingModel


class KnownValuesFilter(admin.SimpleListFilter):
    """Filter a column by the values the app knows of (``known()``), same URL parameter as
    Django's own filter for that column."""

    def known(self) -> list[tuple[str, Any]]:
        raise NotImplementedError

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return self.known()

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        return queryset.filter(**{self.parameter_name: value}) if value else queryset


class ProviderFilter(KnownValuesFilter):
    title = _("provider")
    parameter_name = "provider"

    def known(self) -> list[tuple[str, Any]]:
        return [(name, name) for name in PROVIDER_OPTIONS]


class ModelFilter(KnownValuesFilter):
    title = _("model")
    parameter_name = "model"

    def known(self) -> list[tuple[str, Any]]:
        return list(KlingModel.choices)
