"""Storage of artifacts and the keys that protect them."""

from bastion.store.keys import (
    DEFAULT_KEY,
    DataKey,
    KeyProvider,
    KeyProviderError,
    LocalKeyring,
    WrappedKey,
    default_keyring_path,
    init_keyring,
    open_key_provider,
)

__all__ = [
    "DEFAULT_KEY",
    "DataKey",
    "KeyProvider",
    "KeyProviderError",
    "LocalKeyring",
    "WrappedKey",
    "default_keyring_path",
    "init_keyring",
    "open_key_provider",
]
