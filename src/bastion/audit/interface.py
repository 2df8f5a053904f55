"""What every audit log offers, wherever it is kept: the entries and checkpoints that cross it, and the ABC.

``AuditLog`` keeps the log in a local directory (``BASTION_HOME/audit``); ``ObjectStoreLog`` keeps it in an S3
bucket as immutable objects, for a team whose writers share one log (``BASTION_AUDIT_URL``). Verification, the
CLI and the registry's outbox work on either through ``HashChainedLog``.
"""

from __future__ import annotations

import base64
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bastion.audit.encoding import GENESIS, chain_problem, now, statement
from bastion.audit.errors import AuditError
from bastion.audit.merkle import CompactRange

if TYPE_CHECKING:
    from bastion.audit.signer import AuditSigner


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
    """Anything else worth keeping about the action (at most ``MAX_DETAILS`` bytes encoded)."""
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
    """How many entries, from the first, the root covers."""
    root: str
    """Hex RFC 6962 tree hash of the first ``size`` entries' leaf hashes."""
    time: str
    """When it was signed, UTC, ISO 8601."""
    key_id: str
    """Which audit key signed it (see ``signer.key_id``)."""
    signature: str
    """Base64 ECDSA P-256 / SHA-256 signature over ``statement()``."""
    roots: tuple[str, ...] = field(default=(), compare=False)
    """The compact range at ``size`` (unsigned), so the next checkpoint need not re-read the log."""
    position: tuple[int, int] = field(default=(1, 0), compare=False)
    """(segment number, byte offset) of entry ``size`` in a local log (unsigned; a hint for the next checkpoint)."""
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


class HashChainedLog(ABC):
    """An append-only, hash-chained log of ``Entry`` lines, committed by signed ``Checkpoint``s."""

    location: str
    """Where the log is, as the user configured it (for messages)."""
    signer: AuditSigner | None
    """When set, a checkpoint is signed every ``CHECKPOINT_EVERY`` entries."""

    @abstractmethod
    def append(
        self,
        action: str,
        *,
        actor: str,
        target: str | None = None,
        outcome: str = "ok",
        details: Mapping[str, Any] | None = None,
    ) -> Entry:
        """Record an action as the next entry; durable once this returns."""

    @abstractmethod
    def checkpoint(self, signer: AuditSigner) -> Checkpoint:
        """Sign the Merkle root of every entry so far (the last checkpoint when nothing was added since)."""

    @abstractmethod
    def checkpoints(self) -> list[Checkpoint]:
        """Every checkpoint, oldest first."""

    def last_checkpoint(self) -> Checkpoint | None:
        checkpoints = self.checkpoints()
        return checkpoints[-1] if checkpoints else None

    @abstractmethod
    def size(self) -> int:
        """How many entries the log holds: the ``seq`` the next one gets."""

    @abstractmethod
    def entries(self, start: int = 0) -> Iterator[Entry]:
        """The complete entries from ``seq`` ``start`` on, oldest first; a line that is not an entry is an ``AuditError``."""

    @abstractmethod
    def stored_lines(self) -> Iterator[tuple[str, int, bytes | None]]:
        """Every stored entry line (without its newline), oldest first, with where it is stored: the piece of the log
        (a segment file, an object) and the line's number in it; ``None`` instead of a line when the piece named
        should be there and is not (deleted)."""

    def torn_tail(self) -> int:
        """Bytes of an interrupted last write, not an entry (0 where writes are atomic)."""
        return 0

    @abstractmethod
    def close(self) -> None:
        """Release what the log holds open (it stays usable)."""


def parsed_entry(fields: dict[str, Any]) -> Entry:
    """``fields`` as an ``Entry``; a missing or malformed field is an ``AuditError``."""
    try:
        return Entry.from_dict(fields)
    except (KeyError, TypeError, ValueError) as exc:
        message = f"entry {fields.get('seq')}: missing or malformed field {exc}; run 'bastion audit verify'"
        raise AuditError(message) from None


def extend_tree(tree: CompactRange, prev: str, lines: Iterable[tuple[dict[str, Any], bytes]]) -> str:
    """Add each stored entry to ``tree``, checking it chains on from ``prev``; the last hash. Refuses (an
    ``AuditError``) to go past a broken entry: a checkpoint must never sign over one."""
    for fields, line in lines:
        problem = chain_problem(line, fields, tree.size, prev)
        if problem:
            raise AuditError(f"entry {tree.size}: {problem}; not signing a checkpoint over it (run 'bastion audit verify')")
        tree.append(bytes.fromhex(fields["hash"]))
        prev = fields["hash"]
    return prev


def sign_checkpoint(signer: AuditSigner, tree: CompactRange, last_hash: str, position: tuple[int, int] = (1, 0)) -> Checkpoint:
    """A checkpoint over ``tree``, signed now."""
    root, time = tree.root().hex(), now()
    signature = base64.b64encode(signer.sign(statement(tree.size, root, time, signer.key_id))).decode()
    roots = tuple(r.hex() for r in tree.roots)
    return Checkpoint(tree.size, root, time, signer.key_id, signature, roots, position, last_hash)
