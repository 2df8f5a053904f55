"""Bastion's shared vocabulary: artifacts, findings, reports and their output formats."""

from bastion.core.artifact import Artifact, Kind, ScanStatus
from bastion.core.atomic import atomic_open, atomic_path, atomic_write
from bastion.core.errors import BastionError
from bastion.core.finding import Category, Finding, Location, Severity
from bastion.core.home import bastion_home
from bastion.core.report import GateResult, Report, WaivedFinding

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
