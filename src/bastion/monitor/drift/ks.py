"""Two-sample Kolmogorov-Smirnov test for numeric columns (small samples).

D is the largest difference of the two CDFs, over every value either holds; the p-value is the
asymptotic Kolmogorov distribution at (sqrt(en) + 0.12 + 0.11 / sqrt(en)) * D with en = nm / (n + m)
(Stephens' correction, as Numerical Recipes' kstwo uses), accurate from a few dozen values on.
"""

from __future__ import annotations

import math

from bastion.monitor.drift.interface import Distribution, DriftError, DriftMethod, Numeric


def ks_distance(reference: Numeric, current: Numeric) -> float:
    """The largest difference between the CDFs of ``reference`` and ``current``."""
    import numpy as np

    points = np.concatenate((reference.values, current.values))
    if not points.size:
        return 0.0
    return float(np.max(np.abs(reference.cdf(points) - current.cdf(points))))


def ks_p_value(distance: float, n: float, m: float) -> float:
    """The asymptotic p-value of a two-sample KS distance between samples of ``n`` and ``m`` values."""
    from scipy.special import kolmogorov

    if n <= 0 or m <= 0:
        return 1.0
    effective = math.sqrt(n * m / (n + m))
    return float(kolmogorov((effective + 0.12 + 0.11 / effective) * distance))


class KolmogorovSmirnov(DriftMethod):
    name = "ks"
    kinds = frozenset({"numeric"})
    default_threshold = 0.05
    is_test = True

    def statistic(self, reference: Distribution, current: Distribution) -> float:
        if not (isinstance(reference, Numeric) and isinstance(current, Numeric)):
            raise DriftError("ks compares numeric columns")
        return ks_p_value(ks_distance(reference, current), reference.count, current.count)
