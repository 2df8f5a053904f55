"""Scanners: the ``Scanner`` interface, the plug-in registry, and the engine that runs them."""

from bastion.scanners.detect import Detection, detect, detect_bytes
from bastion.scanners.engine import ProgressCallback, scan_paths
from bastion.scanners.interface import ScanError, Scanner, ScanOptions, ScanTarget
from bastion.scanners.registry import ENTRY_POINT_GROUP, ScannerLoadError, load_scanners

__all__ = [
    "ENTRY_POINT_GROUP",
    "Detection",
    "ProgressCallback",
    "ScanError",
    "ScanOptions",
    "ScanTarget",
    "Scanner",
    "ScannerLoadError",
    "detect",
    "detect_bytes",
    "load_scanners",
    "scan_paths",
]
