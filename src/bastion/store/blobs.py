"""The content-addressed, encrypted, immutable blob store.

Layout under the store's root (a local directory or ``s3://bucket/prefix``):

```
blobs/sha256/<2 hex>/<64 hex>   the encrypted blob (see ``envelope``), immutable once written
keys/<blob id>.json             its data key, wrapped by the key provider; re-wrapped on key rotation
refs/<name>/<version>.json      named references (see ``refs``)
tmp/<blob id>                   blobs being written; moved to their address only when complete
```

A blob's address is the SHA-256 of its plaintext, so the same content is stored once whoever puts
it, and an address recorded anywhere (scan results, signatures, lineage) finds the bytes. What that
reveals: anyone who can list the store learns which digests it holds, so they can confirm whether
it holds a file they already have (a dataset they obtained, a known model), and the object sizes
give the content sizes. It reveals nothing about content they do not already hold. Bastion accepts
this for the sake of deduplication and of one digest across the pipeline; keep the listing as
private as the content (the bucket policy, the directory's permissions).

Each blob has its own AES-256-GCM data key; the key record holds only that key wrapped by the
provider's key-encryption key, so reading needs both the store and the key manager. The header
names the key record by a random blob id, so the encrypted bytes never change when keys rotate.

Object-lock semantics: a blob is never overwritten (a second put of the same content finds it and
stops) and cannot be deleted before the retention date in its header. Reads decrypt segment by
segment, authenticate each, and check the plaintext's digest against the address before the
content is handed over whole.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from bastion.core import atomic_path
from bastion.store import _fs
from bastion.store.envelope import SEGMENT_SIZE, Writable, decrypt_segments, encrypt_segments, read_header, write_header
from bastion.store.errors import StoreError
from bastion.store.keys import DEFAULT_KEY, KeyProvider, KeyProviderError, WrappedKey, open_key_provider
from bastion.store.refs import Ref, RefLog, parse_ref_spec

BLOB_FORMAT = "bastion-blob/1"
KEY_FORMAT = "bastion-blob-key/1"
_DIGEST = re.compile(r"(?:sha256:)?(?P<hex>[0-9a-f]{64})")
_BLOB_ID = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class BlobInfo:
    """What the store knows about a blob without decrypting it."""

    digest: str
    """``sha256:<hex>`` of the plaintext: the blob's address."""
    size: int
    """Plaintext size in bytes."""
    created: str
    """When it was first stored, UTC, ISO 8601."""
    retain_until: str | None
    """Until when it cannot be deleted (UTC, ISO 8601), or None when it can be at any time."""
    key: WrappedKey
    """Its data key as wrapped by the key provider (provider, key name and version)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "digest": self.digest,
            "size": self.size,
            "created": self.created,
            "retain_until": self.retain_until,
            "key": {"provider": self.key.provider, "name": self.key.key_name, "version": self.key.key_version},
        }


@dataclass(frozen=True)
class Rotation:
    """The outcome of ``Store.rotate_key``."""

    key_name: str
    """The key-encryption key that was rotated."""
    version: int
    """Its new current version."""
    rewrapped: int
    """How many data keys in the store were re-wrapped with it."""


def open_store(url: str | None = None, keys: KeyProvider | None = None, *, key_name: str = DEFAULT_KEY) -> Store:
    """The store at ``url`` or ``$BASTION_STORE_URL`` (default ``BASTION_HOME/store``), keys from ``keys`` or
    ``$BASTION_KMS_URL``."""
    fs, root, location = _fs.open_filesystem(url)
    return Store(fs, root, keys if keys is not None else open_key_provider(), key_name=key_name, location=location)


class Store:
    """Blobs and references on one fsspec file system, encrypted with keys from one provider."""

    def __init__(self, fs: Any, root: str, keys: KeyProvider, *, key_name: str = DEFAULT_KEY, location: str = "") -> None:
        self._fs = fs
        self._root = root
        self.keys = keys
        self.key_name = key_name
        self.location = location or root
        """Where the store is, as the user configured it (for messages)."""
        self.refs = RefLog(fs, root)

    def put(self, source: bytes | IO[bytes], *, retain_until: dt.datetime | None = None) -> str:
        """Store ``source`` (bytes or a binary stream, read once) and return its address, ``sha256:<hex>``.

        Nothing is written under the address until the whole blob is; if the content is already stored,
        nothing changes (its retention date included).
        """
        stream = io.BytesIO(source) if isinstance(source, bytes) else source
        data_key = self.keys.generate_data_key(self.key_name)
        blob_id = os.urandom(16).hex()
        header = {
            "format": BLOB_FORMAT,
            "cipher": "AES-256-GCM",
            "segment_size": SEGMENT_SIZE,
            "blob_id": blob_id,
            "created": _iso(dt.datetime.now(dt.UTC)),
            "retain_until": _iso(retain_until) if retain_until is not None else None,
        }
        hashing = _Hashing(stream)
        temporary = f"{self._root}/tmp/{blob_id}"
        key_path = self._key_path(blob_id)
        with self._failures("write"):
            with _fs.open_temporary(self._fs, temporary) as sink:
                preamble = write_header(sink, header)
                encrypt_segments(hashing, sink, data_key.plaintext, preamble, SEGMENT_SIZE)
            digest = "sha256:" + hashing.sha256.hexdigest()
            record = {"format": KEY_FORMAT, "digest": digest, "wrapped_key": data_key.wrapped.to_dict()}
            try:
                # The key first: a blob at its address always has its key.
                _fs.write_document(self._fs, key_path, _json(record), exclusive=True)
                committed = _fs.commit(self._fs, temporary, self._blob_path(digest))
            except BaseException:
                self._remove(temporary, key_path)
                raise
            if not committed:
                self._remove(key_path)
        return digest

    def get(self, address: str) -> bytes:
        """The verified content of a blob, by digest or reference (``NAME`` or ``NAME@vN``)."""
        sink = io.BytesIO()
        self._decrypt(self.resolve(address), sink)
        return sink.getvalue()

    def export(self, address: str, path: Path) -> str:
        """Write the verified content of a blob to ``path`` atomically (never half a file, never unverified bytes)."""
        digest = self.resolve(address)
        try:
            with atomic_path(path, 0o600) as temporary, temporary.open("wb") as handle:
                self._decrypt(digest, _Output(handle, path))
        except OSError as exc:
            raise StoreError(f"{path}: cannot write: {exc.strerror or exc}") from None
        return digest

    def info(self, address: str) -> BlobInfo:
        digest = self.resolve(address)
        header, size = self._header(digest)
        return BlobInfo(
            digest, size, str(header.get("created", "")), header.get("retain_until"), self._wrapped_key(digest, header)
        )

    def delete(self, address: str) -> None:
        """Remove a blob whose retention date has passed (or that has none); its references keep their history."""
        digest = self.resolve(address)
        header, _ = self._header(digest)
        retain_until = header.get("retain_until")
        if retain_until is not None and dt.datetime.now(dt.UTC) < _parse_iso(retain_until, digest):
            raise StoreError(f"{digest} is retained until {retain_until}; it cannot be deleted before then")
        with self._failures("delete"):
            self._fs.rm_file(self._blob_path(digest))
            self._remove(self._key_path(_blob_id(header, digest)))

    def contains(self, address: str) -> bool:
        with self._failures("read"):
            return bool(self._fs.exists(self._blob_path(self._digest(address))))

    def resolve(self, address: str) -> str:
        """The digest an address names: a digest itself, or a reference ``NAME`` / ``NAME@vN``."""
        if _DIGEST.fullmatch(address):
            return self._digest(address)
        name, version = parse_ref_spec(address)
        with self._failures("read"):
            return self.refs.get(name, version).digest

    def tag(self, name: str, address: str) -> Ref:
        """Point the reference ``name`` at a stored blob, as its next version."""
        digest = self.resolve(address)
        if not self.contains(digest):
            raise StoreError(f"{digest} is not in the store at {self.location}; put it first")
        with self._failures("write"):
            return self.refs.append(name, digest)

    def rotate_key(self, key_name: str) -> Rotation:
        """Rotate the key-encryption key ``key_name`` and re-wrap every data key it wrapped with an older version.

        Only the key records change; the encrypted blobs are not touched. Running it again after an
        interruption rotates once more and finishes the re-wrapping.
        """
        version = self.keys.rotate(key_name)
        count = 0
        for path, record, wrapped in self._key_records():
            if wrapped.key_name != key_name or wrapped.provider != self.keys.name or wrapped.key_version >= version:
                continue
            record["wrapped_key"] = self.keys.rewrap(wrapped).to_dict()
            with self._failures("write"):
                _fs.write_document(self._fs, path, _json(record), exclusive=False)
            count += 1
        return Rotation(key_name, version, count)

    def _key_records(self) -> Iterator[tuple[str, dict[str, Any], WrappedKey]]:
        with self._failures("read"):
            try:
                paths = sorted(self._fs.ls(f"{self._root}/keys", detail=False, refresh=True))
            except FileNotFoundError:
                return
        for path in paths:
            if not path.endswith(".json"):
                continue
            record = self._read_key_record(path)
            yield path, record, self._parse_wrapped(record, path)

    def _decrypt(self, digest: str, sink: Writable) -> None:
        with self._failures("read"), self._open_blob(digest) as source:
            header, preamble = read_header(source, digest)
            segment_size = header.get("segment_size")
            if not isinstance(segment_size, int) or not 0 < segment_size <= 64 << 20:
                raise StoreError(f"{digest}: blob header has no valid segment size; the object is damaged")
            try:
                data_key = self.keys.unwrap(self._wrapped_key(digest, header))
            except KeyProviderError as exc:
                raise StoreError(f"{digest}: {exc}") from None
            sha256 = hashlib.sha256()
            for chunk in decrypt_segments(source, data_key, preamble, segment_size, digest):
                sha256.update(chunk)
                sink.write(chunk)
        if "sha256:" + sha256.hexdigest() != digest:
            raise StoreError(
                f"{digest}: the stored content has another digest (sha256:{sha256.hexdigest()}): "
                "the blob was swapped or replaced; restore it from a copy"
            )

    def _header(self, digest: str) -> tuple[dict[str, Any], int]:
        """The blob's header and plaintext size."""
        with self._failures("read"), self._open_blob(digest) as source:
            header, preamble = read_header(source, digest)
            stored = self._fs.size(self._blob_path(digest))
        segment_size = header.get("segment_size")
        if not isinstance(segment_size, int) or segment_size <= 0:
            raise StoreError(f"{digest}: blob header has no valid segment size; the object is damaged")
        body = int(stored) - len(preamble)
        record = segment_size + 28  # nonce and tag
        full, rest = divmod(body, record)
        return header, full * segment_size + max(rest - 28, 0)

    def _wrapped_key(self, digest: str, header: dict[str, Any]) -> WrappedKey:
        path = self._key_path(_blob_id(header, digest))
        return self._parse_wrapped(self._read_key_record(path, digest), path)

    def _read_key_record(self, path: str, digest: str | None = None) -> dict[str, Any]:
        try:
            with self._failures("read"):
                document = json.loads(self._fs.cat_file(path))
        except FileNotFoundError:
            raise StoreError(f"{digest}: its data key record {path} is missing; restore it from a copy") from None
        except ValueError as exc:
            raise StoreError(f"{path}: damaged data key record ({exc})") from None
        if not isinstance(document, dict) or document.get("format") != KEY_FORMAT:
            raise StoreError(f"{path}: not a Bastion data key record (expected format {KEY_FORMAT!r})")
        return document

    def _parse_wrapped(self, record: dict[str, Any], path: str) -> WrappedKey:
        try:
            return WrappedKey.from_dict(record.get("wrapped_key"))
        except KeyProviderError as exc:
            raise StoreError(f"{path}: {exc}") from None

    def _open_blob(self, digest: str) -> IO[bytes]:
        try:
            return _fs.open_read(self._fs, self._blob_path(digest))
        except FileNotFoundError:
            raise StoreError(f"{digest} is not in the store at {self.location}") from None

    def _digest(self, address: str) -> str:
        match = _DIGEST.fullmatch(address)
        if match is None:
            raise StoreError(f"{address!r} is not a digest: write sha256:<64 hex digits>")
        return "sha256:" + match["hex"]

    def _blob_path(self, digest: str) -> str:
        hex_digest = digest.removeprefix("sha256:")
        return f"{self._root}/blobs/sha256/{hex_digest[:2]}/{hex_digest}"

    def _key_path(self, blob_id: str) -> str:
        return f"{self._root}/keys/{blob_id}.json"

    def _remove(self, *paths: str) -> None:
        for path in paths:
            with contextlib.suppress(OSError):
                self._fs.rm_file(path)

    def _failures(self, action: str) -> _Failures:
        return _Failures(self.location, action)


class _Failures:
    """Turns the store's I/O and connection failures into one ``StoreError`` line."""

    def __init__(self, location: str, action: str) -> None:
        self.location = location
        self.action = action

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, traceback: object) -> None:
        if error is None or isinstance(error, (StoreError, KeyProviderError, FileNotFoundError)):
            return
        if isinstance(error, OSError):
            reason = error.strerror or str(error)
            raise StoreError(f"{self.location}: cannot {self.action}: {reason}; nothing was changed") from None
        if type(error).__name__ in ("EndpointConnectionError", "ConnectTimeoutError", "ClientConnectorError"):
            raise StoreError(f"{self.location}: cannot reach the object store: {error}") from None
        if type(error).__module__.startswith(("botocore", "aiobotocore", "aiohttp")):
            raise StoreError(f"{self.location}: object store request failed: {error}") from None


class _Output:
    """The output of ``export``: its write failures name the output file, not the store."""

    def __init__(self, handle: IO[bytes], path: Path) -> None:
        self._handle = handle
        self._path = path

    def write(self, data: bytes) -> int:
        try:
            return self._handle.write(data)
        except OSError as exc:
            raise StoreError(f"{self._path}: cannot write: {exc.strerror or exc}; nothing was written") from None


class _Hashing:
    """A stream that hashes what is read from it."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self.sha256 = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self.sha256.update(data)
        return data


def _blob_id(header: dict[str, Any], digest: str) -> str:
    blob_id = header.get("blob_id")
    if not isinstance(blob_id, str) or not _BLOB_ID.fullmatch(blob_id):
        raise StoreError(f"{digest}: blob header has no valid blob id; the object is damaged")
    return blob_id


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_iso(text: str, digest: str) -> dt.datetime:
    try:
        return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    except ValueError:
        raise StoreError(f"{digest}: retention date {text!r} is damaged; the blob is kept") from None


def _json(document: dict[str, Any]) -> bytes:
    return (json.dumps(document, indent=2) + "\n").encode("utf-8")
