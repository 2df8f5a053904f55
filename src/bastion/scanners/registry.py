"""Scanners come from the ``bastion.scanners`` entry-point group, Bastion's own included.

Entry points are read straight from the ``entry_points.txt`` of each installed distribution:
``importlib.metadata`` costs some 40 ms of start-up here, more than a whole scan of a small
file, and scans run in pre-commit hooks. The semantics are the same: the first distribution of
a name on ``sys.path`` wins.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from collections.abc import Collection
from typing import NamedTuple

from bastion.core import BastionError
from bastion.scanners.interface import Scanner

ENTRY_POINT_GROUP = "bastion.scanners"

_DIST_DIRECTORY = re.compile(r"^(?P<name>[^-]+)-[^-]+?\.(?:dist-info|egg-info)$")


class ScannerLoadError(BastionError):
    """A registered scanner could not be loaded; scanning without it would be incomplete."""


class EntryPoint(NamedTuple):
    name: str
    value: str
    """``module:attribute``, as written in ``entry_points.txt``."""
    distribution: str

    def load(self) -> object:
        module, _, attribute = self.value.partition(":")
        target: object = importlib.import_module(module.strip())
        for part in attribute.split("[", 1)[0].strip().split(".") if attribute else ():
            target = getattr(target, part)
        return target


def entry_points(group: str, path: list[str] | None = None) -> list[EntryPoint]:
    """The entry points of ``group`` declared by the distributions on ``path`` (default ``sys.path``)."""
    found: list[EntryPoint] = []
    seen: set[str] = set()
    for directory in path if path is not None else sys.path:
        try:
            names = sorted(os.listdir(directory or "."))
        except OSError:
            continue
        for name in names:
            match = _DIST_DIRECTORY.match(name)
            if match is None:
                continue
            distribution = re.sub(r"[-_.]+", "-", match["name"]).lower()
            if distribution in seen:
                continue
            seen.add(distribution)
            try:
                with open(os.path.join(directory or ".", name, "entry_points.txt"), encoding="utf-8") as handle:
                    text = handle.read()
            except OSError:
                continue
            found.extend(EntryPoint(key, value, distribution) for key, value in _section(text, group))
    return found


def _section(text: str, group: str) -> list[tuple[str, str]]:
    """``name = value`` pairs of one ``[group]`` of an entry_points.txt (an INI file)."""
    pairs: list[tuple[str, str]] = []
    inside = False
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            inside = line[1:-1].strip() == group
        elif inside and "=" in line:
            key, value = line.split("=", 1)
            pairs.append((key.strip(), value.strip()))
    return pairs


def load_scanners(names: Collection[str] | None = None) -> list[Scanner]:
    """One instance of every registered scanner (or of those ``names``), ordered by name; the others are not imported."""
    registered = sorted(entry_points(ENTRY_POINT_GROUP), key=lambda e: (e.name, e.value))
    if names is not None:
        unknown = sorted(set(names) - {entry.name for entry in registered})
        if unknown:
            installed = ", ".join(sorted({entry.name for entry in registered}))
            raise ScannerLoadError(f"no scanner named {', '.join(map(repr, unknown))}; the installed ones are: {installed}")
        registered = [entry for entry in registered if entry.name in names]
    scanners: dict[str, Scanner] = {}
    sources: dict[str, str] = {}
    for entry in registered:
        if entry.name in scanners:
            if sources[entry.name] == entry.value:
                continue
            raise ScannerLoadError(
                f"two packages register a scanner named {entry.name!r} ({sources[entry.name]} and {entry.value}); "
                "uninstall one of them"
            )
        try:
            loaded = entry.load()
            scanner = loaded() if isinstance(loaded, type) else loaded
        except Exception as exc:  # a broken plug-in must stop the scan, not vanish from it
            raise ScannerLoadError(
                f"scanner {entry.name!r} ({entry.value}) failed to load: {type(exc).__name__}: {exc}; "
                "fix or uninstall the package that provides it"
            ) from exc
        if not isinstance(scanner, Scanner):
            raise ScannerLoadError(
                f"scanner {entry.name!r} ({entry.value}) is not a bastion.scanners.Scanner; "
                "fix or uninstall the package that provides it"
            )
        scanners[entry.name] = scanner
        sources[entry.name] = entry.value
    return [scanners[name] for name in sorted(scanners)]
