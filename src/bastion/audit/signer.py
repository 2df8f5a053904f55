"""The audit key: an EC P-256 key pair under ``BASTION_HOME/keys`` that signs the log's checkpoints.

The private key is created on first use (mode 0600). Whoever can write ``BASTION_HOME`` can also replace
the public key beside it, so ``bastion audit verify --key`` takes a copy kept elsewhere; the one in
``BASTION_HOME`` only proves the log was not changed by someone without the private key.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from bastion.audit.errors import AuditError
from bastion.core import atomic_write

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey, EllipticCurvePublicKey

PRIVATE_KEY_NAME = "audit-private.pem"
PUBLIC_KEY_NAME = "audit-public.pem"


class AuditSigner:
    """Signs checkpoint statements with the audit private key."""

    def __init__(self, private_key: EllipticCurvePrivateKey) -> None:
        self._key = private_key
        self.public_key = private_key.public_key()
        self.key_id = key_id(self.public_key)

    @classmethod
    def open(cls, keys_dir: Path) -> AuditSigner:
        """The instance's audit key in ``keys_dir``, created (0600, with its public half) when absent."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        private_path = keys_dir / PRIVATE_KEY_NAME
        if private_path.exists():
            try:
                loaded = serialization.load_pem_private_key(private_path.read_bytes(), password=None)
            except (ValueError, TypeError, OSError) as exc:
                raise AuditError(f"{private_path}: cannot read the audit key ({exc}); restore it from a backup") from None
            if not isinstance(loaded, ec.EllipticCurvePrivateKey):
                raise AuditError(f"{private_path}: not an EC private key; restore the audit key from a backup")
            return cls(loaded)
        keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = ec.generate_private_key(ec.SECP256R1())
        private_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        atomic_write(keys_dir / PUBLIC_KEY_NAME, public_pem(key.public_key()))
        atomic_write(private_path, private_pem, mode=0o600)
        return cls(key)

    def sign(self, statement: bytes) -> bytes:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec

        return self._key.sign(statement, ec.ECDSA(hashes.SHA256()))


def public_pem(key: EllipticCurvePublicKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def key_id(key: EllipticCurvePublicKey) -> str:
    """The first 16 hex digits of the SHA-256 of the public key's DER form."""
    from cryptography.hazmat.primitives import serialization

    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()[:16]


def load_public_key(path: str | os.PathLike[str]) -> EllipticCurvePublicKey:
    """A PEM public key to verify checkpoints with; a missing or foreign file is an ``AuditError``."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        key = serialization.load_pem_public_key(Path(path).read_bytes())
    except FileNotFoundError:
        raise AuditError(f"{path}: no such public key; give the audit public key with --key") from None
    except (ValueError, OSError) as exc:
        raise AuditError(f"{path}: not a PEM public key ({exc})") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise AuditError(f"{path}: not an EC public key; the audit key is EC P-256")
    return key


def signature_valid(key: EllipticCurvePublicKey, statement: bytes, signature: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        key.verify(signature, statement, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True
