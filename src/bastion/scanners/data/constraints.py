"""Suggested constraints in SageMaker Model Monitor's constraints.json shape, from a dataset profile.

Each feature gets its inferred type, its completeness (the share of rows with a value), for
numbers ``num_constraints.is_non_negative`` (whether the minimum is at least 0) and for text of
small cardinality ``string_constraints.domains`` (its frequent values; the rare ones the quality
check reports as out of domain are left out). ``monitoring_config`` holds the values Model
Monitor writes into the baselines it suggests.
"""

from __future__ import annotations

from typing import Any

from bastion.scanners.data.profile import ColumnProfile, DatasetProfile

MONITORING_CONFIG: dict[str, Any] = {
    "evaluate_constraints": "Enabled",
    "emit_metrics": "Enabled",
    "datatype_check_threshold": 1.0,
    "domain_content_threshold": 1.0,
    "distribution_constraints": {
        "perform_comparison": "Enabled",
        "comparison_threshold": 0.1,
        "comparison_method": "Robust",
        "categorical_comparison_threshold": 0.1,
        "categorical_drift_method": "LInfinity",
    },
}


def suggest_constraints(profile: DatasetProfile) -> dict[str, Any]:
    """constraints.json for data shaped like ``profile``."""
    return {
        "version": 0.0,
        "features": [_feature(column) for column in profile.columns],
        "monitoring_config": {
            **MONITORING_CONFIG,
            "distribution_constraints": dict(MONITORING_CONFIG["distribution_constraints"]),
        },
    }


def _feature(column: ColumnProfile) -> dict[str, Any]:
    feature: dict[str, Any] = {
        "name": column.name,
        "inferred_type": column.inferred_type,
        "completeness": round(column.present / column.rows, 6) if column.rows else 0.0,
    }
    if column.inferred_type in ("Integral", "Fractional") and column.min is not None:
        feature["num_constraints"] = {"is_non_negative": float(column.min) >= 0}
    domain = column.domain()
    if column.inferred_type == "String" and domain is not None:
        feature["string_constraints"] = {"domains": [_text(value) for value in domain]}
    return feature


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
