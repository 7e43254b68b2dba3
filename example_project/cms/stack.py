"""The demo's small Wagtail site, switched on with ``KLING_WAGTAIL=1`` (``make demo-wagtail``).

``enable(globals())`` at the end of a settings module adds Wagtail's apps, the
``django_kling.contrib.wagtail`` app (before ``wagtail.images``, whose image page it extends)
and this ``cms`` app with its home page. The tests of the Wagtail integration use it too.
"""

from __future__ import annotations

from typing import Any

APPS = [
    "django_kling.contrib.wagtail",
    "cms",
    "wagtail.contrib.forms",
    "wagtail.contrib.redirects",
    "wagtail.embeds",
    "wagtail.sites",
    "wagtail.users",
    "wagtail.snippets",
    "wagtail.documents",
    "wagtail.images",
    "wagtail.search",
    "wagtail.admin",
    "wagtail",
    "modelcluster",
    "taggit",
    "django_filters",
]


def enable(settings: dict[str, Any]) -> None:
    settings["INSTALLED_APPS"] = [*settings["INSTALLED_APPS"], *APPS]
    engine = settings.get("DATABASES", {}).get("default", {}).get("ENGINE", "")
    if "postgresql" in engine and "django.contrib.postgres" not in settings["INSTALLED_APPS"]:
        # Wagtail's search index uses PostgreSQL's search fields there, which Django 6.1's
        # checks refuse without this app (postgres.E005).
        settings["INSTALLED_APPS"].append("django.contrib.postgres")
    settings["MIDDLEWARE"] = [*settings["MIDDLEWARE"],
                              "wagtail.contrib.redirects.middleware.RedirectMiddleware"]
    settings.setdefault("WAGTAIL_SITE_NAME", "Kling demo")
    settings.setdefault("WAGTAILADMIN_BASE_URL", "http://127.0.0.1:8000")
    # Uploads of the demo are small; the default (None) would pull every rendition from disk.
    settings.setdefault("WAGTAILIMAGES_MAX_UPLOAD_SIZE", 10 * 1024 * 1024)
    settings.setdefault("DATA_UPLOAD_MAX_NUMBER_FIELDS", 10_000)
