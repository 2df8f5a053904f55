"""Signing key pairs: EC P-256 in PEM files, the private one readable by its owner only and optionally encrypted."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bastion.core import BastionError, atomic_write

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec

PASSPHRASE_VARIABLE = "BASTION_KEY_PASSPHRASE"
"""Environment variable holding the passphrase of an encrypted private key."""

PRIVATE_KEY_FILE = "private.pem"
PUBLIC_KEY_FILE = "public.pem"

# The curves the OMS/Sigstore key formats define; we generate P-256 and read all three.
_SUPPORTED_CURVES = ("secp256r1", "secp384r1", "secp521r1")


@dataclass(frozen=True)
class KeyPair:
    """Where ``generate_key_pair`` wrote a key pair."""

    private_key: Path
    """The private key (PKCS#8 PEM, mode 0600), encrypted when a passphrase was given."""
    public_key: Path
    """The public key (SubjectPublicKeyInfo PEM)."""
    encrypted: bool
    """Whether the private key is encrypted with a passphrase."""


def passphrase_from_environment() -> bytes | None:
    """The passphrase in ``BASTION_KEY_PASSPHRASE``, or None when it is unset or empty."""
    value = os.environ.get(PASSPHRASE_VARIABLE)
    return value.encode("utf-8") if value else None


def generate_key_pair(directory: Path, passphrase: bytes | None = None) -> KeyPair:
    """Write a new EC P-256 key pair to ``directory/private.pem`` (0600) and ``directory/public.pem``.

    Existing keys are never replaced: whatever they signed could no longer be verified.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    private_path, public_path = directory / PRIVATE_KEY_FILE, directory / PUBLIC_KEY_FILE
    for path in (private_path, public_path):
        if os.path.lexists(path):
            raise BastionError(f"{path}: a key is already there; move it away or choose another --out directory")
    if directory.exists() and not directory.is_dir():
        raise BastionError(f"{directory}: not a directory; give a directory for --out")
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise BastionError(f"{directory}: cannot create the key directory: {exc.strerror or exc}") from None
    key = ec.generate_private_key(ec.SECP256R1())
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    )
    private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    try:
        atomic_write(private_path, private_pem, mode=0o600)
        atomic_write(public_path, public_pem, mode=0o644)
    except OSError as exc:
        # Half a pair is no use: drop the private key if the public one could not be written.
        private_path.unlink(missing_ok=True)
        raise BastionError(f"{directory}: cannot write the key pair: {exc.strerror or exc}") from None
    return KeyPair(private_key=private_path, public_key=public_path, encrypted=passphrase is not None)


def load_private_key(path: Path, passphrase: bytes | None = None) -> ec.EllipticCurvePrivateKey:
    """The EC private key in PEM file ``path``, decrypted with ``passphrase`` when it is encrypted."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    data = _read_key_file(path, "private")
    if b"PRIVATE KEY-----" not in data:
        raise BastionError(f"{path}: not a PEM private key; give the private key (private.pem) with --key")
    encrypted = b"ENCRYPTED" in data
    if encrypted and passphrase is None:
        raise BastionError(f"{path}: the private key is encrypted; set {PASSPHRASE_VARIABLE} to its passphrase")
    try:
        key = serialization.load_pem_private_key(data, passphrase if encrypted else None)
    except ValueError:
        if encrypted:
            raise BastionError(
                f"{path}: wrong passphrase in {PASSPHRASE_VARIABLE}; the private key cannot be decrypted"
            ) from None
        raise BastionError(
            f"{path}: damaged private key (not valid PEM); generate a new pair with 'bastion keys generate'"
        ) from None
    except TypeError as exc:  # an encryption the PEM header did not announce
        raise BastionError(f"{path}: cannot load the private key: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name not in _SUPPORTED_CURVES:
        raise BastionError(f"{path}: not an EC P-256, P-384 or P-521 key; generate one with 'bastion keys generate'")
    return key


def load_public_key(path: Path) -> ec.EllipticCurvePublicKey:
    """The EC public key in PEM file ``path``."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    data = _read_key_file(path, "public")
    if b"PRIVATE KEY-----" in data:
        raise BastionError(f"{path}: this is a private key; verify with the public key (public.pem)")
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        raise BastionError(f"{path}: not a PEM public key; give the public key (public.pem) with --key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name not in _SUPPORTED_CURVES:
        raise BastionError(f"{path}: not an EC P-256, P-384 or P-521 public key")
    return key


def _read_key_file(path: Path, which: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise BastionError(f"{path}: no such {which} key file; create a pair with 'bastion keys generate --out DIR'") from None
    except IsADirectoryError:
        raise BastionError(f"{path}: is a directory; give the {which} key file with --key") from None
    except OSError as exc:
        raise BastionError(f"{path}: cannot read the {which} key: {exc.strerror or exc}") from None
