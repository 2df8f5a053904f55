"""The tamper-evident audit log: every action appended to a hash chain, committed by signed Merkle checkpoints."""

from __future__ import annotations

import getpass
from collections.abc import Mapping
from typing import Any

from bastion.audit.errors import AuditError
from bastion.audit.log import AuditLog, Checkpoint, Entry
from bastion.audit.signer import AuditSigner, load_public_key
from bastion.audit.verify import InclusionProof, Verification, prove_inclusion, verify_log
from bastion.core import bastion_home


def record(
    action: str,
    *,
    target: str | None = None,
    outcome: str = "ok",
    details: Mapping[str, Any] | None = None,
    actor: str | None = None,
) -> Entry | None:
    """Append an action to the instance's log and sign a checkpoint over it.

    Only an initialised instance keeps a log (``BASTION_HOME/audit`` exists): a scan in a pre-commit hook
    of a project that never ran ``bastion init`` leaves no state behind. Returns None when there is no log.
    """
    log = AuditLog.at_home()
    if not log.directory.is_dir():
        return None
    try:
        entry = log.append(action, actor=actor or _os_user(), target=target, outcome=outcome, details=details)
        log.checkpoint(AuditSigner.open(bastion_home() / "keys"))
    finally:
        log.close()
    return entry


def _os_user() -> str:
    try:
        return f"os:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry for the uid (containers)
        return "os:unknown"


__all__ = [
    "AuditError",
    "AuditLog",
    "AuditSigner",
    "Checkpoint",
    "Entry",
    "InclusionProof",
    "Verification",
    "load_public_key",
    "prove_inclusion",
    "record",
    "verify_log",
]
