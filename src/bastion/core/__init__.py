"""Bastion's shared vocabulary: artifacts, findings, reports and their output formats."""

# The public names load on first use: every command imports BastionError from here, and only some need the
# finding and report dataclasses (building them costs `bastion sign` and `bastion verify` start-up time).

from __future__ import annotations

from typing import TYPE_CHECKING

from bastion.core.lazy import lazy_attributes

if TYPE_CHECKING:
    from bastion.core.artifact import Artifact, Kind, ScanStatus
    from bastion.core.atomic import atomic_open, atomic_path, atomic_write
    from bastion.core.errors import BastionError
    from bastion.core.finding import Category, Finding, Location, Severity
    from bastion.core.home import bastion_home
    from bastion.core.report import GateResult, Report, WaivedFinding

_PUBLIC = {
    "Artifact": "bastion.core.artifact",
    "BastionError": "bastion.core.errors",
    "Category": "bastion.core.finding",
    "Finding": "bastion.core.finding",
    "GateResult": "bastion.core.report",
    "Kind": "bastion.core.artifact",
    "Location": "bastion.core.finding",
    "Report": "bastion.core.report",
    "ScanStatus": "bastion.core.artifact",
    "Severity": "bastion.core.finding",
    "WaivedFinding": "bastion.core.report",
    "atomic_open": "bastion.core.atomic",
    "atomic_path": "bastion.core.atomic",
    "atomic_write": "bastion.core.atomic",
    "bastion_home": "bastion.core.home",
}

__getattr__ = lazy_attributes(__name__, _PUBLIC)

__all__ = [
    "Artifact",
    "BastionError",
    "Category",
    "Finding",
    "GateResult",
    "Kind",
    "Location",
    "Report",
    "ScanStatus",
    "Severity",
    "WaivedFinding",
    "atomic_open",
    "atomic_path",
    "atomic_write",
    "bastion_home",
]
