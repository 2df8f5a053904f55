"""The audit package's error."""

from __future__ import annotations

from bastion.core import BastionError


class AuditError(BastionError):
    """The audit log or its key cannot be read or written."""
