"""The built-in example project that ``bastion demo`` builds and runs."""

from bastion.examples.scan_example import build_scan_example

__all__ = ["build_scan_example"]
