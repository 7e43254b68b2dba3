"""System checks of the Wagtail integration (``django_kling.E201`` ...)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

from ...checks import TAG

APP = "django_kling.contrib.wagtail"


@register(TAG, Tags.compatibility)
def check_wagtail_apps(app_configs: Any = None, **kwargs: Any) -> list:
    return app_order_problems(list(settings.INSTALLED_APPS))


def app_order_problems(installed: list[str]) -> list:
    """What is wrong with this ``INSTALLED_APPS`` list for the integration."""
    if APP not in installed:
        return []
    problems: list = []
    if "django_kling" not in installed:
        problems.append(Error(
            f"{APP} needs the django_kling app.",
            hint='Add "django_kling" (and "django_dramatiq") to INSTALLED_APPS.',
            id="django_kling.E201"))
    # The image page's "Generate video" button overrides one of wagtail.images' templates,
    # and Django takes the first app that has a template of that name.
    if "wagtail.images" in installed and installed.index("wagtail.images") < installed.index(APP):
        problems.append(Warning(
            f"{APP} is listed after wagtail.images: the image page will not show the "
            "Generate video button (the bulk action still works).",
            hint=f'Move "{APP}" above "wagtail.images" in INSTALLED_APPS.',
            id="django_kling.W201"))
    return problems
