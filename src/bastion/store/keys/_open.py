"""Choosing the key provider from configuration.

| ``BASTION_KMS_URL``                         | provider                                              |
|---------------------------------------------|-------------------------------------------------------|
| unset, empty or ``local``                   | the local keyring, ``BASTION_HOME/keys/keyring.json`` |
| ``vault+http://HOST:PORT[/MOUNT]`` (https)  | Vault or OpenBao transit at MOUNT (``transit``)       |
| ``kms://[REGION]``                          | AWS KMS, with the standard AWS configuration          |
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from bastion.store.keys.interface import KeyProvider, KeyProviderError
from bastion.store.keys.local import LocalKeyring

KMS_URL_VARIABLE = "BASTION_KMS_URL"


def open_key_provider(url: str | None = None) -> KeyProvider:
    """The provider named by ``url`` or ``$BASTION_KMS_URL``; the local keyring under ``BASTION_HOME`` when neither is set."""
    url = url if url is not None else os.environ.get(KMS_URL_VARIABLE, "")
    if url in ("", "local"):
        return LocalKeyring()
    parts = urlsplit(url)
    if parts.scheme in ("vault+http", "vault+https") and parts.netloc:
        from bastion.store.keys.vault import VaultTransit

        address = f"{parts.scheme.removeprefix('vault+')}://{parts.netloc}"
        return VaultTransit(address, parts.path.strip("/") or "transit")
    if parts.scheme == "kms" and not parts.path.strip("/"):
        from bastion.store.keys.kms import AwsKms

        return AwsKms(parts.netloc or None)
    raise KeyProviderError(
        f"{KMS_URL_VARIABLE}={url}: unknown key provider; "
        "use 'local', 'vault+http://HOST:PORT/MOUNT' (or vault+https) or 'kms://REGION'"
    )
