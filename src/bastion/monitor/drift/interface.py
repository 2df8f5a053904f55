"""The interface of one statistical drift method, and the distributions it compares.

A method compares a reference distribution with a current one and gives one statistic: a p-value
for the tests (drift when it is below the threshold) or a distance (drift when it reaches the
threshold). Numeric distributions are weighted sorted values (a KLL sketch's items, each standing
for 2**level values), so a reference of any size costs the same; categorical ones are value counts.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from bastion.monitor.errors import MonitorError

if TYPE_CHECKING:
    from bastion.scanners.data import KLLSketch


class DriftError(MonitorError):
    """A drift method or option that cannot be used."""


@dataclass(frozen=True, slots=True)
class Numeric:
    """A numeric distribution as weighted values."""

    values: Any
    """Sorted values (a float64 NumPy array)."""
    weights: Any
    """How many values each stands for (a float64 NumPy array of the same length)."""

    @classmethod
    def from_sketch(cls, sketch: KLLSketch) -> Numeric:
        import numpy as np

        levels = sketch.levels()
        values = np.concatenate([np.asarray(level, dtype=np.float64) for level in levels]) if levels else np.empty(0)
        weights = np.concatenate([np.full(len(level), 2.0**height) for height, level in enumerate(levels)]) if levels else values
        order = np.argsort(values, kind="stable")
        return cls(values[order], weights[order])

    @property
    def count(self) -> float:
        return float(self.weights.sum())

    def cdf(self, points: Any) -> Any:
        """The share of values at or below each of ``points``."""
        import numpy as np

        cumulative = np.concatenate(([0.0], np.cumsum(self.weights))) / max(self.count, 1e-300)
        return cumulative[np.searchsorted(self.values, points, side="right")]

    def quantiles(self, ranks: Any) -> Any:
        """The values at ``ranks`` (0 to 1)."""
        import numpy as np

        cumulative = np.cumsum(self.weights)
        positions = np.searchsorted(cumulative, np.asarray(ranks) * cumulative[-1], side="left")
        return self.values[np.minimum(positions, len(self.values) - 1)]

    def std(self) -> float:
        import numpy as np

        if not self.values.size:
            return 0.0
        mean = float(np.average(self.values, weights=self.weights))
        return float(np.sqrt(np.average((self.values - mean) ** 2, weights=self.weights)))


@dataclass(frozen=True, slots=True)
class Categorical:
    """A categorical distribution as value counts."""

    counts: Mapping[str, float]

    @property
    def count(self) -> float:
        return float(sum(self.counts.values()))


Distribution = Numeric | Categorical


@dataclass(frozen=True, slots=True)
class DriftOptions:
    """How columns are compared (``None`` methods and thresholds: chosen by column type and sample size)."""

    numeric_method: str | None = None
    """ks, wasserstein, psi or jensenshannon; by default ks for small samples, wasserstein for large."""
    categorical_method: str | None = None
    """chisquare, z, jensenshannon or psi; by default chisquare (z for two values) for small samples,
    jensenshannon for large."""
    numeric_threshold: float | None = None
    """Overrides the numeric method's default threshold."""
    categorical_threshold: float | None = None
    """Overrides the categorical method's default threshold."""
    small_sample: int = 1000
    """Samples of at most this many values (the smaller side) get the tests; larger ones the distances."""
    drift_share: float = 0.5
    """The dataset drifts when at least this share of its compared columns drift."""


@dataclass(frozen=True, slots=True)
class ColumnDrift:
    """The drift of one column."""

    column: str
    kind: str
    """numeric or categorical (binary numeric columns compare as categorical)."""
    method: str
    statistic: float
    """The method's p-value (tests) or distance."""
    threshold: float
    drifted: bool
    reference_count: float
    current_count: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "kind": self.kind,
            "method": self.method,
            "statistic": self.statistic,
            "threshold": self.threshold,
            "drifted": self.drifted,
            "reference_count": self.reference_count,
            "current_count": self.current_count,
        }


class DriftMethod(ABC):
    """One way to compare two distributions."""

    name: ClassVar[str]
    kinds: ClassVar[frozenset[str]]
    """The distributions it compares: numeric, categorical or both."""
    default_threshold: ClassVar[float]
    is_test: ClassVar[bool]
    """True when the statistic is a p-value (drift below the threshold), False for a distance (drift at or above)."""

    @abstractmethod
    def statistic(self, reference: Distribution, current: Distribution) -> float:
        """The p-value or distance between ``reference`` and ``current``."""

    def drifted(self, statistic: float, threshold: float) -> bool:
        return statistic < threshold if self.is_test else statistic >= threshold
