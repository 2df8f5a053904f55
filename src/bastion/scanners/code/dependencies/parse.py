"""Choosing the parser for a manifest format."""

from __future__ import annotations

from bastion.scanners.code.dependencies.interface import MAX_MANIFEST, Manifest, ManifestError, ManifestParser
from bastion.scanners.code.dependencies.locks import PipfileLockParser, PipfileParser, PoetryLockParser, UvLockParser
from bastion.scanners.code.dependencies.pyproject import PyprojectParser
from bastion.scanners.code.dependencies.requirements import RequirementsParser

PARSERS: tuple[ManifestParser, ...] = (
    RequirementsParser(),
    PyprojectParser(),
    PoetryLockParser(),
    UvLockParser(),
    PipfileLockParser(),
    PipfileParser(),
)
MANIFEST_FORMATS = frozenset(f for parser in PARSERS for f in parser.formats)
"""Every format detection may hand over, as ``Detection.format``."""


def parse_manifest(format: str, data: bytes, path: str, *, file: str | None = None) -> Manifest:
    """The dependencies of a manifest of ``format``; ``ManifestError`` when it cannot be read."""
    if len(data) > MAX_MANIFEST:
        raise ManifestError(f"larger than {MAX_MANIFEST >> 20} MiB, which no dependency manifest is; check {path}")
    for parser in PARSERS:
        if format in parser.formats:
            return parser.parse(data, path, file=file)
    raise ManifestError(f"no parser for manifest format {format!r}")
