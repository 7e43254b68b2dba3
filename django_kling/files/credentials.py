"""C2PA content credentials: a signed manifest saying "made by a trained model", in the file.

The EU AI Act (Article 50(2)) asks that generated video be marked as such in a machine-readable
way; a C2PA manifest embedded in the MP4 (and in its JPEG poster) is the common form. The
manifest declares the ``c2pa.created`` action with IPTC's digital source type
``trainedAlgorithmicMedia``, the model and provider as the software agent, the generation time,
and the source image(s) as ingredients, by their SHA-256 (a thumbnail of their pixels only when
``CONTENT_CREDENTIALS["SOURCE_THUMBNAIL"]`` says so). The C2PA library binds the manifest to the
bytes (``c2pa.hash.bmff`` for MP4): one changed byte and the manifest no longer validates.

The signing certificate chain and private key are read from files named in the settings (never
the database) each time a file is signed, so a renewed certificate is used without a restart.
``c2pa`` (the ``c2pa-python`` package, the ``[c2pa]`` extra) is imported only here and only
when signing is configured.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

from django.utils.translation import gettext as _

from .. import __version__
from ..conf import kling_settings
from ..exceptions import SigningError
from .checksums import size_and_sha256

#: IPTC's term for media made by a trained model (the C2PA spec's digitalSourceType values).
TRAINED_ALGORITHMIC_MEDIA = (
    "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia")
CREATED = "c2pa.created"
#: Where the ingredient's SHA-256 goes (the ingredient assertion has no field for a hash of
#: an asset that is not embedded; custom metadata keys are namespaced by reverse domain).
SHA256_KEY = "org.django_kling.sha256"
ALGORITHMS = ("es256", "es384", "es512", "ps256", "ps384", "ps512", "ed25519")


@dataclass(frozen=True)
class Ingredient:
    """A file the clip was made from: the source image (and the last frame, if any)."""

    title: str
    mime: str
    sha256: str
    #: Opens the file's bytes; called only when thumbnails of the sources are on.
    open: Callable[[], IO[bytes]] | None = None


@dataclass(frozen=True)
class Provenance:
    """What the manifest says about a generated file."""

    software_agent: str  # the model and the provider that ran it
    created: datetime
    ingredients: tuple[Ingredient, ...] = field(default_factory=tuple)


def configured() -> bool:
    """Whether a certificate and a key are configured (signing is then attempted)."""
    conf = kling_settings.CONTENT_CREDENTIALS
    return bool(conf["CERTIFICATE"] and conf["PRIVATE_KEY"])


def library_available() -> bool:
    try:
        import c2pa  # noqa: F401
    except ImportError:
        return False
    return True


def manifest_definition(provenance: Provenance, *, title: str, mime: str) -> dict[str, Any]:
    """The manifest's JSON definition (the C2PA library adds the hash and signature)."""
    action = {
        "action": CREATED,
        "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
        "softwareAgent": {"name": provenance.software_agent},
        "when": provenance.created.isoformat(),
    }
    definition: dict[str, Any] = {
        "claim_generator_info": [{"name": "django-kling", "version": __version__}],
        "title": title,
        "format": mime,
        "assertions": [{"label": "c2pa.actions.v2", "data": {"actions": [action]}}],
    }
    if not _thumbnails():
        definition["ingredients"] = [_ingredient_json(item) for item in provenance.ingredients]
    return definition


def _ingredient_json(item: Ingredient) -> dict[str, Any]:
    found: dict[str, Any] = {"title": item.title, "format": item.mime,
                             "relationship": "inputTo"}
    if item.sha256:
        found["metadata"] = {SHA256_KEY: item.sha256}
    return found


def _thumbnails() -> bool:
    return bool(kling_settings.CONTENT_CREDENTIALS["SOURCE_THUMBNAIL"])


def _read(path: str, what: str) -> str:
    try:
        with open(path, encoding="ascii") as fh:
            return fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        # The path is configuration, not a secret; the file's content never goes in a message.
        raise SigningError(_("The %(what)s file %(path)s cannot be read (%(error)s).")
                           % {"what": what, "path": path, "error": type(exc).__name__}) from exc


def _signer() -> Any:
    try:
        import c2pa
    except ImportError as exc:
        raise SigningError(_("The c2pa-python package is not installed "
                             "(pip install django-kling[c2pa]).")) from exc
    conf = kling_settings.CONTENT_CREDENTIALS
    chain = _read(os.fspath(conf["CERTIFICATE"]), _("certificate"))
    key = _read(os.fspath(conf["PRIVATE_KEY"]), _("private key"))
    try:
        info = c2pa.C2paSignerInfo(alg=str(conf["ALGORITHM"]).lower(),
                                   sign_cert=chain.encode(), private_key=key.encode(),
                                   ta_url=conf["TSA_URL"] or None)
        return c2pa.Signer.from_info(info)
    except Exception as exc:  # noqa: BLE001  (the library's messages may quote the key: not kept)
        raise SigningError(_("The certificate or private key was refused (%(error)s).")
                           % {"error": type(exc).__name__}) from exc


#: The C2PA library's settings for our manifests: no claim thumbnail of the signed file itself
#: (the poster would carry a second copy of its own picture, and making it took 80 ms of a
#: 1080p poster's 85 ms of signing, bench/signing.py).
SDK_SETTINGS = {"builder": {"thumbnail": {"enabled": False}}}


def _builder(provenance: Provenance, *, title: str, mime: str) -> Any:
    import c2pa

    # With thumbnails of the sources asked for, the library's defaults (which make them).
    context = None if _thumbnails() else c2pa.Context.from_dict(SDK_SETTINGS)
    builder = c2pa.Builder(manifest_definition(provenance, title=title, mime=mime), context)
    if _thumbnails():
        for item in provenance.ingredients:
            if item.open is None:
                continue
            with item.open() as source:
                builder.add_ingredient(_ingredient_json(item), item.mime, source)
    return builder


def sign_stream(source: IO[bytes], dest: IO[bytes], *, mime: str, title: str,
                provenance: Provenance) -> None:
    """Write ``source`` with an embedded, signed manifest to ``dest`` (raises SigningError)."""
    signer = _signer()
    try:
        with signer:
            _builder(provenance, title=title, mime=mime).sign(signer, mime, source, dest)
    except SigningError:
        raise
    except Exception as exc:  # noqa: BLE001  (a C2PA error, an unreadable ingredient)
        raise SigningError(_("Signing failed (%(error)s).")
                           % {"error": type(exc).__name__}) from exc


def sign_file(source: str, dest: str, *, mime: str, title: str,
              provenance: Provenance) -> tuple[int, str]:
    """``sign_stream`` from path to path; returns the signed file's size and SHA-256."""
    with open(source, "rb") as src, open(dest, "w+b") as out:
        sign_stream(src, out, mime=mime, title=title, provenance=provenance)
    return size_and_sha256(dest)


def sign_bytes(data: bytes, *, mime: str, title: str, provenance: Provenance) -> bytes:
    out = io.BytesIO()
    sign_stream(io.BytesIO(data), out, mime=mime, title=title, provenance=provenance)
    return out.getvalue()


def has_manifest(source: IO[bytes], mime: str) -> bool:
    """Whether ``source`` carries a C2PA manifest (valid or not): what ``kling_sign`` skips."""
    import c2pa

    try:
        reader = c2pa.Reader.try_create(mime, source)
    except Exception:  # noqa: BLE001  (a broken manifest: there is one, it is not ours to fix)
        return True
    if reader is None:
        return False
    with contextlib.suppress(Exception):
        reader.close()
    return True
