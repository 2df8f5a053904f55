"""A scan report: what was scanned, what was found, and the gate's decision."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from bastion import __version__
from bastion.core.artifact import Artifact, ScanStatus
from bastion.core.finding import Finding


@dataclass(frozen=True, slots=True)
class WaivedFinding:
    """A finding that a waiver kept from failing the gate."""

    rule_id: str
    path: str
    reason: str
    owner: str
    expires: str
    """ISO date."""

    def to_dict(self) -> dict[str, str]:
        return {
            "rule_id": self.rule_id,
            "path": self.path,
            "reason": self.reason,
            "owner": self.owner,
            "expires": self.expires,
        }


@dataclass(frozen=True, slots=True)
class GateResult:
    """A gate's decision and why it was made."""

    decision: Literal["pass", "fail"]
    reasons: tuple[str, ...] = ()
    """One line per failing rule, metric or incomplete scan; also expired waivers."""
    violations: int = 0
    """Findings and metrics that failed the gate (incomplete scans not counted)."""
    incomplete: tuple[str, ...] = ()
    """Paths whose scan was partial or failed."""
    waived: tuple[WaivedFinding, ...] = ()

    @property
    def passed(self) -> bool:
        return self.decision == "pass"

    def to_dict(self) -> dict[str, Any]:
        return {
            "decision": self.decision,
            "reasons": list(self.reasons),
            "violations": self.violations,
            "incomplete": list(self.incomplete),
            "waived": [w.to_dict() for w in self.waived],
        }


@dataclass(frozen=True, slots=True)
class Report:
    """Scanned artifacts, findings in a deterministic order, and an optional gate result."""

    scanned: tuple[Artifact, ...]
    findings: tuple[Finding, ...]
    gate: GateResult | None = None
    version: str = field(default=__version__)

    @property
    def incomplete(self) -> tuple[Artifact, ...]:
        return tuple(a for a in self.scanned if a.status is not ScanStatus.COMPLETE)

    def summary(self) -> dict[str, dict[str, int]]:
        by_severity = Counter(f.severity.value for f in self.findings)
        by_category = Counter(f.category.value for f in self.findings)
        return {"by_severity": dict(sorted(by_severity.items())), "by_category": dict(sorted(by_category.items()))}

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "bastion_version": self.version,
            "scanned": [a.to_dict() for a in self.scanned],
            "findings": [f.to_dict() for f in self.findings],
            "summary": self.summary(),
        }
        if self.gate is not None:
            data["gate"] = self.gate.to_dict()
        return data
