"""Dependency manifests: requirements files, ``pyproject.toml``, Poetry, uv and Pipenv lock files.

The public names load on first use: the scanner is registered with every ``bastion scan``, and a
scan that meets no manifest should not pay for the parsers.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_PUBLIC[name]), name)


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
