"""Installing the integration: its system checks, and the demo's Wagtail site from scratch."""

from __future__ import annotations

import pytest

pytest.importorskip("wagtail", reason="Wagtail is not installed (the [wagtail] extra)")

from django.urls import reverse  # noqa: E402

from django_kling.contrib.wagtail.checks import (  # noqa: E402
    APP,
    app_order_problems,
    check_wagtail_apps,
)
from tests.example_shop import manage, shop_environment  # noqa: E402


def test_the_app_before_wagtail_images_passes(settings):
    assert settings.INSTALLED_APPS.index(APP) < settings.INSTALLED_APPS.index("wagtail.images")
    assert check_wagtail_apps() == []


def test_the_app_after_wagtail_images_is_a_warning(settings):
    # (Changing INSTALLED_APPS itself would reload Wagtail's URLs, which it refuses.)
    apps = [app for app in settings.INSTALLED_APPS if app != APP]
    assert [p.id for p in app_order_problems([*apps, APP])] == ["django_kling.W201"]


def test_the_app_without_django_kling_is_an_error(settings):
    apps = [app for app in settings.INSTALLED_APPS if app != "django_kling"]
    assert [p.id for p in app_order_problems(apps)] == ["django_kling.E201"]


def test_the_demo_wagtail_site_on_sqlite(tmp_path, monkeypatch):
    """``make demo-wagtail`` from scratch: SQLite, the in-memory broker, a home page."""
    monkeypatch.setenv("KLING_WAGTAIL", "1")
    env = shop_environment(tmp_path, sandbox_delay=0.1)  # migrate + demo_setup
    assert env["KLING_WAGTAIL"] == "1" and "REDIS_URL" not in env
    home = manage("shell", "-v", "0", "-c", "from cms.models import HomePage; from wagtail.models "
                  "import Site; h = HomePage.objects.get(); print(h.url, len(h.body), "
                  "Site.objects.get(is_default_site=True).root_page_id == h.pk)", env=env)
    assert home.stdout.split() == ["/pages/", "4", "True"], home.stderr
    again = manage("demo_setup", env=env)  # idempotent
    assert again.returncode == 0 and "/pages/" in again.stdout
    assert reverse("kling_videos:index") == "/cms/kling/videos/"
