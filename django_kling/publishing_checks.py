"""Deploy checks of what is published with a clip (``checks.check_deploy`` runs them): caption
files the browser can fetch (W005), clips marked with content credentials (W007)."""

from __future__ import annotations

from typing import Any

from django.core.checks import Warning

from .conf import SETTING_NAME


def caption_cors(alias: str) -> list:
    """W005: caption files served from another origin (a bucket, a CDN) with no word that its
    CORS rule is in place: browsers would drop every caption track without an error."""
    from django.core.files.storage import FileSystemStorage, storages

    try:
        storage = storages[alias]
    except Exception:  # noqa: BLE001  (E004, or the storage's own error to report)
        return []
    if isinstance(storage, FileSystemStorage) and "://" not in (storage.base_url or ""):
        return []  # served by the site itself: same origin, no CORS involved
    return [Warning(
        f"Storage {alias!r} serves files from another origin than the site, so browsers fetch "
        "caption tracks (and, with crossorigin, the clips) from it with CORS; without a CORS "
        "rule on it they drop the captions silently.",
        hint=f"Allow GET and HEAD from your site's origin on the bucket or CDN (see "
             f"'Accessibility and AI disclosure' in the docs), then set "
             f"{SETTING_NAME}['CAPTIONS_CORS'] = True.",
        id="django_kling.W005",
    )]


def content_credentials(conf: dict[str, Any]) -> list:
    """W007: clips will be stored without C2PA content credentials (EU AI Act, Article 50)."""
    import importlib.util
    import os

    if not (conf["CERTIFICATE"] and conf["PRIVATE_KEY"]):
        problem = "no signing certificate is configured"
    elif importlib.util.find_spec("c2pa") is None:
        problem = "the c2pa-python package is not installed (pip install django-kling[c2pa])"
    elif not all(os.access(conf[key], os.R_OK) for key in ("CERTIFICATE", "PRIVATE_KEY")):
        problem = "the certificate or private key file cannot be read"
    else:
        return []
    return [Warning(
        f"Clips and posters will be stored without C2PA content credentials: {problem}. The "
        "EU AI Act (Article 50) asks that generated video be marked as such in a "
        "machine-readable way from August 2026.",
        hint=f"Set {SETTING_NAME}['CONTENT_CREDENTIALS'] to the paths of a certificate chain "
             "and its private key (see the manual's AI disclosure page); then run kling_sign "
             "for the clips made before.",
        id="django_kling.W007",
    )]
