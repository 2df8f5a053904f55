"""The encrypted blob format: a plaintext header, then the content in AES-256-GCM segments.

```
"BSTNBLB1" | header length (4 bytes, big-endian) | header (JSON, UTF-8) | segment 0 | segment 1 | …
segment i = nonce (12 random bytes) | AES-256-GCM(data key, nonce, plaintext[i], AAD) | tag (16 bytes)
AAD       = "BSTNBLB1" | header length | header | i (8 bytes, big-endian) | final (1 byte: 1 on the last segment)
```

Every segment but the last holds exactly ``segment_size`` plaintext bytes; the last holds the rest
(possibly none, so an empty blob still has one segment). Binding the header, the index and the final
flag into each segment's AAD is the STREAM construction (Hoang, Reyhanitabar, Rogaway, Vizár 2015):
an altered header or segment, segments reordered, dropped or appended, or a blob cut at a segment
boundary all fail authentication. The header is readable without the key (it holds the blob's
retention date) but cannot be changed unnoticed by anyone who later reads the blob.

Each blob has its own random data key, so nonces never repeat under one key.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Iterator
from typing import Any, Protocol

from bastion.store.errors import StoreError

MAGIC = b"BSTNBLB1"
SEGMENT_SIZE = 1 << 20
"""Plaintext bytes per segment: memory stays bounded by a few segments, the overhead is 28 bytes per MiB."""


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class Writable(Protocol):
    def write(self, data: bytes, /) -> int: ...


_NONCE = 12
_TAG = 16
_MAX_HEADER = 64 << 10


def write_header(sink: Writable, header: dict[str, Any]) -> bytes:
    """Write the magic and header; return the bytes written, the prefix of every segment's AAD."""
    body = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    preamble = MAGIC + struct.pack(">I", len(body)) + body
    sink.write(preamble)
    return preamble


def read_header(source: Readable, name: str) -> tuple[dict[str, Any], bytes]:
    """The header of the blob ``name`` and its preamble bytes; ``source`` is left at the first segment."""
    start = source.read(len(MAGIC) + 4)
    if len(start) < len(MAGIC) + 4 or not start.startswith(MAGIC):
        raise StoreError(f"{name}: not a Bastion blob (bad magic); the object was replaced or damaged")
    (length,) = struct.unpack(">I", start[len(MAGIC) :])
    if length > _MAX_HEADER:
        raise StoreError(f"{name}: blob header of {length} bytes is too large; the object is damaged")
    body = source.read(length)
    try:
        header = json.loads(body)
        if not isinstance(header, dict):
            raise ValueError("not an object")
    except ValueError as exc:
        raise StoreError(f"{name}: blob header is damaged ({exc})") from None
    return header, start + body


def encrypt_segments(source: Readable, sink: Writable, key: bytes, preamble: bytes, segment_size: int) -> None:
    """Encrypt ``source`` to ``sink`` segment by segment, reading one segment ahead to know which is last."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    aead = AESGCM(key)
    current = _read_full(source, segment_size)
    index = 0
    while True:
        following = _read_full(source, segment_size) if len(current) == segment_size else b""
        final = not following
        nonce = os.urandom(_NONCE)
        sink.write(nonce)
        sink.write(aead.encrypt(nonce, current, _aad(preamble, index, final)))
        if final:
            return
        current, index = following, index + 1


def decrypt_segments(source: Readable, key: bytes, preamble: bytes, segment_size: int, name: str) -> Iterator[bytes]:
    """The plaintext of each segment in order; a ``StoreError`` as soon as one fails authentication."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    aead = AESGCM(key)
    record = _NONCE + segment_size + _TAG
    current = _read_full(source, record)
    index = 0
    while True:
        following = _read_full(source, record) if len(current) == record else b""
        final = not following
        if len(current) < _NONCE + _TAG:
            raise StoreError(f"{name}: blob is truncated at segment {index}; the stored object is damaged")
        try:
            yield aead.decrypt(current[:_NONCE], current[_NONCE:], _aad(preamble, index, final))
        except InvalidTag:
            raise StoreError(
                f"{name}: segment {index} fails authentication: the blob was altered, truncated or reordered; "
                "restore it from a copy"
            ) from None
        if final:
            return
        current, index = following, index + 1


def _aad(preamble: bytes, index: int, final: bool) -> bytes:
    return preamble + struct.pack(">QB", index, final)


def _read_full(source: Readable, size: int) -> bytes:
    """Up to ``size`` bytes, fewer only at the end (a stream may return short reads before it)."""
    data = source.read(size)
    if len(data) in (0, size):
        return data
    parts = [data]
    have = len(data)
    while have < size:
        more = source.read(size - have)
        if not more:
            break
        parts.append(more)
        have += len(more)
    return b"".join(parts)
