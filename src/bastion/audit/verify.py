"""Checking a whole audit log: the hash chain entry by entry, every checkpoint's root and signature.

The walk stops at the first problem and names it (segment, line, entry number, what is wrong); later
damage is not looked for, since everything after a break is unproven anyway.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bastion.audit.encoding import GENESIS, chain_problem
from bastion.audit.errors import AuditError
from bastion.audit.interface import Checkpoint, HashChainedLog
from bastion.audit.merkle import CompactRange, inclusion_proof
from bastion.audit.signer import key_id, signature_valid

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey


@dataclass(frozen=True, slots=True)
class Verification:
    """What ``verify_log`` found."""

    entries: int
    """Entries whose chain was checked (up to the first problem)."""
    checkpoints: int
    """Checkpoints whose root and signature were checked."""
    problem: str | None
    """The first problem, naming where it is; None when the log is intact."""
    torn_tail: int = 0
    """Bytes of an interrupted last write (not an entry; the next append cuts them off)."""

    @property
    def intact(self) -> bool:
        return self.problem is None

    def to_dict(self) -> dict[str, object]:
        return {
            "intact": self.intact,
            "entries": self.entries,
            "checkpoints": self.checkpoints,
            "problem": self.problem,
            "torn_tail_bytes": self.torn_tail,
        }


def verify_log(log: HashChainedLog, public_key: EllipticCurvePublicKey) -> Verification:
    """Check ``log`` against the audit public key."""
    try:
        checkpoints = log.checkpoints()
    except AuditError as exc:  # an unreadable checkpoints file is the answer, not a crash
        return Verification(0, 0, str(exc))
    signer_id = key_id(public_key)
    pending = sorted(checkpoints, key=lambda c: c.size)
    checked = 0
    tree = CompactRange()
    prev = GENESIS

    def check_due() -> str | None:
        nonlocal checked
        while pending and pending[0].size == tree.size:
            problem = _checkpoint_problem(pending.pop(0), tree, public_key, signer_id)
            if problem:
                return problem
            checked += 1
        return None

    problem = check_due()
    for piece, line_number, line in log.stored_lines():
        if problem:
            break
        if line is None:
            problem = f"{piece} is missing (deleted)"
            break
        where = f"{piece} line {line_number} (entry {tree.size})"
        try:
            fields = json.loads(line)
        except ValueError:
            problem = f"{where}: not JSON (edited or corrupted)"
            break
        entry_problem = chain_problem(line, fields, tree.size, prev) if isinstance(fields, dict) else "not an entry"
        if entry_problem:
            problem = f"{where}: {entry_problem}"
            break
        tree.append(bytes.fromhex(fields["hash"]))
        prev = fields["hash"]
        problem = check_due()
    if not problem and pending:
        latest = pending[-1]
        problem = f"log truncated: a checkpoint signed {latest.size} entries, only {tree.size} are present"
    return Verification(tree.size, checked, problem, log.torn_tail())


def _checkpoint_problem(checkpoint: Checkpoint, tree: CompactRange, key: EllipticCurvePublicKey, signer_id: str) -> str | None:
    where = f"checkpoint at {checkpoint.size} entries"
    if checkpoint.key_id != signer_id:
        return f"{where}: signed by key {checkpoint.key_id}, not the given key {signer_id}"
    try:
        signature = base64.b64decode(checkpoint.signature, validate=True)
    except (binascii.Error, ValueError):
        return f"{where}: signature is not base64 (edited)"
    if not signature_valid(key, checkpoint.statement(), signature):
        return f"{where}: signature does not verify (forged or edited checkpoint)"
    if checkpoint.root != tree.root().hex():
        return f"{where}: the entries no longer have the signed root (entries before it were rewritten)"
    return None


@dataclass(frozen=True, slots=True)
class InclusionProof:
    """That entry ``seq`` is in the tree a checkpoint signed: recompute the root from ``leaf`` and ``path``."""

    seq: int
    leaf: str
    """The entry's hash (hex)."""
    path: tuple[str, ...]
    """Sibling hashes from the leaf up (RFC 6962 audit path), hex."""
    checkpoint: Checkpoint

    def to_dict(self) -> dict[str, object]:
        return {"seq": self.seq, "leaf": self.leaf, "path": list(self.path), "checkpoint": self.checkpoint.to_dict()}


def prove_inclusion(log: HashChainedLog, seq: int) -> InclusionProof:
    """The audit path of entry ``seq`` to the latest checkpoint; an ``AuditError`` when none covers it yet."""
    checkpoint = log.last_checkpoint()
    if checkpoint is None or seq >= checkpoint.size:
        covered = 0 if checkpoint is None else checkpoint.size
        raise AuditError(f"entry {seq} is not under a checkpoint yet ({covered} entries are); run 'bastion audit checkpoint'")
    if seq < 0:
        raise AuditError(f"entry {seq} does not exist; entries are numbered from 0")
    leaves = []
    for entry in log.entries():
        if entry.seq >= checkpoint.size:
            break
        leaves.append(bytes.fromhex(entry.hash))
    if len(leaves) < checkpoint.size:
        held = len(leaves)
        raise AuditError(f"the log holds {held} entries but its checkpoint signed {checkpoint.size}; run 'bastion audit verify'")
    path = tuple(node.hex() for node in inclusion_proof(seq, leaves))
    return InclusionProof(seq, leaves[seq].hex(), path, checkpoint)
