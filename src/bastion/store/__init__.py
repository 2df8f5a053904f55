"""Storage of artifacts and the keys that protect them: an encrypted, content-addressed blob store."""

from bastion.store.blobs import BlobInfo, Rotation, Store, open_store
from bastion.store.errors import StoreError
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
from bastion.store.refs import Ref

__all__ = [
    "DEFAULT_KEY",
    "BlobInfo",
    "DataKey",
    "KeyProvider",
    "KeyProviderError",
    "LocalKeyring",
    "Ref",
    "Rotation",
    "Store",
    "StoreError",
    "WrappedKey",
    "default_keyring_path",
    "init_keyring",
    "open_key_provider",
    "open_store",
]
