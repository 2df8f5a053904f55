"""Vault or OpenBao transit: key-encryption keys that never leave the server.

``BASTION_KMS_URL=vault+http://127.0.0.1:8200/transit`` (or ``vault+https://…``) names the server and
the mount path of the transit secrets engine (``transit`` when the path is empty). Bastion's key names
are the transit key names: ``bastion keys rotate --name models`` rotates ``transit/keys/models``. The
token comes from ``VAULT_TOKEN`` or, for OpenBao users, ``BAO_TOKEN``. The token needs ``read`` on
``MOUNT/keys/NAME`` and ``update`` on ``MOUNT/{encrypt,decrypt,rewrap,hmac,datakey}/NAME`` and
``MOUNT/keys/NAME/rotate``. Bastion never creates transit keys (a typo would otherwise make a new
key): create one with ``bao write -f transit/keys/NAME``.
"""

from __future__ import annotations

import base64
import os
from typing import Any

from bastion.store.keys.interface import DataKey, KeyProvider, KeyProviderError, WrappedKey
from bastion.store.keys.local import check_key_name

TOKEN_VARIABLES = ("VAULT_TOKEN", "BAO_TOKEN")


class VaultTransit(KeyProvider):
    """Keys held by the transit secrets engine of a Vault or OpenBao server."""

    name = "vault"

    def __init__(self, address: str, mount: str = "transit", token: str | None = None) -> None:
        self.address = address
        self.mount = mount
        token = token or next((os.environ[name] for name in TOKEN_VARIABLES if os.environ.get(name)), None)
        if token is None:
            raise KeyProviderError(f"no token for {self.address}: set VAULT_TOKEN (or BAO_TOKEN) to a token for {mount}/")
        try:
            import hvac
        except ImportError:
            raise KeyProviderError("the Vault/OpenBao key provider needs hvac: pip install 'bastion-mlsecops[vault]'") from None
        self._client = hvac.Client(url=address, token=token, timeout=30)
        self._checked: set[str] = set()

    def wrap(self, key_name: str, data_key: bytes) -> WrappedKey:
        response = self._call(key_name, "encrypt_data", plaintext=_b64(data_key))
        return self._wrapped(key_name, response["data"]["ciphertext"])

    def unwrap(self, wrapped: WrappedKey) -> bytes:
        if wrapped.provider != self.name:
            raise KeyProviderError(
                f"this data key was wrapped by the {wrapped.provider!r} key provider, not {self.address}; "
                "set BASTION_KMS_URL to that provider"
            )
        response = self._call(wrapped.key_name, "decrypt_data", ciphertext=wrapped.ciphertext.decode("ascii", errors="replace"))
        return base64.b64decode(response["data"]["plaintext"])

    def derive(self, key_name: str, purpose: str) -> bytes:
        response = self._call(key_name, "generate_hmac", hash_input=_b64(purpose.encode("utf-8")), key_version=1)
        return base64.b64decode(response["data"]["hmac"].rsplit(":", 1)[1])

    def generate_data_key(self, key_name: str) -> DataKey:
        response = self._call(key_name, "generate_data_key", key_type="plaintext", bits=256)
        return DataKey(base64.b64decode(response["data"]["plaintext"]), self._wrapped(key_name, response["data"]["ciphertext"]))

    def rotate(self, key_name: str) -> int:
        self._call(key_name, "rotate_key")
        return int(self._call(key_name, "read_key")["data"]["latest_version"])

    def rewrap(self, wrapped: WrappedKey) -> WrappedKey:
        response = self._call(wrapped.key_name, "rewrap_data", ciphertext=wrapped.ciphertext.decode("ascii", errors="replace"))
        return self._wrapped(wrapped.key_name, response["data"]["ciphertext"])

    def _wrapped(self, key_name: str, ciphertext: str) -> WrappedKey:
        # Transit ciphertexts read "vault:v<version>:<base64>"; the version is what rotation looks at.
        version = int(ciphertext.split(":", 2)[1].removeprefix("v"))
        return WrappedKey(self.name, key_name, version, ciphertext.encode("ascii"))

    def _call(self, key_name: str, method: str, **arguments: Any) -> Any:
        """One transit call, its failures turned into one line that says what to do."""
        import hvac.exceptions
        import requests

        check_key_name(key_name)
        where = f"{self.address} ({self.mount}/keys/{key_name})"
        try:
            if key_name not in self._checked and method != "read_key":
                # Transit creates a missing key on first encrypt; a misspelt name must be an error instead.
                self._client.secrets.transit.read_key(key_name, mount_point=self.mount)
                self._checked.add(key_name)
            return getattr(self._client.secrets.transit, method)(key_name, mount_point=self.mount, **arguments)
        except requests.exceptions.ConnectionError:
            raise KeyProviderError(
                f"cannot reach Vault/OpenBao at {self.address}; is it running? Check BASTION_KMS_URL"
            ) from None
        except requests.exceptions.RequestException as exc:
            raise KeyProviderError(f"{where}: request failed: {exc}") from None
        except hvac.exceptions.InvalidPath:
            raise KeyProviderError(
                f"{where}: no such transit key; create it with `bao write -f {self.mount}/keys/{key_name}`"
            ) from None
        except (hvac.exceptions.Forbidden, hvac.exceptions.Unauthorized):
            raise KeyProviderError(f"{where}: permission denied; check VAULT_TOKEN (or BAO_TOKEN) and its policy") from None
        except hvac.exceptions.VaultError as exc:
            message = " ".join(str(exc).split()) or type(exc).__name__
            raise KeyProviderError(f"{where}: {message}") from None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
