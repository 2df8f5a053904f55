"""The ``KeyProvider`` interface: named key-encryption keys held by a key manager.

Bastion never keeps a key-encryption key (KEK) beside the data. Data is encrypted with a fresh
data key, and only the data key, wrapped by a named KEK, is stored (envelope encryption). Secrets
that must be the same on every run, such as the HMAC key behind pseudonyms, are derived from a
KEK for a stated purpose. Every method maps onto one call of a real key manager:

| method        | local keyring        | Vault / OpenBao transit        | AWS KMS                     |
|---------------|----------------------|--------------------------------|-----------------------------|
| ``wrap``      | AES-256-GCM          | ``transit/encrypt/NAME``       | ``Encrypt``                 |
| ``unwrap``    | AES-256-GCM          | ``transit/decrypt/NAME``       | ``Decrypt``                 |
| ``derive``    | HKDF-SHA256          | ``transit/hmac/NAME``          | ``GenerateMac`` (HMAC key)  |
| ``generate_data_key`` | random + ``wrap`` | ``transit/datakey/plaintext/NAME`` | ``GenerateDataKey`` |
| ``rotate``    | new key version      | ``transit/keys/NAME/rotate``   | ``RotateKeyOnDemand``       |
| ``rewrap``    | ``unwrap`` + ``wrap`` | ``transit/rewrap/NAME``       | ``ReEncrypt``               |
"""

from __future__ import annotations

import base64
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from bastion.core import BastionError

DATA_KEY_BYTES = 32
"""Data keys are AES-256 keys."""


class KeyProviderError(BastionError):
    """A key cannot be used: the key manager is missing or unreachable, a key is unknown, or a wrapped key is damaged.

    Implementations raise it (or a subclass) with a message that says what to do.
    """


@dataclass(frozen=True)
class WrappedKey:
    """A data key encrypted under a provider's key-encryption key; safe to store beside the data it protects."""

    provider: str
    """The provider that wrapped it (``local``, ``vault``, ``kms``); only that provider can unwrap it."""
    key_name: str
    """The name of the key-encryption key in that provider."""
    key_version: int
    """The version of the key-encryption key that wrapped it, so data keys wrapped before a rotation still unwrap."""
    ciphertext: bytes
    """The wrapped data key, opaque to everything but the provider."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form, the ciphertext in base64."""
        return {
            "provider": self.provider,
            "key_name": self.key_name,
            "key_version": self.key_version,
            "ciphertext": base64.b64encode(self.ciphertext).decode("ascii"),
        }

    @classmethod
    def from_dict(cls, data: Any) -> WrappedKey:
        """Read the form written by ``to_dict``; anything else is a ``KeyProviderError``."""
        try:
            return cls(
                provider=str(data["provider"]),
                key_name=str(data["key_name"]),
                key_version=int(data["key_version"]),
                ciphertext=base64.b64decode(data["ciphertext"], validate=True),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise KeyProviderError(f"not a wrapped data key ({type(exc).__name__}: {exc})") from None


@dataclass(frozen=True)
class DataKey:
    """A fresh data key: use ``plaintext`` in memory, store only ``wrapped``."""

    plaintext: bytes = field(repr=False)
    """The raw AES-256 key; never written anywhere."""
    wrapped: WrappedKey
    """The same key wrapped by the provider, for storage."""


class KeyProvider(ABC):
    """A key manager holding named key-encryption keys that never leave it (or, for the local keyring, its file)."""

    name: ClassVar[str]
    """The provider's name, recorded in every ``WrappedKey`` it makes."""

    @abstractmethod
    def wrap(self, key_name: str, data_key: bytes) -> WrappedKey:
        """Encrypt ``data_key`` under the current version of the key-encryption key ``key_name``."""

    @abstractmethod
    def unwrap(self, wrapped: WrappedKey) -> bytes:
        """The data key inside ``wrapped``; a ``KeyProviderError`` if it was not wrapped here or was altered."""

    @abstractmethod
    def derive(self, key_name: str, purpose: str) -> bytes:
        """A 32-byte secret bound to the key ``key_name`` and to ``purpose`` (e.g. ``bastion.privacy.pseudonym``).

        The same key and purpose give the same bytes on every call, on every machine that can use
        the key, and after the key is rotated (providers derive from the key's first version): this
        is what keeps keyed pseudonyms stable across runs. Different purposes give unrelated secrets.
        """

    @abstractmethod
    def rotate(self, key_name: str) -> int:
        """Make a new version of the key-encryption key ``key_name`` current and return its number.

        Older versions stay usable for ``unwrap``, so nothing wrapped before the rotation is lost.
        """

    def generate_data_key(self, key_name: str) -> DataKey:
        """A new random data key and its wrapped form; providers with a native call override this."""
        plaintext = os.urandom(DATA_KEY_BYTES)
        return DataKey(plaintext, self.wrap(key_name, plaintext))

    def rewrap(self, wrapped: WrappedKey) -> WrappedKey:
        """The same data key wrapped by the current version of its key; providers with a native call override this,
        so the data key never leaves the key manager."""
        return self.wrap(wrapped.key_name, self.unwrap(wrapped))
