"""Normed Wasserstein distance for numeric columns (large samples), as Evidently computes it.

The earth mover's distance W1 = integral over ranks of |Q_ref - Q_cur|, taken at 1,000 rank midpoints
of the two quantile functions (from the sketches), divided by the reference's standard deviation
(at least 0.001): a distance of 0.1 moves the distribution by a tenth of a standard deviation.
"""

from __future__ import annotations

from bastion.monitor.drift.interface import Distribution, DriftError, DriftMethod, Numeric

RANKS = 1000


class NormedWasserstein(DriftMethod):
    name = "wasserstein"
    kinds = frozenset({"numeric"})
    default_threshold = 0.1
    is_test = False

    def statistic(self, reference: Distribution, current: Distribution) -> float:
        import numpy as np

        if not (isinstance(reference, Numeric) and isinstance(current, Numeric)):
            raise DriftError("wasserstein compares numeric columns")
        if not reference.values.size or not current.values.size:
            return 0.0
        ranks = (np.arange(RANKS) + 0.5) / RANKS
        distance = float(np.mean(np.abs(reference.quantiles(ranks) - current.quantiles(ranks))))
        return distance / max(reference.std(), 0.001)
