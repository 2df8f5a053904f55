"""Statistical drift per column, with the method chosen by column type and sample size.

By default (as Evidently chooses): when the smaller of the two samples has at most
``DriftOptions.small_sample`` (1,000) values, tests: Kolmogorov-Smirnov for numbers, chi-squared for
categories, the two-proportion z-test for columns of two values (p-value below 0.05: drift); for
larger samples, distances: normed Wasserstein for numbers, Jensen-Shannon for categories (0.1 or
more: drift). PSI (0.1) can be chosen for either. The dataset drifts when at least
``DriftOptions.drift_share`` (0.5) of its compared columns drift.
"""

from __future__ import annotations

from bastion.monitor.drift.chi_squared import ChiSquared
from bastion.monitor.drift.interface import (
    Categorical,
    ColumnDrift,
    Distribution,
    DriftError,
    DriftMethod,
    DriftOptions,
    Numeric,
)
from bastion.monitor.drift.jensen_shannon import JensenShannon
from bastion.monitor.drift.ks import KolmogorovSmirnov, ks_distance, ks_p_value
from bastion.monitor.drift.psi import PopulationStabilityIndex
from bastion.monitor.drift.wasserstein import NormedWasserstein
from bastion.monitor.drift.z_test import ProportionZTest

METHODS: dict[str, DriftMethod] = {
    method.name: method
    for method in (
        KolmogorovSmirnov(),
        NormedWasserstein(),
        ChiSquared(),
        ProportionZTest(),
        JensenShannon(),
        PopulationStabilityIndex(),
    )
}


def compare(column: str, reference: Distribution, current: Distribution, options: DriftOptions) -> ColumnDrift:
    """The drift of ``column`` from ``reference`` to ``current``."""
    kind = "numeric" if isinstance(reference, Numeric) else "categorical"
    small = min(reference.count, current.count) <= options.small_sample
    if kind == "numeric":
        name = options.numeric_method or ("ks" if small else "wasserstein")
        threshold = options.numeric_threshold
    else:
        assert isinstance(reference, Categorical) and isinstance(current, Categorical)
        two_values = len(set(reference.counts) | set(current.counts)) <= 2
        name = options.categorical_method or (("z" if two_values else "chisquare") if small else "jensenshannon")
        threshold = options.categorical_threshold
    method = method_named(name, kind)
    limit = method.default_threshold if threshold is None else threshold
    statistic = method.statistic(reference, current)
    return ColumnDrift(column, kind, name, statistic, limit, method.drifted(statistic, limit), reference.count, current.count)


def method_named(name: str, kind: str) -> DriftMethod:
    """The method called ``name``, which must compare ``kind`` distributions."""
    method = METHODS.get(name)
    if method is None:
        raise DriftError(f"unknown drift method {name!r}; choose one of {', '.join(METHODS)}")
    if kind not in method.kinds:
        raise DriftError(f"{name} does not compare {kind} columns")
    return method


__all__ = [
    "METHODS",
    "Categorical",
    "ColumnDrift",
    "Distribution",
    "DriftError",
    "DriftMethod",
    "DriftOptions",
    "Numeric",
    "compare",
    "ks_distance",
    "ks_p_value",
    "method_named",
]
