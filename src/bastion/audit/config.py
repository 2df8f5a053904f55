"""Which audit log an instance keeps: the local one under ``BASTION_HOME/audit``, or a team's shared one in S3 when
``BASTION_AUDIT_URL`` is set."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from bastion.core import bastion_home

if TYPE_CHECKING:
    from bastion.audit.interface import HashChainedLog
    from bastion.audit.signer import AuditSigner

URL_VARIABLE = "BASTION_AUDIT_URL"


def audit_url() -> str | None:
    """``$BASTION_AUDIT_URL`` (``s3://BUCKET/PREFIX``), or None for the local log."""
    return os.environ.get(URL_VARIABLE) or None


def keeps_log() -> bool:
    """Whether this instance keeps a log: one is configured by URL, or ``bastion init`` created the local one."""
    return audit_url() is not None or (bastion_home() / "audit").is_dir()


def open_log(*, signer: AuditSigner | None = None) -> HashChainedLog:
    """The instance's log: the object store at ``BASTION_AUDIT_URL``, else ``BASTION_HOME/audit``."""
    url = audit_url()
    if url is not None:
        from bastion.audit.object_store import ObjectStoreLog

        return ObjectStoreLog(url, signer=signer)
    from bastion.audit.log import AuditLog

    return AuditLog.at_home(signer=signer)
