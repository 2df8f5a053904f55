"""Population stability index over shared bins: sum of (cur - ref) * ln(cur / ref) over the bins' shares,
each share at least 0.0001 (as Evidently floors them)."""

from __future__ import annotations

from bastion.monitor.drift._binning import shared_counts, shares
from bastion.monitor.drift.interface import Distribution, DriftMethod

FLOOR = 0.0001


class PopulationStabilityIndex(DriftMethod):
    name = "psi"
    kinds = frozenset({"numeric", "categorical"})
    default_threshold = 0.1
    is_test = False

    def statistic(self, reference: Distribution, current: Distribution) -> float:
        import numpy as np

        first, second = (shares(counts, FLOOR) for counts in shared_counts(reference, current))
        return float(np.sum((second - first) * np.log(second / first)))
