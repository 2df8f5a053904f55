"""Shared bins of two distributions, for the methods that compare shares (PSI, Jensen-Shannon, chi-squared).

Numeric distributions are binned at the reference's deciles (from its KLL sketch; ties merged), so
each bin holds about a tenth of the reference; the outer bins are open, so current values outside
the reference's range still count. Categorical distributions are binned by value, over the values
of both.
"""

from __future__ import annotations

from typing import Any

from bastion.monitor.drift.interface import Categorical, Distribution, DriftError, Numeric

NUMERIC_BINS = 10


def shared_counts(reference: Distribution, current: Distribution) -> tuple[Any, Any]:
    """The counts of ``reference`` and ``current`` over the same bins (two float64 arrays)."""
    import numpy as np

    if isinstance(reference, Numeric) and isinstance(current, Numeric):
        edges = np.unique(reference.quantiles(np.arange(1, NUMERIC_BINS) / NUMERIC_BINS))
        bounds = np.concatenate((edges, [np.inf]))
        return (
            np.diff(np.concatenate(([0.0], reference.cdf(bounds)))) * reference.count,
            np.diff(np.concatenate(([0.0], current.cdf(bounds)))) * current.count,
        )
    if isinstance(reference, Categorical) and isinstance(current, Categorical):
        values = sorted(set(reference.counts) | set(current.counts))
        return (
            np.array([reference.counts.get(v, 0.0) for v in values], dtype=np.float64),
            np.array([current.counts.get(v, 0.0) for v in values], dtype=np.float64),
        )
    raise DriftError("a numeric and a categorical distribution cannot be compared")


def shares(counts: Any, floor: float = 0.0) -> Any:
    """Counts as shares, each at least ``floor`` (so logarithms stay finite)."""
    import numpy as np

    total = counts.sum()
    return np.maximum(counts / total if total else counts, floor)
