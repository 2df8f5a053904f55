"""The interface of one analysis of a dataset (sensitive data, quality, integrity, poisoning)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from bastion.core import Finding
    from bastion.scanners.data.dataset import Dataset
    from bastion.scanners.interface import ScanOptions


class DatasetAnalysis(ABC):
    """Examines an open ``Dataset`` and reports findings; raises ``ScanError`` when it cannot finish."""

    name: ClassVar[str]

    def applies(self, options: ScanOptions) -> bool:
        """Whether this analysis runs under ``options`` (poisoning needs ``--target``, integrity ``rules``)."""
        return True

    @abstractmethod
    def analyze(self, dataset: Dataset, options: ScanOptions) -> list[Finding]:
        """Findings in ``dataset``."""
