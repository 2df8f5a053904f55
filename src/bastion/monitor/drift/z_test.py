"""Two-proportion z-test for binary columns (small samples): pooled proportion, two-sided p-value."""

from __future__ import annotations

import math

from bastion.monitor.drift._binning import shared_counts
from bastion.monitor.drift.interface import Distribution, DriftError, DriftMethod


class ProportionZTest(DriftMethod):
    name = "z"
    kinds = frozenset({"categorical"})
    default_threshold = 0.05
    is_test = True

    def statistic(self, reference: Distribution, current: Distribution) -> float:
        from scipy.special import ndtr

        first, second = shared_counts(reference, current)
        if len(first) > 2:
            raise DriftError("the z-test compares columns of two values; use chisquare")
        if len(first) < 2:
            return 1.0
        n, m = float(first.sum()), float(second.sum())
        if not n or not m:
            return 1.0
        pooled = (first[0] + second[0]) / (n + m)
        spread = math.sqrt(pooled * (1 - pooled) * (1 / n + 1 / m))
        if spread == 0:
            return 1.0
        z = (first[0] / n - second[0] / m) / spread
        return float(2 * ndtr(-abs(z)))
