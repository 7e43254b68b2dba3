"""A self-signed development CA and a C2PA signing certificate it issued: for demos and tests.

Content credentials signed with it are structurally valid, and every C2PA reader reports the
signer as untrusted (``signingCredential.untrusted``): the CA is on no trust list. That is what
a development certificate should show; a shop publishing clips signs with a certificate from a
CA on the C2PA trust list (see the manual's "AI disclosure" page).

The leaf certificate carries what C2PA asks of a signer: the digitalSignature key usage, an
extended key usage (emailProtection), and subject and authority key identifiers; its issuer is
a CA. Needs ``cryptography`` (which ``c2pa-python`` installs).
"""

from __future__ import annotations

import datetime
import os
import shutil
import tempfile
from pathlib import Path

CHAIN_NAME = "c2pa-dev-chain.pem"
KEY_NAME = "c2pa-dev-key.pem"


def _usage(*, signs: bool, ca: bool):
    from cryptography import x509

    return x509.KeyUsage(digital_signature=signs, content_commitment=False,
                         key_encipherment=False, data_encipherment=False, key_agreement=False,
                         key_cert_sign=ca, crl_sign=ca, encipher_only=False, decipher_only=False)


def make_chain(organization: str = "django-kling development") -> tuple[bytes, bytes]:
    """A new (PEM chain: signer then CA, PEM PKCS#8 private key of the signer), ES256."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization)])

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("Development CA (untrusted)"))
          .issuer_name(name("Development CA (untrusted)")).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=3650))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(_usage(signs=False, ca=True), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                         critical=False)
          .sign(ca_key, hashes.SHA256()))
    leaf = (x509.CertificateBuilder().subject_name(name("Development content signer"))
            .issuer_name(ca.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=730))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_usage(signs=True, ca=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]),
                           critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    chain = leaf.public_bytes(pem) + ca.public_bytes(pem)
    private = key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return chain, private


def development_credentials(directory: str | os.PathLike) -> dict[str, str]:
    """The chain and key files in ``directory``, made on the first call; returns the
    ``CONTENT_CREDENTIALS`` entries that name them. Development only: never publish with it."""
    folder = Path(directory)
    chain_path, key_path = folder / CHAIN_NAME, folder / KEY_NAME
    if not (chain_path.exists() and key_path.exists()):
        # Made in a folder of its own, then renamed into place: two processes starting at once
        # never pair one's certificate with the other's key.
        folder.parent.mkdir(parents=True, exist_ok=True)
        draft = Path(tempfile.mkdtemp(prefix=".c2pa-", dir=folder.parent))
        chain, private = make_chain()
        (draft / CHAIN_NAME).write_bytes(chain)
        # The key is written readable by its owner only.
        fd = os.open(draft / KEY_NAME, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(private)
        try:
            os.rename(draft, folder)
        except OSError:  # another process was first (or an empty folder is in the way)
            shutil.rmtree(draft, ignore_errors=True)
            if not (chain_path.exists() and key_path.exists()):
                raise
    return {"CERTIFICATE": str(chain_path), "PRIVATE_KEY": str(key_path)}
