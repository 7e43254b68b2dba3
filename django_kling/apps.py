from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class KlingConfig(AppConfig):
    name = "django_kling"
    label = "django_kling"
    verbose_name = _("Kling videos")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (importing checks registers them)
        from .editorial import cleanup
        from .flow import renditions
        from .signals import video_ready

        cleanup.connect()
        video_ready.connect(renditions.on_video_ready, dispatch_uid="django_kling.renditions")
