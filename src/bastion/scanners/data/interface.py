"""The interface of one analysis of a dataset (sensitive data, quality, integrity, poisoning)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar, Generic, TypeVar

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


PlanT = TypeVar("PlanT")
PartialT = TypeVar("PartialT")


class PartitionedAnalysis(DatasetAnalysis, Generic[PlanT, PartialT]):
    """An analysis whose pass over the rows splits into row ranges whose partial results merge exactly.

    In one process ``analyze`` is ``plan``, one ``partial`` over every row, and ``finish``. On a
    Dask cluster (``partitions``) the plan is made once, each range of rows gets its own
    ``partial`` (on a ``Dataset`` narrowed by ``restrict``, whose ``numbered`` view keeps the
    whole file's row numbers), and ``merge`` combines them, in row order, into what one
    ``partial`` over every row gives. Plans and partial results cross the network: keep them small.
    """

    def analyze(self, dataset: Dataset, options: ScanOptions) -> list[Finding]:
        plan = self.plan(dataset, options)
        return self.finish(dataset, plan, self.partial(dataset, plan))

    @abstractmethod
    def plan(self, dataset: Dataset, options: ScanOptions) -> PlanT:
        """What every partition computes, decided once over the whole dataset (samples, checked rules)."""

    @abstractmethod
    def partial(self, dataset: Dataset, plan: PlanT) -> PartialT:
        """The plan's result over the rows of ``dataset``."""

    @abstractmethod
    def merge(self, partials: Sequence[PartialT]) -> PartialT:
        """The result over all rows, from the results of consecutive row ranges given in row order."""

    @abstractmethod
    def finish(self, dataset: Dataset, plan: PlanT, merged: PartialT) -> list[Finding]:
        """The findings, from the result over all rows (``dataset`` is the whole one)."""
