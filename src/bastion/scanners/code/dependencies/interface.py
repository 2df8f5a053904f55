"""The manifest-parser interface: what a parser reads out of a dependency manifest."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

MAX_MANIFEST = 16 * 1024 * 1024
"""Largest manifest (or included file) read: real ones are kilobytes, and parsing costs some 100 µs a line."""


@dataclass(frozen=True, slots=True)
class Dependency:
    """One package a manifest declares or a lock file resolves."""

    name: str
    """The PEP 503 normalised name (``scikit-learn``)."""
    version: str | None
    """The one version the manifest pins (``==``, ``===`` or a lock file's entry); None when it allows a range."""
    specifier: str
    """The version specifier as written (``>=2.31,<3``, Poetry's ``^1.2``); empty when there is none."""
    path: str
    """The manifest that holds the entry, as reported in findings (an included file has its own)."""
    line: int | None = None
    """1-based line of the entry, when the format tells it."""
    extras: tuple[str, ...] = ()
    """Requested extras (``requests[socks]``)."""
    marker: str | None = None
    """The PEP 508 environment marker, as written."""
    url: str | None = None
    """A direct reference (URL, VCS, local path): it cannot be matched against advisories by version."""
    hashes: tuple[str, ...] = ()
    """Pinned artifact hashes (``sha256:…``)."""
    resolved: bool = False
    """Whether a lock file resolved it (True) or a manifest declared it (False)."""
    group: str | None = None
    """The optional group it belongs to (an extra, ``dev``, Pipfile's ``develop``); None for the main set."""


@dataclass(frozen=True, slots=True)
class ManifestIssue:
    """Something wrong in a manifest that is not one package: a cyclic include, a line that does not parse."""

    path: str
    """The file the issue is in, as reported in findings."""
    line: int | None
    """1-based line, when known."""
    message: str
    """One sentence saying what is wrong."""
    incomplete: bool
    """Whether some dependencies could not be read because of it (the scan is then partial)."""
    rule: str
    """The last part of the finding's rule id (``cyclic-include``)."""


@dataclass(frozen=True, slots=True)
class Manifest:
    """What a parser read: the dependencies, and the issues met on the way."""

    format: str
    """The manifest format, as detection names it (``requirements``, ``poetry-lock``, …)."""
    dependencies: tuple[Dependency, ...]
    issues: tuple[ManifestIssue, ...] = ()


class ManifestError(Exception):
    """The manifest cannot be read at all (not TOML, not JSON, not the expected shape); one line saying why."""


class ManifestParser(ABC):
    """Reads one manifest format."""

    formats: ClassVar[frozenset[str]]
    """The detection formats this parser reads."""

    @abstractmethod
    def parse(self, data: bytes, path: str, *, file: str | None = None) -> Manifest:
        """The dependencies in ``data``, reported at ``path``; ``file`` is where it lives on disk, for includes.

        Raises ``ManifestError`` when the content is not the format at all.
        """
