"""Key providers: named key-encryption keys for envelope encryption and keyed pseudonyms."""

from bastion.store.keys._open import KMS_URL_VARIABLE, open_key_provider
from bastion.store.keys.interface import DataKey, KeyProvider, KeyProviderError, WrappedKey
from bastion.store.keys.local import DEFAULT_KEY, InitOutcome, LocalKeyring, default_keyring_path, init_keyring

__all__ = [
    "DEFAULT_KEY",
    "KMS_URL_VARIABLE",
    "DataKey",
    "InitOutcome",
    "KeyProvider",
    "KeyProviderError",
    "LocalKeyring",
    "WrappedKey",
    "default_keyring_path",
    "init_keyring",
    "open_key_provider",
]
