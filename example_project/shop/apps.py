import logging
import os
import sys
import threading
import time

from django.apps import AppConfig
from django.conf import settings

logger = logging.getLogger("shop")


class ShopConfig(AppConfig):
    name = "shop"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import receivers  # noqa: F401  (connects the signal receivers)

        if not settings.KLING_DEMO or not _serves_jobs():
            return
        start_demo_services()


def _serves_jobs() -> bool:
    # Only processes that create or run jobs need the sandbox: not migrate, shell, tests...
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    reloader_parent = command == "runserver" and os.environ.get("RUN_MAIN") != "true" and (
        "--noreload" not in sys.argv)
    return command in {"runserver", "kling_generate"} and not reloader_parent


def start_demo_services() -> None:
    """Demo mode: the sandbox plays the provider, and a worker thread runs the jobs."""
    from django_kling.conf import kling_settings
    from django_kling.testing.sandbox import Sandbox

    scale = float(os.environ.get("KLING_SANDBOX_SCALE", "1.0"))
    delay = float(os.environ.get("KLING_SANDBOX_DELAY", "3"))
    key = settings.DJANGO_KLING["PROVIDERS"]["gateway"]["API_KEY"]
    sandbox = Sandbox(api_key=key, delay=delay, render_scale=scale).start()
    # The port is only known now, so the setting is completed here rather than in settings.py.
    providers = settings.DJANGO_KLING["PROVIDERS"]
    providers["gateway"]["BASE_URL"] = sandbox.v4_url
    # The other hosts of the model, each at its own routes on the same sandbox
    # (``kling_generate IMAGE --provider kling --wait``).
    providers.setdefault("kling", {}).update(API_KEY=key, BASE_URL=sandbox.kling_url)
    providers.setdefault("fal", {}).update(API_KEY=key, QUEUE_URL=sandbox.fal_url,
                                           JWKS_URL=sandbox.fal_jwks_url)
    providers.setdefault("replicate", {}).update(API_TOKEN=key, BASE_URL=sandbox.replicate_url)
    kling_settings.reload()
    logger.info("demo sandbox at %s", sandbox.v4_url)
    if sys.argv[1] == "runserver":
        # The worker and the start-up sync touch the database: not from AppConfig.ready()
        # (Django warns), but once every app is ready.
        threading.Thread(target=_serve_jobs_when_ready, name="demo-worker-start",
                         daemon=True).start()


def _serve_jobs_when_ready() -> None:
    from django.apps import apps

    from django_kling.flow.sync import sync
    from django_kling.testing.worker import start_embedded_worker

    while not apps.ready:
        time.sleep(0.05)
    start_embedded_worker()
    # The in-memory queue died with the last process; the database knows what was left.
    try:
        sync(grace=0)
    except Exception:  # noqa: BLE001  (tables may not exist before the first migrate)
        logger.info("kling_sync skipped at start (run migrate first)")
