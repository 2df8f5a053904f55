"""Pearson's chi-squared test of homogeneity for categorical columns (small samples).

The 2 x k table of reference and current counts over the values of both; its p-value from the
chi-squared distribution with k - 1 degrees of freedom.
"""

from __future__ import annotations

from bastion.monitor.drift._binning import shared_counts
from bastion.monitor.drift.interface import Distribution, DriftMethod


def chi_squared_p_value(reference: Distribution, current: Distribution) -> float:
    import numpy as np
    from scipy.special import chdtrc

    table = np.vstack(shared_counts(reference, current))
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or not table[0].sum() or not table[1].sum():
        return 1.0
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
    statistic = float(((table - expected) ** 2 / expected).sum())
    return float(chdtrc(table.shape[1] - 1, statistic))


class ChiSquared(DriftMethod):
    name = "chisquare"
    kinds = frozenset({"categorical"})
    default_threshold = 0.05
    is_test = True

    def statistic(self, reference: Distribution, current: Distribution) -> float:
        return chi_squared_p_value(reference, current)
