"""Findings: what a scanner reports, in the shape of the scan JSON contract."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    """How bad a finding is, ordered from ``INFO`` to ``CRITICAL``."""

    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """Position in the order, 0 for ``INFO``."""
        return _SEVERITY_ORDER.index(self)

    @classmethod
    def parse(cls, name: str) -> Severity:
        """The severity called ``name`` (case-insensitive); ``ValueError`` names the choices."""
        try:
            return cls(name.strip().lower())
        except ValueError:
            choices = ", ".join(s.value for s in _SEVERITY_ORDER)
            raise ValueError(f"unknown severity {name!r}; choose one of {choices}") from None

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank < other.rank

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank <= other.rank

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank > other.rank

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank >= other.rank

    def __str__(self) -> str:
        return self.value


_SEVERITY_ORDER = (Severity.INFO, Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL)


class Category(StrEnum):
    """What kind of problem a finding is."""

    UNSAFE_CODE = "unsafe-code"
    SECRET = "secret"
    PII = "pii"
    VULNERABILITY = "vulnerability"
    LICENSE = "license"
    DATA_QUALITY = "data-quality"
    DATA_INTEGRITY = "data-integrity"
    POISONING = "poisoning"
    BIAS = "bias"
    DRIFT = "drift"
    MISCONFIGURATION = "misconfiguration"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class Location:
    """Where a finding is; every field but ``path`` is optional."""

    path: str
    """The path as given on the command line joined with the file's path below it."""
    member: str | None = None
    """A member inside a container (``archive/data.pkl``) or a notebook cell (``cell[3]``)."""
    offset: int | None = None
    """Byte offset within the file or member, 0-based."""
    line: int | None = None
    """Line number, 1-based."""
    column: int | None = None
    """Column number, 1-based."""
    field: str | None = None
    """A dataset column."""
    row: int | None = None
    """A dataset row, 0-based, header excluded."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "member": self.member,
            "offset": self.offset,
            "line": self.line,
            "column": self.column,
            "field": self.field,
            "row": self.row,
        }

    def __str__(self) -> str:
        text = self.path
        if self.member:
            text += f"!{self.member}"
        if self.line is not None:
            text += f":{self.line}"
            if self.column is not None:
                text += f":{self.column}"
        elif self.offset is not None:
            text += f"@{self.offset}"
        if self.field is not None:
            text += f"[{self.field}]"
        if self.row is not None:
            text += f"#row{self.row}"
        return text


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem found by a scanner, a gate or a test."""

    rule_id: str
    """Dotted, lower-case identifier of the rule, e.g. ``model.pickle.dangerous-call``."""
    category: Category
    severity: Severity
    message: str
    """One sentence saying what was found."""
    location: Location
    entity: str | None = None
    """The kind of sensitive data (Presidio's vocabulary, e.g. ``EMAIL_ADDRESS``)."""
    count: int | None = None
    """How many occurrences this finding stands for (cells, rows, ...)."""
    confidence: float | None = None
    """Between 0 and 1."""
    evidence: str | None = None
    """A redacted excerpt; never a full secret."""
    remediation: str | None = None
    """What to do about it."""
    extra: dict[str, Any] = field(default_factory=dict, compare=False)
    """Rule-specific fields added to the JSON object (the contract allows additions)."""

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "rule_id": self.rule_id,
            "category": self.category.value,
            "severity": self.severity.value,
            "message": self.message,
            "location": self.location.to_dict(),
            "entity": self.entity,
            "count": self.count,
            "confidence": self.confidence,
            "evidence": self.evidence,
            "remediation": self.remediation,
        }
        for key, value in self.extra.items():
            data.setdefault(key, value)
        return data

    def sort_key(self) -> tuple[str, str, int, int, int, str]:
        """A deterministic order: by path, member, position, then rule."""
        loc = self.location
        return (
            loc.path,
            loc.member or "",
            loc.line or 0,
            loc.offset or 0,
            loc.row or 0,
            self.rule_id,
        )
