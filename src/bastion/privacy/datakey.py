"""The data key file written beside an output with encrypted columns: the wrapped key that decrypts them.

``OUT.datakey.json`` holds only the data key as wrapped by the key provider, so it is safe to keep
and ship with the output; decrypting needs both it and access to the key-encryption key.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from bastion.core import atomic_write
from bastion.privacy.errors import AnonymizeError
from bastion.store.keys import KeyProvider, KeyProviderError, WrappedKey

FORMAT = "bastion-datakey/1"


def data_key_path(output: Path) -> Path:
    return output.with_name(output.name + ".datakey.json")


def write_data_key(path: Path, wrapped: WrappedKey, columns: Sequence[str]) -> None:
    document = {
        "format": FORMAT,
        "algorithm": "AES-256-GCM",
        "encoding": "base64(nonce[12] || ciphertext || tag[16]) of the value's UTF-8 text",
        "columns": list(columns),
        "wrapped_key": wrapped.to_dict(),
    }
    atomic_write(path, (json.dumps(document, indent=2) + "\n").encode("utf-8"))


def read_data_key(path: Path, keys: KeyProvider) -> bytes:
    """The data key of an output's encrypted columns, unwrapped by ``keys``."""
    document = _read(path)
    try:
        return keys.unwrap(WrappedKey.from_dict(document.get("wrapped_key")))
    except KeyProviderError as exc:
        raise AnonymizeError(f"{path}: {exc}") from None


def read_encrypted_columns(path: Path) -> list[str]:
    """The columns of the output that were encrypted under the data key in ``path``."""
    columns = _read(path).get("columns")
    if not isinstance(columns, list) or not all(isinstance(column, str) for column in columns):
        raise AnonymizeError(f"{path}: the data key file has no list of encrypted columns; it is damaged")
    return columns


def _read(path: Path) -> dict[str, object]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AnonymizeError(f"{path}: no such data key file") from None
    except (OSError, ValueError) as exc:
        raise AnonymizeError(f"{path}: cannot read data key file: {exc}") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise AnonymizeError(f"{path}: not a Bastion data key file (expected format {FORMAT!r})")
    return document
