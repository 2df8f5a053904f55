"""The audit log in an S3 bucket, for a team whose writers share one log: every entry and every signed checkpoint
is an immutable object of its own.

Layout below ``BASTION_AUDIT_URL=s3://BUCKET/PREFIX``::

    entries/<9999999999999999 - seq, 16 digits>-<seq>.json           one entry line
    checkpoints/<9999999999999999 - size, 16 digits>-<size>.json     one signed checkpoint

The numbers count down so that S3's ascending listing gives the newest first: the tail of the log and its latest
checkpoint are each one LIST request for one key, however long the log grows.

Every object is created with ``If-None-Match: *``, so it is written once and never replaced, and of two writers
racing for the same ``seq`` exactly one wins; the other reads the winner's entry and chains after it. Hosts
append to one chain with no lock server, and an entry is on S3 once ``append`` returns. S3 Object Lock on the
bucket (compliance mode) stops even the bucket's owner from rewriting or deleting an object before its retention
ends; without it, verification still finds an edited, deleted, inserted or replaced object by the chain and the
signed roots, as on a local log.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from bastion.audit import encoding
from bastion.audit.encoding import GENESIS, canonical, new_entry
from bastion.audit.errors import AuditError
from bastion.audit.interface import Checkpoint, Entry, HashChainedLog, extend_tree, parsed_entry, sign_checkpoint
from bastion.audit.merkle import CompactRange

if TYPE_CHECKING:
    from bastion.audit.signer import AuditSigner

_TOP = 10**16 - 1
_NAME = re.compile(r"(\d{16})-(\d+)\.json")
_ENTRIES = "entries"
_CHECKPOINTS = "checkpoints"
_ATTEMPTS = 50
_READ_BATCH = 1000


class ObjectStoreLog(HashChainedLog):
    """The append-only log below ``url`` (``s3://BUCKET/PREFIX``); credentials and endpoint come from the usual AWS
    settings (``AWS_PROFILE``, ``AWS_ACCESS_KEY_ID``, ``AWS_ENDPOINT_URL_S3``, …)."""

    def __init__(self, url: str, *, signer: AuditSigner | None = None) -> None:
        if not url.startswith(("s3://", "s3a://")):
            raise AuditError(f"BASTION_AUDIT_URL={url}: not an S3 URL; give s3://BUCKET/PREFIX (unset it for the local log)")
        import fsspec

        # A new file system object each time: fsspec's instance cache would ignore a changed endpoint or credentials.
        # An unreachable endpoint should cost seconds, not botocore's legacy retries.
        options = {"skip_instance_cache": True, "config_kwargs": {"connect_timeout": 10, "retries": {"mode": "standard"}}}
        try:
            self._fs, root = fsspec.core.url_to_fs(url, **options)
        except ImportError as exc:
            raise AuditError(f"BASTION_AUDIT_URL={url}: {exc} (pip install 'bastion-mlsecops[s3]')") from None
        self.location = url
        self.signer = signer
        bucket, prefix, _version = self._fs.split_path(root)
        self._bucket: str = bucket
        self._prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self._tail: tuple[int, str] | None = None
        """(next seq, last hash) as this process last left them."""

    # --- writing ---------------------------------------------------------------------------------

    def append(
        self,
        action: str,
        *,
        actor: str,
        target: str | None = None,
        outcome: str = "ok",
        details: Mapping[str, Any] | None = None,
    ) -> Entry:
        for _ in range(_ATTEMPTS):
            seq, prev = self._tail if self._tail is not None else self._read_tail()
            fields, line = new_entry(seq, prev, action, actor, target, outcome, details)
            if self._create(self._key(_ENTRIES, seq), line):
                self._tail = (seq + 1, fields["hash"])
                if self.signer is not None and (seq + 1) % encoding.CHECKPOINT_EVERY == 0:
                    self.checkpoint(self.signer)
                return Entry.from_dict(fields)
            # Another writer took this seq first: chain after the newest entry (one step at a time would spend every
            # attempt when this process's tail is far behind, as a long-running server's is on a busy log).
            winner = self._fields(self._key(_ENTRIES, seq), self._read([self._key(_ENTRIES, seq)])[0])
            newest = self._read_tail()
            self._tail = newest if newest[0] > seq + 1 else (seq + 1, str(winner["hash"]))
        raise AuditError(f"{self.location}: {_ATTEMPTS} other writers appended first; try again")

    def checkpoint(self, signer: AuditSigner) -> Checkpoint:
        last = self.last_checkpoint()
        if last is not None and last.key_id == signer.key_id:
            tree, prev = CompactRange(last.size, [bytes.fromhex(r) for r in last.roots]), last.last_hash
        else:  # the first checkpoint, or a new key: commit to everything from the start
            tree, prev = CompactRange(), GENESIS
        prev = extend_tree(tree, prev, self._lines_from(tree.size))
        if last is not None and last.size == tree.size and last.key_id == signer.key_id:
            return last
        checkpoint = sign_checkpoint(signer, tree, prev)
        key = self._key(_CHECKPOINTS, checkpoint.size)
        if self._create(key, canonical(checkpoint.to_dict()) + b"\n"):
            return checkpoint
        return self._checkpoint(key, self._read([key])[0])  # another writer signed this size first

    # --- reading ---------------------------------------------------------------------------------

    def size(self) -> int:
        return self._read_tail()[0]

    def entries(self, start: int = 0) -> Iterator[Entry]:
        for fields, _line in self._lines_from(start):
            yield parsed_entry(fields)

    def stored_lines(self) -> Iterator[tuple[str, int, bytes | None]]:
        keys = [key for _number, key in reversed(list(self._newest_first(_ENTRIES)))]
        for expected, key in enumerate(keys):
            if _number(key) != expected:
                yield self._key(_ENTRIES, expected).removeprefix(self._prefix), 0, None
                return
        for batch_start in range(0, len(keys), _READ_BATCH):
            batch = keys[batch_start : batch_start + _READ_BATCH]
            for key, data in zip(batch, self._read(batch), strict=True):
                yield key.removeprefix(self._prefix), 1, data.removesuffix(b"\n")

    def checkpoints(self) -> list[Checkpoint]:
        keys = [key for _number, key in self._newest_first(_CHECKPOINTS)]
        keys.reverse()
        checkpoints: list[Checkpoint] = []
        for batch_start in range(0, len(keys), _READ_BATCH):
            batch = keys[batch_start : batch_start + _READ_BATCH]
            checkpoints.extend(self._checkpoint(key, data) for key, data in zip(batch, self._read(batch), strict=True))
        return checkpoints

    def last_checkpoint(self) -> Checkpoint | None:
        for _size, key in self._newest_first(_CHECKPOINTS, limit=1):
            return self._checkpoint(key, self._read([key])[0])
        return None

    def close(self) -> None:
        """Nothing to release: every request stands alone."""

    # --- objects ---------------------------------------------------------------------------------

    def _read_tail(self) -> tuple[int, str]:
        for seq, key in self._newest_first(_ENTRIES, limit=1):
            return seq + 1, str(self._fields(key, self._read([key])[0])["hash"])
        return 0, GENESIS

    def _lines_from(self, start: int) -> Iterator[tuple[dict[str, Any], bytes]]:
        """Each stored entry from ``seq`` ``start`` on, parsed, with its line; oldest first."""
        keys = []
        for number, key in self._newest_first(_ENTRIES):
            if number < start:
                break
            keys.append(key)
        keys.reverse()
        for batch_start in range(0, len(keys), _READ_BATCH):
            batch = keys[batch_start : batch_start + _READ_BATCH]
            for key, data in zip(batch, self._read(batch), strict=True):
                yield self._fields(key, data), data.removesuffix(b"\n")

    def _newest_first(self, kind: str, *, limit: int | None = None) -> Iterator[tuple[int, str]]:
        """(number, key) of the objects of ``kind`` (entries, checkpoints), newest first; other names are skipped."""
        prefix = f"{self._prefix}{kind}/"
        arguments: dict[str, Any] = {"Bucket": self._bucket, "Prefix": prefix, "MaxKeys": min(limit or 1000, 1000)}
        listed = 0
        while True:
            with self._failures("list"):
                page = self._fs.call_s3("list_objects_v2", **arguments)
            for item in page.get("Contents", ()):
                match = _NAME.fullmatch(item["Key"].removeprefix(prefix))
                if match is None or int(match[1]) + int(match[2]) != _TOP:
                    continue
                yield int(match[2]), item["Key"]
                listed += 1
                if limit is not None and listed >= limit:
                    return
            if not page.get("IsTruncated"):
                return
            arguments["ContinuationToken"] = page["NextContinuationToken"]

    def _key(self, kind: str, number: int) -> str:
        return f"{self._prefix}{kind}/{_TOP - number:016d}-{number}.json"

    def _create(self, key: str, data: bytes) -> bool:
        """Write ``key`` unless it exists (False then)."""
        from bastion.store._fs import write_document

        with self._failures("write"):
            return write_document(self._fs, f"{self._bucket}/{key}", data, exclusive=True)

    def _read(self, keys: list[str]) -> list[bytes]:
        if not keys:
            return []
        paths = [f"{self._bucket}/{key}" for key in keys]
        with self._failures("read"):
            found = self._fs.cat(paths, on_error="return")
        contents = []
        for key, path in zip(keys, paths, strict=True):
            data = found.get(path)
            if not isinstance(data, bytes):
                raise AuditError(f"{self.location}: {key} vanished while being read ({data}); run 'bastion audit verify'")
            contents.append(data)
        return contents

    def _fields(self, key: str, data: bytes) -> dict[str, Any]:
        try:
            fields = json.loads(data)
        except ValueError:
            fields = None
        if not isinstance(fields, dict):
            raise AuditError(f"{self.location}: {key} is not an entry; run 'bastion audit verify'")
        return fields

    def _checkpoint(self, key: str, data: bytes) -> Checkpoint:
        try:
            return Checkpoint.from_dict(json.loads(data))
        except (ValueError, KeyError, TypeError):
            raise AuditError(f"{self.location}: {key} is not a checkpoint (edited or corrupted)") from None

    @contextlib.contextmanager
    def _failures(self, action: str) -> Iterator[None]:
        """The object store's errors as one line naming the log."""
        from botocore.exceptions import BotoCoreError

        try:
            yield
        except (OSError, ValueError, BotoCoreError) as exc:
            message = " ".join(str(exc).split()) or type(exc).__name__
            raise AuditError(f"{self.location}: cannot {action} the audit log: {message}") from None


def _number(key: str) -> int:
    match = _NAME.fullmatch(key.rsplit("/", 1)[-1])
    return -1 if match is None else int(match[2])
