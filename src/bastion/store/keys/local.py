"""The local keyring: named 256-bit keys in one JSON file under ``BASTION_HOME``, readable by its owner only.

It needs no service, so it is the default. The file is ``BASTION_HOME/keys/keyring.json``:

```json
{"format": "bastion-keyring/1",
 "keys": {"default": {"versions": [{"created": "2026-11-22T10:00:00Z", "material": "<base64, 32 bytes>"}]}}}
```

A key keeps its versions in order; wrapping uses the newest, ``derive`` the first (see ``KeyProvider``);
``rotate`` appends a version.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import os
import re
import stat
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Any

from bastion.core import atomic_write, bastion_home
from bastion.store.keys.interface import KeyProvider, KeyProviderError, WrappedKey

FORMAT = "bastion-keyring/1"
DEFAULT_KEY = "default"
KEY_BYTES = 32
_NONCE_BYTES = 12
_KEY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def default_keyring_path() -> Path:
    """``BASTION_HOME/keys/keyring.json``."""
    return bastion_home() / "keys" / "keyring.json"


class InitOutcome(Enum):
    """What ``init_keyring`` did."""

    CREATED = "created"
    ADDED = "added"
    EXISTS = "exists"


def init_keyring(path: Path, key_name: str = DEFAULT_KEY) -> InitOutcome:
    """Create the keyring at ``path`` (mode 0600) holding a new key ``key_name``, or add the key to it.

    An existing key is never replaced: data wrapped or pseudonymised with it would be lost.
    """
    check_key_name(key_name)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with _locked(path.parent):
        exists = os.path.lexists(path)
        document: dict[str, Any] = _read(path) if exists else {"format": FORMAT, "keys": {}}
        if key_name in document["keys"]:
            return InitOutcome.EXISTS
        document["keys"][key_name] = {"versions": [_new_version()]}
        _write(path, document)
    return InitOutcome.ADDED if exists else InitOutcome.CREATED


def check_key_name(key_name: str) -> None:
    if not _KEY_NAME.fullmatch(key_name):
        raise KeyProviderError(
            f"{key_name!r} is not a valid key name: up to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )


class LocalKeyring(KeyProvider):
    """Keys read from a keyring file; the file is read on first use and refused if others can read it."""

    name = "local"

    def __init__(self, path: Path | None = None) -> None:
        self.path = path if path is not None else default_keyring_path()
        self._keys: dict[str, list[bytes]] | None = None

    def wrap(self, key_name: str, data_key: bytes) -> WrappedKey:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        versions = self._versions(key_name)
        version = len(versions)
        nonce = os.urandom(_NONCE_BYTES)
        sealed = AESGCM(versions[-1]).encrypt(nonce, data_key, _wrap_context(key_name, version))
        return WrappedKey(self.name, key_name, version, nonce + sealed)

    def unwrap(self, wrapped: WrappedKey) -> bytes:
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        if wrapped.provider != self.name:
            raise KeyProviderError(
                f"this data key was wrapped by the {wrapped.provider!r} key provider, not the local keyring; "
                "set BASTION_KMS_URL to that provider"
            )
        versions = self._versions(wrapped.key_name)
        if not 1 <= wrapped.key_version <= len(versions):
            raise KeyProviderError(f"{self.path}: key {wrapped.key_name!r} has no version {wrapped.key_version}")
        nonce, sealed = wrapped.ciphertext[:_NONCE_BYTES], wrapped.ciphertext[_NONCE_BYTES:]
        try:
            return AESGCM(versions[wrapped.key_version - 1]).decrypt(
                nonce, sealed, _wrap_context(wrapped.key_name, wrapped.key_version)
            )
        except (InvalidTag, ValueError):
            raise KeyProviderError(
                f"{self.path}: key {wrapped.key_name!r} cannot unwrap this data key: "
                "it was wrapped by another keyring or has been altered"
            ) from None

    def derive(self, key_name: str, purpose: str) -> bytes:
        from cryptography.hazmat.primitives.hashes import SHA256
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF

        first = self._versions(key_name)[0]
        return HKDF(algorithm=SHA256(), length=32, salt=None, info=b"bastion/derive/" + purpose.encode("utf-8")).derive(first)

    def rotate(self, key_name: str) -> int:
        with _locked(self.path.parent):
            document = _read(self.path)
            entry = document["keys"].get(key_name)
            if entry is None:
                raise KeyProviderError(f"{self.path}: no key named {key_name!r}; run `bastion keys init --name {key_name}`")
            entry["versions"].append(_new_version())
            _write(self.path, document)
        self._keys = None
        return len(entry["versions"])

    def _versions(self, key_name: str) -> list[bytes]:
        if self._keys is None:
            self._keys = _materials(_read(self.path), self.path)
        versions = self._keys.get(key_name)
        if versions is None:
            raise KeyProviderError(f"{self.path}: no key named {key_name!r}; run `bastion keys init --name {key_name}`")
        return versions


def _new_version() -> dict[str, str]:
    created = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"created": created, "material": base64.b64encode(os.urandom(KEY_BYTES)).decode("ascii")}


def _write(path: Path, document: dict[str, Any]) -> None:
    # mkstemp creates the temporary file 0600, so the key is never readable by others, even for a moment.
    atomic_write(path, (json.dumps(document, indent=2) + "\n").encode("utf-8"), mode=0o600)


def _wrap_context(key_name: str, version: int) -> bytes:
    # Bound into each wrapped key as associated data: a wrapped key cannot pass for another key's or version's.
    return f"bastion-keyring/wrap/{key_name}/{version}".encode()


def _read(path: Path) -> dict[str, Any]:
    """The keyring document, after checking that only its owner can read it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise KeyProviderError(f"no keyring at {path}; run `bastion keys init`") from None
    except OSError as exc:
        raise KeyProviderError(f"{path}: cannot open keyring: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as handle:
        # Checked on the open file, not the name, so the file cannot be swapped in between.
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise KeyProviderError(f"{path}: keyring is not a regular file")
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o077:
            raise KeyProviderError(
                f"{path}: keyring has mode {mode:04o}, so group or others can read it; refusing to use it. "
                f"Run `chmod 600 {path}` and replace its keys if anyone else may have read them"
            )
        raw = handle.read()
    try:
        document = json.loads(raw)
        if document.get("format") != FORMAT or not isinstance(document.get("keys"), dict):
            raise ValueError(f"expected format {FORMAT!r}")
    except (ValueError, AttributeError) as exc:
        raise KeyProviderError(f"{path}: not a Bastion keyring ({exc})") from None
    return dict(document)


def _materials(document: dict[str, Any], path: Path) -> dict[str, list[bytes]]:
    keys: dict[str, list[bytes]] = {}
    for name, entry in document["keys"].items():
        try:
            versions = [base64.b64decode(version["material"], validate=True) for version in entry["versions"]]
        except (KeyError, TypeError, ValueError):
            versions = []
        if not versions or any(len(material) != KEY_BYTES for material in versions):
            raise KeyProviderError(f"{path}: key {name!r} is damaged (each version must be {KEY_BYTES} bytes in base64)")
        keys[name] = versions
    return keys


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Serialise writers of the keyring, so two `bastion keys init` at once cannot lose a key."""
    import fcntl

    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
