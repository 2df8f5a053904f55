"""The error the monitor raises for input it cannot use."""

from __future__ import annotations

from bastion.core import BastionError


class MonitorError(BastionError):
    """A baseline or a dataset the monitor cannot use; the message names the file and what to do."""
