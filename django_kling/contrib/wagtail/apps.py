from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class KlingWagtailConfig(AppConfig):
    name = "django_kling.contrib.wagtail"
    label = "django_kling_wagtail"
    verbose_name = _("Kling videos for Wagtail")

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)
