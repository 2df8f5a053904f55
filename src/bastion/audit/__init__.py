"""The tamper-evident audit log: every action appended to a hash chain, committed by signed Merkle checkpoints;
kept in ``BASTION_HOME/audit``, or for a team in S3 (``BASTION_AUDIT_URL``).

The public names load on first use: every command calls ``record``, and on a machine that never ran
``bastion init`` it returns at once without loading the log machinery.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from bastion.audit.config import URL_VARIABLE, audit_url, keeps_log, open_log
from bastion.core import bastion_home
from bastion.core.lazy import lazy_attributes

if TYPE_CHECKING:
    from bastion.audit.errors import AuditError
    from bastion.audit.interface import Checkpoint, Entry, HashChainedLog
    from bastion.audit.log import AuditLog
    from bastion.audit.object_store import ObjectStoreLog
    from bastion.audit.signer import AuditSigner, load_public_key
    from bastion.audit.verify import InclusionProof, Verification, prove_inclusion, verify_log

_PUBLIC = {
    "AuditError": "bastion.audit.errors",
    "AuditLog": "bastion.audit.log",
    "AuditSigner": "bastion.audit.signer",
    "Checkpoint": "bastion.audit.interface",
    "Entry": "bastion.audit.interface",
    "HashChainedLog": "bastion.audit.interface",
    "InclusionProof": "bastion.audit.verify",
    "ObjectStoreLog": "bastion.audit.object_store",
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

    Only an instance that keeps a log records (``BASTION_AUDIT_URL`` is set, or ``BASTION_HOME/audit`` exists):
    a scan in a pre-commit hook of a project that never ran ``bastion init`` leaves no state behind. Returns None
    when there is no log.
    """
    if not keeps_log():
        return None
    from bastion.audit.signer import AuditSigner

    log = open_log()
    try:
        entry = log.append(action, actor=actor or os_actor(), target=target, outcome=outcome, details=details)
        log.checkpoint(AuditSigner.open(bastion_home() / "keys"))
    finally:
        log.close()
    return entry


def os_actor() -> str:
    """The actor of an action taken outside the registry: the operating-system user, ``os:NAME``."""
    import getpass

    try:
        return f"os:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry for the uid (containers)
        return "os:unknown"


__getattr__ = lazy_attributes(__name__, _PUBLIC)


__all__ = [
    "URL_VARIABLE",
    "AuditError",
    "AuditLog",
    "AuditSigner",
    "Checkpoint",
    "Entry",
    "HashChainedLog",
    "InclusionProof",
    "ObjectStoreLog",
    "Verification",
    "audit_url",
    "keeps_log",
    "load_public_key",
    "open_log",
    "os_actor",
    "prove_inclusion",
    "record",
    "verify_log",
]
