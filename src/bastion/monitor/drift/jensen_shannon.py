"""Jensen-Shannon distance (natural logarithm, so at most sqrt(ln 2)) over shared bins, as Evidently computes it."""

from __future__ import annotations

import math

from bastion.monitor.drift._binning import shared_counts, shares
from bastion.monitor.drift.interface import Distribution, DriftMethod


class JensenShannon(DriftMethod):
    name = "jensenshannon"
    kinds = frozenset({"numeric", "categorical"})
    default_threshold = 0.1
    is_test = False

    def statistic(self, reference: Distribution, current: Distribution) -> float:
        import numpy as np

        first, second = (shares(counts) for counts in shared_counts(reference, current))
        middle = (first + second) / 2

        def divergence(p: np.ndarray) -> float:
            mask = p > 0
            return float(np.sum(p[mask] * np.log(p[mask] / middle[mask])))

        return math.sqrt(max(0.0, (divergence(first) + divergence(second)) / 2))
