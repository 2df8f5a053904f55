"""Dependency manifests: requirements files, ``pyproject.toml``, Poetry, uv and Pipenv lock files.

The public names load on first use: the scanner is registered with every ``bastion scan``, and a
scan that meets no manifest should not pay for the parsers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bastion.core.lazy import lazy_attributes

if TYPE_CHECKING:
    from bastion.scanners.code.dependencies.interface import Dependency, Manifest, ManifestError, ManifestIssue, ManifestParser
    from bastion.scanners.code.dependencies.parse import MANIFEST_FORMATS, PARSERS, parse_manifest
    from bastion.scanners.code.dependencies.scanner import DependencyScanner

_PUBLIC = {
    "MANIFEST_FORMATS": "bastion.scanners.code.dependencies.parse",
    "PARSERS": "bastion.scanners.code.dependencies.parse",
    "Dependency": "bastion.scanners.code.dependencies.interface",
    "DependencyScanner": "bastion.scanners.code.dependencies.scanner",
    "Manifest": "bastion.scanners.code.dependencies.interface",
    "ManifestError": "bastion.scanners.code.dependencies.interface",
    "ManifestIssue": "bastion.scanners.code.dependencies.interface",
    "ManifestParser": "bastion.scanners.code.dependencies.interface",
    "parse_manifest": "bastion.scanners.code.dependencies.parse",
}


__getattr__ = lazy_attributes(__name__, _PUBLIC)


__all__ = [
    "MANIFEST_FORMATS",
    "PARSERS",
    "Dependency",
    "DependencyScanner",
    "Manifest",
    "ManifestError",
    "ManifestIssue",
    "ManifestParser",
    "parse_manifest",
]
