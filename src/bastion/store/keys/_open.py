"""Choosing the key provider from configuration."""

from __future__ import annotations

import os

from bastion.store.keys.interface import KeyProvider, KeyProviderError
from bastion.store.keys.local import LocalKeyring

KMS_URL_VARIABLE = "BASTION_KMS_URL"


def open_key_provider(url: str | None = None) -> KeyProvider:
    """The provider named by ``url`` or ``$BASTION_KMS_URL``; the local keyring under ``BASTION_HOME`` when neither is set."""
    url = url if url is not None else os.environ.get(KMS_URL_VARIABLE, "")
    if url in ("", "local"):
        return LocalKeyring()
    raise KeyProviderError(f"{KMS_URL_VARIABLE}={url}: unknown key provider; only the local keyring ('local') is available")
