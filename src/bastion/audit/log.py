"""The audit log: hash-chained JSON Lines segments, appended under a lock, committed by signed checkpoints.

Each entry is one line of JSON: ``{"hash":"<hex>",`` and then the rest of the canonical JSON of its other
fields. ``hash`` is the SHA-256 Merkle leaf hash of exactly those bytes (with the opening brace), and
``prev`` the hash of the entry before, so verifying an entry hashes its bytes as they are, without
re-encoding, and an edited, deleted, inserted or reordered entry breaks the chain where it happened. A
checkpoint signs the RFC 6962 Merkle root over the first ``size`` entries; truncation, or a rewrite of
the whole chain, then contradicts a signed root.

Appends take an exclusive ``flock`` and write the whole line with one ``O_APPEND`` write, fsynced when the
log is durable. A process killed mid-write leaves at most a partial last line, never acknowledged; the
next append, under the lock, cuts it off, and verification reports it without failing.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import fcntl
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bastion.audit.errors import AuditError
from bastion.audit.merkle import CompactRange, leaf_hash
from bastion.core import bastion_home

if TYPE_CHECKING:
    from bastion.audit.signer import AuditSigner

GENESIS = "0" * 64
"""The ``prev`` of the first entry."""
SEGMENT_LIMIT = 64 * 1024 * 1024
"""A segment past this size is closed and the next append starts a new one (ELK ships whole files)."""
MAX_DETAILS = 16 * 1024
"""Encoded size allowed for an event's details: an audit entry records a decision, not its data."""
CHECKPOINT_EVERY = 1000
"""Entries between the automatic checkpoints of a log opened with a signer."""
_TAIL_WINDOW = 256 * 1024
_SEGMENT_GLOB = "segment-*.jsonl"
_CHECKPOINTS = "checkpoints.jsonl"
_STATEMENT_PREFIX = b"bastion-audit-checkpoint/v1\n"


@dataclass(frozen=True, slots=True)
class Entry:
    """One recorded action."""

    seq: int
    """0-based position in the log."""
    time: str
    """UTC, ISO 8601 with microseconds."""
    actor: str
    """Who acted: a registry principal, or the operating-system user."""
    action: str
    """What was done: ``scan``, ``gate``, ``store.put``, ``sign``, ``register``, ``approve``, ``login.failed``, …"""
    target: str | None
    """What it was done to: a path, a digest, ``model:version``."""
    outcome: str
    """``ok``, ``fail``, ``allow``, ``deny``, or a decision such as ``pass``."""
    details: Mapping[str, Any]
    prev: str
    """Leaf hash (hex) of the entry before; ``GENESIS`` for the first."""
    hash: str
    """Leaf hash (hex) of this entry: SHA-256 of 0x00 and the canonical JSON of every other field (``encode_entry``)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "time": self.time,
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "outcome": self.outcome,
            "details": dict(self.details),
            "prev": self.prev,
            "hash": self.hash,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Entry:
        """An entry as parsed from its line; ``KeyError``/``TypeError`` when a field is missing."""
        return cls(
            seq=int(data["seq"]),
            time=str(data["time"]),
            actor=str(data["actor"]),
            action=str(data["action"]),
            target=None if data["target"] is None else str(data["target"]),
            outcome=str(data["outcome"]),
            details=dict(data["details"]),
            prev=str(data["prev"]),
            hash=str(data["hash"]),
        )


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed statement that the log's first ``size`` entries have the Merkle root ``root``."""

    size: int
    root: str
    """Hex RFC 6962 tree hash of the first ``size`` entries' leaf hashes."""
    time: str
    key_id: str
    """Which audit key signed it (see ``signer.key_id``)."""
    signature: str
    """Base64 ECDSA P-256 / SHA-256 signature over ``statement()``."""
    roots: tuple[str, ...] = field(default=(), compare=False)
    """The compact range at ``size`` (unsigned), so the next checkpoint need not re-read the log."""
    position: tuple[int, int] = field(default=(1, 0), compare=False)
    """(segment number, byte offset) of entry ``size`` (unsigned; a hint for the next checkpoint)."""
    last_hash: str = field(default=GENESIS, compare=False)
    """The hash of entry ``size - 1`` (unsigned; the next checkpoint checks the chain goes on from it)."""

    def statement(self) -> bytes:
        return statement(self.size, self.root, self.time, self.key_id)

    def to_dict(self) -> dict[str, Any]:
        return {
            "size": self.size,
            "root": self.root,
            "time": self.time,
            "key_id": self.key_id,
            "signature": self.signature,
            "roots": list(self.roots),
            "position": list(self.position),
            "last_hash": self.last_hash,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Checkpoint:
        segment, offset = data.get("position") or (1, 0)
        return cls(
            size=int(data["size"]),
            root=str(data["root"]),
            time=str(data["time"]),
            key_id=str(data["key_id"]),
            signature=str(data["signature"]),
            roots=tuple(str(r) for r in data.get("roots") or ()),
            position=(int(segment), int(offset)),
            last_hash=str(data.get("last_hash") or GENESIS),
        )


def statement(size: int, root: str, time: str, key_id: str) -> bytes:
    """The bytes a checkpoint's signature covers."""
    return _STATEMENT_PREFIX + canonical({"size": size, "root": root, "time": time, "key_id": key_id})


def canonical(value: Any) -> bytes:
    """Sorted keys, no spaces, UTF-8: one encoding per value, so a hash over it is reproducible."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


_HASH_OPEN = b'{"hash":"'
_HASH_END = len(_HASH_OPEN) + 64
_BODY_START = _HASH_END + 2  # after the closing quote and the comma


def encode_entry(fields: Mapping[str, Any]) -> tuple[str, bytes]:
    """The hash (hex) and the line (with its newline) of an entry's fields other than ``hash``."""
    body = canonical({k: v for k, v in fields.items() if k != "hash"})
    digest = leaf_hash(body).hex()
    return digest, _HASH_OPEN + digest.encode() + b'",' + body[1:] + b"\n"


def line_hash_problem(line: bytes) -> str | None:
    """Why a stored line's hash does not cover its bytes; None when it does."""
    if not line.startswith(_HASH_OPEN) or line[_HASH_END:_BODY_START] != b'",':
        return "not an entry line (edited)"
    if leaf_hash(b"{" + line[_BODY_START:]).hex().encode() != line[len(_HASH_OPEN) : _HASH_END]:
        return "its hash does not match its content (edited)"
    return None


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


class AuditLog:
    """The append-only log in ``directory``: ``segment-NNNNNNNN.jsonl`` files and ``checkpoints.jsonl``."""

    def __init__(self, directory: str | os.PathLike[str], *, durable: bool = True, signer: AuditSigner | None = None) -> None:
        self.directory = Path(directory)
        self.durable = durable
        """fsync every append (and every new segment's directory entry) before it returns."""
        self.signer = signer
        """When set, a checkpoint is signed every ``CHECKPOINT_EVERY`` entries."""
        self._tail: tuple[Path, int, int, str] | None = None
        """(segment, its size, next seq, last hash) as this process last left them."""
        self._lock_fd: int | None = None

    @classmethod
    def at_home(cls, *, signer: AuditSigner | None = None) -> AuditLog:
        """The instance's log, ``BASTION_HOME/audit``."""
        return cls(bastion_home() / "audit", signer=signer)

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
        """Record an action; durable (when ``durable``) once this returns."""
        details = dict(details or {})
        encoded_details = canonical(details)
        if len(encoded_details) > MAX_DETAILS:
            raise AuditError(f"audit details of {action!r} are {len(encoded_details)} bytes; at most {MAX_DETAILS}")
        with self._locked():
            segment, size, seq, prev = self._current_tail()
            if size >= SEGMENT_LIMIT:
                segment, size = self._segment_path(segment_number(segment) + 1), 0
            fields: dict[str, Any] = {
                "seq": seq,
                "time": now(),
                "actor": actor,
                "action": action,
                "target": target,
                "outcome": outcome,
                "details": details,
                "prev": prev,
            }
            fields["hash"], line = encode_entry(fields)
            self._write(segment, line, new=size == 0)
            self._tail = (segment, size + len(line), seq + 1, fields["hash"])
            entry = Entry.from_dict(fields)
            if self.signer is not None and (seq + 1) % CHECKPOINT_EVERY == 0:
                self._checkpoint(self.signer)
        return entry

    def checkpoint(self, signer: AuditSigner) -> Checkpoint:
        """Sign the Merkle root of every entry so far (the last checkpoint when nothing was added since)."""
        with self._locked():
            return self._checkpoint(signer)

    def _checkpoint(self, signer: AuditSigner) -> Checkpoint:
        last = self.last_checkpoint()
        if last is not None and last.key_id == signer.key_id:
            tree = CompactRange(last.size, [bytes.fromhex(r) for r in last.roots])
            position, prev = last.position, last.last_hash
        else:  # the first checkpoint, or a new key: commit to everything from the start
            tree, position, prev = CompactRange(), (1, 0), GENESIS
        for entry, line, entry_position in self._entries_from(position):
            problem = chain_problem(line, entry, tree.size, prev)
            if problem:
                raise AuditError(f"entry {tree.size}: {problem}; not signing a checkpoint over it (run 'bastion audit verify')")
            tree.append(bytes.fromhex(entry["hash"]))
            prev, position = entry["hash"], entry_position
        if last is not None and last.size == tree.size and last.key_id == signer.key_id:
            return last
        root, time = tree.root().hex(), now()
        signature = base64.b64encode(signer.sign(statement(tree.size, root, time, signer.key_id))).decode()
        roots = tuple(r.hex() for r in tree.roots)
        checkpoint = Checkpoint(tree.size, root, time, signer.key_id, signature, roots, position, prev)
        self._write(self.directory / _CHECKPOINTS, canonical(checkpoint.to_dict()) + b"\n", new=False)
        return checkpoint

    # --- reading ---------------------------------------------------------------------------------

    def segments(self) -> list[Path]:
        """The segment files, oldest first."""
        return sorted(self.directory.glob(_SEGMENT_GLOB))

    def entries(self) -> Iterator[Entry]:
        """Every complete entry, oldest first; a line that is not an entry is an ``AuditError``."""
        for fields, _line, _position in self._entries_from((1, 0)):
            try:
                yield Entry.from_dict(fields)
            except (KeyError, TypeError, ValueError) as exc:
                message = f"entry {fields.get('seq')}: missing or malformed field {exc}; run 'bastion audit verify'"
                raise AuditError(message) from None

    def checkpoints(self) -> list[Checkpoint]:
        """Every checkpoint, oldest first."""
        path = self.directory / _CHECKPOINTS
        try:
            lines = path.read_bytes().splitlines()
        except FileNotFoundError:
            return []
        checkpoints = []
        for number, line in enumerate(lines, 1):
            try:
                checkpoints.append(Checkpoint.from_dict(json.loads(line)))
            except (ValueError, KeyError, TypeError):
                raise AuditError(f"{path}:{number}: not a checkpoint (edited or corrupted)") from None
        return checkpoints

    def last_checkpoint(self) -> Checkpoint | None:
        checkpoints = self.checkpoints()
        return checkpoints[-1] if checkpoints else None

    def torn_tail(self) -> int:
        """Bytes of an interrupted write at the end of the last segment (cut off by the next append)."""
        segments = self.segments()
        if not segments:
            return 0
        data = segments[-1].read_bytes()
        return len(data) - (data.rfind(b"\n") + 1)

    def _entries_from(self, position: tuple[int, int]) -> Iterator[tuple[dict[str, Any], bytes, tuple[int, int]]]:
        """Parsed entries from (segment number, offset) on, each with its line and the position after it."""
        first, offset = position
        for segment in self.segments():
            number = segment_number(segment)
            if number < first:
                continue
            start = offset if number == first else 0
            with segment.open("rb") as handle:
                handle.seek(start)
                data = handle.read()
            cursor = 0
            while (end := data.find(b"\n", cursor)) != -1:
                line = data[cursor:end]
                try:
                    fields = json.loads(line)
                except ValueError:
                    fields = None
                if not isinstance(fields, dict):
                    raise AuditError(f"{segment.name}: offset {start + cursor} is not an entry; run 'bastion audit verify'")
                cursor = end + 1
                yield fields, line, (number, start + cursor)

    # --- files -----------------------------------------------------------------------------------

    def close(self) -> None:
        """Release the lock file's descriptor (the log stays usable; the next write reopens it)."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        if self._lock_fd is None:
            try:
                self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
                self._lock_fd = os.open(self.directory / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
            except OSError as exc:
                raise AuditError(f"{self.directory}: cannot open the audit log: {exc.strerror or exc}") from None
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _current_tail(self) -> tuple[Path, int, int, str]:
        """(last segment, its size, next seq, last hash), read from disk unless this process wrote last."""
        if self._tail is not None and self._tail[1] < SEGMENT_LIMIT:
            # Below the limit every writer appends to this segment, so an unchanged size means nobody else wrote.
            with contextlib.suppress(FileNotFoundError):
                if self._tail[0].stat().st_size == self._tail[1]:
                    return self._tail
        segments = self.segments()
        if not segments:
            return self._segment_path(1), 0, 0, GENESIS
        segment = segments[-1]
        size = self._cut_torn_tail(segment, segment.stat().st_size)
        for candidate in reversed(segments):
            last = _last_line(candidate)
            if last is not None:
                try:
                    fields = json.loads(last)
                    return segment, size, int(fields["seq"]) + 1, str(fields["hash"])
                except (ValueError, KeyError, TypeError):
                    raise AuditError(f"{candidate}: the last entry is unreadable; run 'bastion audit verify'") from None
        return segment, size, 0, GENESIS

    def _cut_torn_tail(self, segment: Path, size: int) -> int:
        torn = self.torn_tail()
        if torn:
            with segment.open("r+b") as handle:
                handle.truncate(size - torn)
                os.fsync(handle.fileno())
        return size - torn

    def _segment_path(self, number: int) -> Path:
        return self.directory / f"segment-{number:08d}.jsonl"

    def _write(self, path: Path, data: bytes, *, new: bool) -> None:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                if self.durable:
                    os.fsync(fd)
            finally:
                os.close(fd)
            if new and self.durable:
                dir_fd = os.open(self.directory, os.O_RDONLY)
                try:
                    os.fsync(dir_fd)
                finally:
                    os.close(dir_fd)
        except OSError as exc:
            raise AuditError(f"{path}: cannot append to the audit log: {exc.strerror or exc}") from None


def chain_problem(line: bytes, fields: dict[str, Any], seq: int, prev: str) -> str | None:
    """Why ``line`` (parsed as ``fields``) cannot be entry ``seq`` after ``prev``; None when it can."""
    if fields.get("seq") != seq:
        return f"numbered {fields.get('seq')!r} where {seq} was expected (an entry was deleted, inserted or reordered)"
    if fields.get("prev") != prev:
        return "does not chain to the entry before it (an entry was deleted, inserted or reordered)"
    return line_hash_problem(line)


def segment_number(path: Path) -> int:
    """The N of ``segment-N.jsonl``."""
    return int(path.stem.removeprefix("segment-"))


def _last_line(path: Path) -> bytes | None:
    with path.open("rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        handle.seek(max(0, size - _TAIL_WINDOW))
        data = handle.read()
    lines = data.rstrip(b"\n").rsplit(b"\n", 1)
    return lines[-1] if lines[-1] else None
