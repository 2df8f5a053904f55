"""Dataset scanners: sensitive data, quality and integrity, poisoning and label errors."""

from bastion.scanners.data.dataset import Column, Dataset, quote_identifier
from bastion.scanners.data.interface import DatasetAnalysis
from bastion.scanners.data.scanner import ANALYSES, DataScanner, load_analyses

__all__ = ["ANALYSES", "Column", "DataScanner", "Dataset", "DatasetAnalysis", "load_analyses", "quote_identifier"]
