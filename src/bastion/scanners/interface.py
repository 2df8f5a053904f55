"""The ``Scanner`` interface and the objects that cross it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, ClassVar

from bastion.core import Finding, Kind


@dataclass(frozen=True, slots=True)
class ScanOptions:
    """Settings every scanner may read."""

    target: str | None = None
    """The label column of a dataset (``--target``), for poisoning and label checks."""
    rules: Path | None = None
    """A file of integrity rules (SQL boolean expressions) that every dataset row must satisfy."""
    secret_rules: Path | None = None
    """A gitleaks TOML config (``--secret-rules``) whose rules the secret scanner uses instead of, or with, its own."""
    partition_rows: int | None = None
    """Split datasets of more rows than this into row partitions on the Dask cluster the scan runs on
    (``--scheduler``); None scans each dataset in one piece."""
    offline: bool = False
    """Match dependencies against the offline advisory mirror (``--offline``) instead of the OSV API."""
    trusted: Path | None = None
    """A file of trusted packages and denied licences (``--trusted``)."""


@dataclass(slots=True)
class ScanTarget:
    """One file handed to a scanner, with what detection learned of it."""

    path: Path
    """Where to read the bytes."""
    display_path: str
    """The path to report in ``Location.path``."""
    kind: Kind
    format: str | None
    size: int
    options: ScanOptions = field(default_factory=ScanOptions)
    data: bytes | None = None
    """The whole content, when the engine already read it; use ``read_bytes()``."""

    def read_bytes(self) -> bytes:
        """The whole file, read once and kept."""
        if self.data is None:
            self.data = self.path.read_bytes()
        return self.data

    def open(self) -> BinaryIO:
        """A fresh binary handle, for scanners that seek instead of reading everything."""
        return self.path.open("rb")


class ScanError(Exception):
    """A file could not be scanned completely.

    ``findings`` holds what was found before the scan stopped; ``partial`` says whether some of
    the content was examined (status ``partial``) or none (status ``error``).
    """

    def __init__(self, message: str, *, findings: Sequence[Finding] = (), partial: bool = False) -> None:
        super().__init__(message)
        self.findings = tuple(findings)
        self.partial = partial or bool(findings)

    def __reduce__(self) -> tuple[type[ScanError], tuple[str], dict[str, object]]:
        # A scan split over a Dask cluster raises this on a worker: keep the findings and the status across pickling.
        return type(self), (str(self),), {"findings": self.findings, "partial": self.partial}


class Scanner(ABC):
    """Examines files of some kinds and reports findings.

    Implementations are registered in the ``bastion.scanners`` entry-point group; the engine
    instantiates each once, with no arguments, and may call ``scan`` from several processes.
    """

    name: ClassVar[str]
    """Short unique name, e.g. ``secrets``."""
    kinds: ClassVar[frozenset[Kind]]
    """The kinds of file this scanner is handed by default."""

    def handles(self, target: ScanTarget) -> bool:
        """Whether this scanner wants ``target``; by default, whether its kind is in ``kinds``."""
        return target.kind in self.kinds

    @abstractmethod
    def scan(self, target: ScanTarget) -> list[Finding]:
        """Findings in ``target``; raise ``ScanError`` when the file cannot be examined completely."""
