"""Model Monitor's constraint checks of a dataset against a baseline, as constraint_violations.json lists them.

- ``missing_column_check``: a baseline feature the data does not have.
- ``extra_column_check``: a column of the data the baseline does not have.
- ``data_type_check``: the share of a feature's values that have its baseline type (Fractional
  accepts integers; String accepts anything) is below ``datatype_check_threshold``.
- ``completeness_check``: the share of rows with a value is below the feature's ``completeness`` (under
  the Robust comparison method, by more than a sample of that many rows misses by chance: 2.58
  binomial standard errors, 0.5 % one-sided, so a window of the same data does not trip it).
- ``non_negative_check`` (Bastion's addition): negative values in a feature with ``is_non_negative``.
- ``categorical_values_check``: the share of a text feature's values inside its ``domains`` is below
  ``domain_content_threshold``.
- ``baseline_drift_check``: numbers: the L-infinity distance of the two CDFs (Simple), or that distance
  less the two-sample KS margin at 95 % (1.36 * sqrt((n + m) / nm)), which small samples need
  (Robust), is above ``comparison_threshold``; text: the largest difference of a value's share
  (LInfinity) is above ``categorical_comparison_threshold``, or the chi-squared test's p-value is
  below it (ChiSquared).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from bastion.monitor.documents import Constraints, FeatureConstraints, FeatureStatistics, Statistics
from bastion.monitor.drift import Categorical, Distribution, Numeric, ks_distance
from bastion.monitor.drift.chi_squared import chi_squared_p_value
from bastion.monitor.sketch import ColumnSketch, TableSketch

CHECK_TYPES = (
    "data_type_check",
    "completeness_check",
    "baseline_drift_check",
    "missing_column_check",
    "extra_column_check",
    "categorical_values_check",
    "non_negative_check",
)
_KS_MARGIN = 1.36
"""The two-sample KS critical value's coefficient at the 95 % level."""
_COMPLETENESS_MARGIN = 2.58
"""Binomial standard errors a sample's completeness may fall short by under the Robust method (0.5 % one-sided)."""
_ROUNDING = 1e-6
"""constraints.json rounds completeness to six decimals."""


@dataclass(frozen=True, slots=True)
class Violation:
    """One entry of constraint_violations.json."""

    feature_name: str
    constraint_check_type: str
    description: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "feature_name": self.feature_name,
            "constraint_check_type": self.constraint_check_type,
            "description": self.description,
        }


def find_violations(
    statistics: Statistics,
    constraints: Constraints,
    sketch: TableSketch,
    distributions: dict[str, tuple[Distribution, Distribution]],
) -> list[Violation]:
    """The violations of the data ``sketch`` summarises; ``distributions`` holds each comparable feature's
    (reference, current) pair."""
    violations: list[Violation] = []
    for name, feature in constraints.features.items():
        column = sketch.columns.get(name)
        if column is None:
            violations.append(
                Violation(name, "missing_column_check", f"Missing column: the baseline has {name!r}, the data does not.")
            )
            continue
        if not feature.config.evaluate_constraints:
            continue
        violations.extend(_feature_checks(feature, column, sketch))
        pair = distributions.get(name)
        if pair is not None and feature.config.perform_comparison:
            violations.extend(_drift_check(feature, *pair))
    known = set(constraints.features) | set(statistics.features)
    for name in sketch.columns:
        if name not in known:
            violations.append(
                Violation(name, "extra_column_check", f"Extra column: the data has {name!r}, the baseline does not.")
            )
    return violations


def _feature_checks(feature: FeatureConstraints, column: ColumnSketch, sketch: TableSketch) -> list[Violation]:
    found: list[Violation] = []
    name, config = feature.name, feature.config
    if column.present:
        share = _type_share(feature.inferred_type, column)
        if share is not None and share < config.datatype_check_threshold:
            found.append(
                Violation(
                    name,
                    "data_type_check",
                    f"Data type match requirement is not met. Expected data type: {feature.inferred_type}, "
                    f"Expected match: {config.datatype_check_threshold:.1%}. Observed: only {share:.1%} of data is "
                    f"{feature.inferred_type}.",
                )
            )
    if feature.completeness is not None and sketch.rows:
        completeness = column.present / sketch.rows
        required = feature.completeness - _ROUNDING
        if config.comparison_method == "Robust":
            required -= _COMPLETENESS_MARGIN * math.sqrt(feature.completeness * (1 - feature.completeness) / sketch.rows)
        if completeness < required:
            found.append(
                Violation(
                    name,
                    "completeness_check",
                    f"Data completeness requirement is not met. Expected: {feature.completeness:.1%}. "
                    f"Observed: only {completeness:.1%} of data is present.",
                )
            )
    if feature.is_non_negative and column.negatives:
        found.append(
            Violation(
                name, "non_negative_check", f"{column.negatives} negative value(s); the baseline requires non-negative values."
            )
        )
    if feature.domains is not None and column.kind == "text" and column.present:
        domain = set(feature.domains)
        inside = sum(count for value, count in column.counts.items() if value in domain)
        share = inside / column.present
        if share < config.domain_content_threshold:
            outside = sorted((v for v in column.counts if v not in domain), key=lambda v: -column.counts[v])[:5]
            found.append(
                Violation(
                    name,
                    "categorical_values_check",
                    f"Data content requirement is not met. Expected: {config.domain_content_threshold:.1%} of values in "
                    f"the baseline domain. Observed: only {share:.1%}; values outside it include "
                    f"{', '.join(map(repr, outside))}.",
                )
            )
    return found


def _type_share(expected: str, column: ColumnSketch) -> float | None:
    """The share of the column's present values that have the ``expected`` type; None when nothing is expected."""
    if expected in ("String", "Unknown"):
        return None
    if column.kind == "numeric":
        return 1.0 if expected == "Fractional" or column.integral else column.whole / column.present
    if column.kind == "text":
        return (column.integral_text if expected == "Integral" else column.numeric_text) / column.present
    return 0.0


def _drift_check(feature: FeatureConstraints, reference: Distribution, current: Distribution) -> list[Violation]:
    config = feature.config
    if isinstance(reference, Numeric) and isinstance(current, Numeric):
        distance = ks_distance(reference, current)
        n, m = reference.count, current.count
        if config.comparison_method == "Robust" and n and m:
            distance = max(0.0, distance - _KS_MARGIN * math.sqrt((n + m) / (n * m)))
        if distance > config.comparison_threshold:
            return [
                Violation(
                    feature.name,
                    "baseline_drift_check",
                    f"Baseline drift distance: {distance:.4f} exceeds threshold: {config.comparison_threshold} "
                    f"({config.comparison_method} L-infinity distance of the CDFs).",
                )
            ]
        return []
    if isinstance(reference, Categorical) and isinstance(current, Categorical) and reference.count and current.count:
        if config.categorical_drift_method == "ChiSquared":
            p_value = chi_squared_p_value(reference, current)
            if p_value < config.categorical_comparison_threshold:
                return [
                    Violation(
                        feature.name,
                        "baseline_drift_check",
                        f"Baseline drift: chi-squared p-value {p_value:.4g} is below threshold: "
                        f"{config.categorical_comparison_threshold}.",
                    )
                ]
            return []
        values = set(reference.counts) | set(current.counts)
        distance = max(
            abs(reference.counts.get(v, 0) / reference.count - current.counts.get(v, 0) / current.count) for v in values
        )
        if distance > config.categorical_comparison_threshold:
            return [
                Violation(
                    feature.name,
                    "baseline_drift_check",
                    f"Baseline drift distance: {distance:.4f} exceeds threshold: {config.categorical_comparison_threshold} "
                    "(L-infinity distance of the value shares).",
                )
            ]
    return []


def reference_distribution(feature: FeatureStatistics) -> Distribution | None:
    """The baseline's distribution of ``feature``; a numeric feature of two values compares as categories."""
    if feature.sketch is not None and feature.sketch.count:
        numeric = Numeric.from_sketch(feature.sketch)
        return _binary(numeric) or numeric
    if feature.categories is not None and feature.inferred_type == "String":
        return Categorical(dict(feature.categories))
    return None


def current_distribution(column: ColumnSketch, reference: Distribution) -> Distribution | None:
    """The data's distribution of ``column``, in the form of ``reference``."""
    if column.kind == "numeric" and column.kll is not None and column.kll.count:
        numeric = Numeric.from_sketch(column.kll)
        if isinstance(reference, Categorical):
            return _categories(numeric)
        return numeric
    if column.kind == "text" and isinstance(reference, Categorical) and column.present:
        return Categorical(dict(column.counts))
    return None


def _binary(numeric: Numeric) -> Categorical | None:
    import numpy as np

    return _categories(numeric) if np.unique(numeric.values).size <= 2 else None


def _categories(numeric: Numeric) -> Categorical:
    counts: dict[str, float] = {}
    for value, weight in zip(numeric.values.tolist(), numeric.weights.tolist(), strict=True):
        key = repr(float(value))
        counts[key] = counts.get(key, 0.0) + weight
    return Categorical(counts)
