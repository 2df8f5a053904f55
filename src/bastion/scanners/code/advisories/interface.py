"""The advisory-source interface: where known vulnerabilities of packages come from."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from bastion.core import Severity


@dataclass(frozen=True, slots=True)
class Package:
    """One installed or pinned package to look up."""

    name: str
    """The PEP 503 normalised name."""
    version: str
    """The exact version, as written in the manifest."""


@dataclass(frozen=True, slots=True)
class Advisory:
    """A published vulnerability that affects one ``Package``."""

    id: str
    """The advisory's own id (``GHSA-…``, ``PYSEC-…``)."""
    aliases: tuple[str, ...]
    """Other ids of the same vulnerability (``CVE-…``), sorted."""
    summary: str
    """One line describing it (OSV ``summary``, else the start of ``details``)."""
    fixed: tuple[str, ...]
    """Versions that fix it, in version order; empty when no fix is published."""
    severity: Severity
    """From the CVSS base score where one is given, else the database's own rating."""
    score: float | None = None
    """The CVSS base score, when a vector was given."""
    vector: str | None = None
    """The CVSS vector the score comes from."""
    url: str | None = None
    """Where to read the advisory."""


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """Which advisory database answered, for reports and the SBOM."""

    name: str
    """``OSV API`` or ``offline OSV mirror``."""
    url: str
    """Where it was read from."""
    snapshot: str | None = None
    """For a mirror, when it was downloaded (ISO 8601, UTC); None for a live source."""


class SourceError(Exception):
    """The advisory source could not answer (unreachable, missing, corrupt): nothing may be reported clean."""


class AdvisorySource(ABC):
    """Looks up the advisories that affect packages."""

    @property
    @abstractmethod
    def info(self) -> SourceInfo:
        """What this source is, for reports."""

    @abstractmethod
    def query(self, package: Package) -> list[Advisory]:
        """The advisories affecting ``package``; ``SourceError`` when the source cannot answer."""

    def query_all(self, packages: Sequence[Package]) -> dict[Package, list[Advisory]]:
        """The advisories of each package; sources that can batch override this."""
        return {package: self.query(package) for package in packages}
