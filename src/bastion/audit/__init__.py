"""The tamper-evident audit log: every action appended to a hash chain, committed by signed Merkle checkpoints.

The public names load on first use: every command calls ``record``, and on a machine that never ran
``bastion init`` it returns at once without loading the log machinery.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from bastion.core import bastion_home
from bastion.core.lazy import lazy_attributes

if TYPE_CHECKING:
    from bastion.audit.errors import AuditError
    from bastion.audit.log import AuditLog, Checkpoint, Entry
    from bastion.audit.signer import AuditSigner, load_public_key
    from bastion.audit.verify import InclusionProof, Verification, prove_inclusion, verify_log

_PUBLIC = {
    "AuditError": "bastion.audit.errors",
    "AuditLog": "bastion.audit.log",
    "AuditSigner": "bastion.audit.signer",
    "Checkpoint": "bastion.audit.log",
    "Entry": "bastion.audit.log",
    "InclusionProof": "bastion.audit.verify",
    "Verification": "bastion.audit.verify",
    "load_public_key": "bastion.audit.signer",
    "prove_inclusion": "bastion.audit.verify",
    "verify_log": "bastion.audit.verify",
}


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
    if not (bastion_home() / "audit").is_dir():
        return None
    from bastion.audit.log import AuditLog
    from bastion.audit.signer import AuditSigner

    log = AuditLog.at_home()
    try:
        entry = log.append(action, actor=actor or _os_user(), target=target, outcome=outcome, details=details)
        log.checkpoint(AuditSigner.open(bastion_home() / "keys"))
    finally:
        log.close()
    return entry


def _os_user() -> str:
    import getpass

    try:
        return f"os:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry for the uid (containers)
        return "os:unknown"


__getattr__ = lazy_attributes(__name__, _PUBLIC)


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
