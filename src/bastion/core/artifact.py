"""Artifacts: the files Bastion scans, stores and signs."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    """What a file is, decided from its content."""

    MODEL = "model"
    DATASET = "dataset"
    NOTEBOOK = "notebook"
    DEPENDENCIES = "dependencies"
    CODE = "code"
    ARCHIVE = "archive"
    UNKNOWN = "unknown"

    def __str__(self) -> str:
        return self.value


class ScanStatus(StrEnum):
    """Whether a file was scanned completely; an incomplete scan is never clean."""

    COMPLETE = "complete"
    PARTIAL = "partial"
    ERROR = "error"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class Artifact:
    """A file (or object) and what is known of it."""

    path: str
    """Path or URI as reported, e.g. ``models/m.pt``."""
    kind: Kind
    format: str | None = None
    """The concrete format within the kind, e.g. ``pytorch-zip`` or ``csv``."""
    sha256: str | None = None
    """Hex SHA-256 of the bytes; ``None`` when digests were skipped."""
    size: int | None = None
    """Size in bytes."""
    status: ScanStatus = ScanStatus.COMPLETE
    error: str | None = None
    """Why the scan was partial or failed."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "kind": self.kind.value,
            "format": self.format,
            "sha256": self.sha256,
            "bytes": self.size,
            "status": self.status.value,
            "error": self.error,
        }
