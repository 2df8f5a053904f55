"""Dataset scanners: sensitive data, quality and integrity, poisoning and label errors.

The public names load on first use: the scanner is registered with every ``bastion scan``, and
a scan that meets no dataset should not pay for the dataset machinery.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bastion.core.lazy import lazy_attributes

if TYPE_CHECKING:
    from bastion.scanners.data._kll import KLLSketch
    from bastion.scanners.data.dataset import Column, Dataset, quote_identifier
    from bastion.scanners.data.interface import DatasetAnalysis, PartitionedAnalysis
    from bastion.scanners.data.scanner import ANALYSES, DataScanner, load_analyses

_PUBLIC = {
    "ANALYSES": "bastion.scanners.data.scanner",
    "Column": "bastion.scanners.data.dataset",
    "DataScanner": "bastion.scanners.data.scanner",
    "Dataset": "bastion.scanners.data.dataset",
    "DatasetAnalysis": "bastion.scanners.data.interface",
    "KLLSketch": "bastion.scanners.data._kll",
    "load_analyses": "bastion.scanners.data.scanner",
    "PartitionedAnalysis": "bastion.scanners.data.interface",
    "quote_identifier": "bastion.scanners.data.dataset",
}


__getattr__ = lazy_attributes(__name__, _PUBLIC)


__all__ = [
    "ANALYSES",
    "Column",
    "DataScanner",
    "Dataset",
    "DatasetAnalysis",
    "KLLSketch",
    "PartitionedAnalysis",
    "load_analyses",
    "quote_identifier",
]
