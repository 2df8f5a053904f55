"""Statistical drift: shifts of known size are caught by the method chosen for the column's type and sample size, and
samples of the same distribution raise alarms no more often than the tests' error rate allows."""

from __future__ import annotations

import numpy as np
import pytest

from bastion.monitor.drift import Categorical, DriftOptions, Numeric, compare
from bastion.scanners.data import KLLSketch

OPTIONS = DriftOptions()


def numeric(values: np.ndarray) -> Numeric:
    sketch = KLLSketch()
    sketch.update(values)
    return Numeric.from_sketch(sketch)


def categorical(values: np.ndarray) -> Categorical:
    names, counts = np.unique(values, return_counts=True)
    return Categorical({str(n): float(c) for n, c in zip(names, counts, strict=True)})


REFERENCE = numeric(np.random.default_rng(0).normal(0, 1, 200_000))
CATEGORIES = ["a", "b", "c", "d", "e"]
SHARES = [0.4, 0.25, 0.15, 0.12, 0.08]
CATEGORY_REFERENCE = categorical(np.random.default_rng(1).choice(CATEGORIES, 200_000, p=SHARES))
BINARY_REFERENCE = categorical(np.random.default_rng(2).choice(["yes", "no"], 200_000, p=[0.3, 0.7]))


@pytest.mark.parametrize(("size", "method"), [(500, "ks"), (50_000, "wasserstein")])
def test_a_mean_shift_is_caught_by_the_method_for_the_sample_size(size: int, method: str) -> None:
    current = numeric(np.random.default_rng(3).normal(0.3, 1, size))  # 0.3 standard deviations
    drift = compare("x", REFERENCE, current, OPTIONS)
    assert (drift.method, drift.drifted) == (method, True)
    assert compare("x", REFERENCE, numeric(np.random.default_rng(4).normal(0, 1, size)), OPTIONS).drifted is False


def test_the_normed_wasserstein_distance_measures_the_shift_in_standard_deviations() -> None:
    for shift in (0.05, 0.2, 0.5):
        current = numeric(np.random.default_rng(5).normal(shift, 1, 100_000))
        drift = compare("x", REFERENCE, current, OPTIONS)
        assert drift.statistic == pytest.approx(shift, abs=0.02)
        assert drift.drifted is (shift >= 0.1)


@pytest.mark.parametrize(("size", "method"), [(500, "chisquare"), (50_000, "jensenshannon")])
def test_a_shift_of_categories_is_caught(size: int, method: str) -> None:
    moved = [0.25, 0.25, 0.15, 0.12, 0.23]  # 15 % of the mass moved from a to e
    current = categorical(np.random.default_rng(6).choice(CATEGORIES, size, p=moved))
    drift = compare("c", CATEGORY_REFERENCE, current, OPTIONS)
    assert (drift.method, drift.drifted) == (method, True)


def test_a_binary_shift_is_caught_by_the_proportion_test() -> None:
    current = categorical(np.random.default_rng(7).choice(["yes", "no"], 400, p=[0.42, 0.58]))
    drift = compare("b", BINARY_REFERENCE, current, OPTIONS)
    assert (drift.method, drift.drifted) == ("z", True)


def test_psi_and_thresholds_are_configurable() -> None:
    current = numeric(np.random.default_rng(8).normal(0.3, 1, 50_000))
    psi = compare("x", REFERENCE, current, DriftOptions(numeric_method="psi"))
    assert psi.method == "psi" and 0.07 < psi.statistic < 0.1 and not psi.drifted  # a 0.3 sd shift: PSI about 0.09
    further = compare(
        "x", REFERENCE, numeric(np.random.default_rng(8).normal(0.5, 1, 50_000)), DriftOptions(numeric_method="psi")
    )
    assert further.drifted and further.statistic > 0.2
    lenient = compare("x", REFERENCE, current, DriftOptions(numeric_threshold=0.5))
    assert lenient.method == "wasserstein" and not lenient.drifted


@pytest.mark.parametrize(
    ("reference", "draw"),
    [
        (REFERENCE, lambda rng: numeric(rng.normal(0, 1, 300))),
        (CATEGORY_REFERENCE, lambda rng: categorical(rng.choice(CATEGORIES, 300, p=SHARES))),
        (BINARY_REFERENCE, lambda rng: categorical(rng.choice(["yes", "no"], 300, p=[0.3, 0.7]))),
        (REFERENCE, lambda rng: numeric(rng.normal(0, 1, 20_000))),
        (CATEGORY_REFERENCE, lambda rng: categorical(rng.choice(CATEGORIES, 20_000, p=SHARES))),
    ],
)
def test_same_distribution_samples_alarm_at_most_at_the_error_rate(reference: Numeric | Categorical, draw: object) -> None:
    rng = np.random.default_rng(9)
    alarms = sum(compare("x", reference, draw(rng), OPTIONS).drifted for _ in range(100))  # type: ignore[operator]
    # The tests run at a 5 % level: 100 trials give 5 alarms on average; 12 or more would happen by chance
    # with probability under 0.5 %. The distances (large samples) should not alarm at all.
    assert alarms <= 12
