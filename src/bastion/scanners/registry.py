"""Scanners come from the ``bastion.scanners`` entry-point group, Bastion's own included."""

from __future__ import annotations

from importlib.metadata import entry_points

from bastion.core import BastionError
from bastion.scanners.interface import Scanner

ENTRY_POINT_GROUP = "bastion.scanners"


class ScannerLoadError(BastionError):
    """A registered scanner could not be loaded; scanning without it would be incomplete."""


def load_scanners() -> list[Scanner]:
    """One instance of every registered scanner, ordered by name."""
    scanners: dict[str, Scanner] = {}
    sources: dict[str, str] = {}
    for entry in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: (e.name, e.value)):
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
        if entry.name in scanners:
            if sources[entry.name] == entry.value:
                continue
            raise ScannerLoadError(
                f"two packages register a scanner named {entry.name!r} ({sources[entry.name]} and {entry.value}); "
                "uninstall one of them"
            )
        scanners[entry.name] = scanner
        sources[entry.name] = entry.value
    return [scanners[name] for name in sorted(scanners)]
