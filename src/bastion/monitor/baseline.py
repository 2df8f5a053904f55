"""Baselines in SageMaker Model Monitor's shapes: statistics.json and the suggested constraints.json.

statistics.json holds per feature its inferred type (Integral, Fractional, String, Unknown), the
present and missing counts, for numbers mean, sum, population standard deviation, min, max and the
distribution as a KLL sketch (``kll.sketch``: parameters c and k and the items of each level, lowest
first) with 10 equal-width buckets from min to max (``kll.buckets``, counted from the sketch, as
Model Monitor materialises them), and for text its distinct count and value counts
(``categorical.buckets``, most frequent first). constraints.json holds per feature its type, its
completeness, ``num_constraints.is_non_negative`` and, for text of small cardinality,
``string_constraints.domains``; and ``monitoring_config`` with the thresholds the check applies.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bastion.monitor.errors import MonitorError
from bastion.monitor.sketch import ColumnSketch, TableSketch

STATISTICS = "statistics.json"
CONSTRAINTS = "constraints.json"
BUCKETS = 10
"""Buckets of ``kll.buckets``; Model Monitor materialises 10, not configurable there either."""
COMPARISON_METHODS = ("Simple", "Robust")


def statistics_document(sketch: TableSketch) -> dict[str, Any]:
    """statistics.json of the table ``sketch`` summarises."""
    return {
        "version": 0.0,
        "dataset": {"item_count": sketch.rows},
        "features": [_feature_statistics(column, sketch.missing(column.name)) for column in sketch.columns.values()],
    }


def constraints_document(sketch: TableSketch, *, comparison_method: str = "Robust") -> dict[str, Any]:
    """The constraints.json suggested for data like the table ``sketch`` summarises."""
    from bastion.scanners.data.constraints import MONITORING_CONFIG

    if comparison_method not in COMPARISON_METHODS:
        raise MonitorError(f"unknown comparison method {comparison_method!r}; choose Simple or Robust")
    config = {**MONITORING_CONFIG, "distribution_constraints": dict(MONITORING_CONFIG["distribution_constraints"])}
    config["distribution_constraints"]["comparison_method"] = comparison_method
    return {
        "version": 0.0,
        "features": [_feature_constraints(column, sketch) for column in sketch.columns.values()],
        "monitoring_config": config,
    }


def write_baseline(sketch: TableSketch, directory: Path, *, comparison_method: str = "Robust") -> list[Path]:
    """Write statistics.json and constraints.json into ``directory`` (created if missing), each atomically."""
    documents = {
        STATISTICS: statistics_document(sketch),
        CONSTRAINTS: constraints_document(sketch, comparison_method=comparison_method),
    }
    return [write_json(directory / name, document) for name, document in documents.items()]


def write_json(target: Path, document: dict[str, Any]) -> Path:
    """Write ``document`` to ``target`` atomically, creating its directory (whose parent must exist)."""
    from bastion.core import atomic_write

    try:
        target.parent.mkdir(exist_ok=True)
        atomic_write(target, (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
    except OSError as exc:
        raise MonitorError(f"{target}: cannot write: {exc.strerror or exc}; check the output directory") from None
    return target


def inferred_type(column: ColumnSketch) -> str:
    """SageMaker's vocabulary: Integral, Fractional, String or Unknown (no values, or nested ones)."""
    if column.present == 0 or column.kind == "other":
        return "Unknown"
    if column.kind == "numeric":
        return "Integral" if column.integral else "Fractional"
    return "String"


def kll_buckets(column: ColumnSketch) -> list[dict[str, float]]:
    """``BUCKETS`` equal-width buckets from min to max, counted from the sketch (the last closed above)."""
    import numpy as np

    if column.kll is None or column.min is None or column.max is None:
        return []
    levels = column.kll.levels()
    items = np.concatenate([np.asarray(level, dtype=np.float64) for level in levels]) if levels else np.empty(0)
    weights = np.concatenate([np.full(len(level), 2.0**height) for height, level in enumerate(levels)]) if levels else items
    low, high = column.min, column.max
    if high <= low:
        return [{"lower_bound": low, "upper_bound": high, "count": float(column.count)}]
    edges = np.linspace(low, high, BUCKETS + 1)
    counts, _ = np.histogram(np.clip(items, low, high), bins=edges, weights=weights)
    return [
        {"lower_bound": float(edges[i]), "upper_bound": float(edges[i + 1]), "count": float(counts[i])} for i in range(BUCKETS)
    ]


def _feature_statistics(column: ColumnSketch, missing: int) -> dict[str, Any]:
    from bastion.scanners.data import KLLSketch

    kind = inferred_type(column)
    common = {"num_present": column.present, "num_missing": missing}
    feature: dict[str, Any] = {"name": column.name, "inferred_type": kind}
    if column.kind == "numeric":
        sketch = column.kll or KLLSketch()
        feature["numerical_statistics"] = {
            "common": common,
            "mean": column.mean if column.count else None,
            "sum": column.sum,
            "std_dev": column.std_dev,
            "min": column.min,
            "max": column.max,
            "distribution": {
                "kll": {
                    "buckets": kll_buckets(column),
                    "sketch": {"parameters": {"c": sketch.c, "k": float(sketch.k)}, "data": sketch.levels()},
                }
            },
        }
    elif column.kind == "text":
        ordered = sorted(column.counts.items(), key=lambda pair: (-pair[1], pair[0]))
        feature["string_statistics"] = {
            "common": common,
            "distinct_count": float(len(column.counts)),
            "distribution": {"categorical": {"buckets": [{"value": value, "count": count} for value, count in ordered]}},
        }
    return feature


def _feature_constraints(column: ColumnSketch, sketch: TableSketch) -> dict[str, Any]:
    from bastion.scanners.data.profile import ColumnProfile

    kind = inferred_type(column)
    feature: dict[str, Any] = {
        "name": column.name,
        "inferred_type": kind,
        "completeness": round(column.present / sketch.rows, 6) if sketch.rows else 0.0,
    }
    if column.kind == "numeric" and column.min is not None:
        feature["num_constraints"] = {"is_non_negative": column.min >= 0}
    if column.kind == "text" and column.exact_counts:
        # The data scanner's rule for a small domain: frequent values only, one spelling of each.
        profile = ColumnProfile(column.name, "VARCHAR", sketch.rows, present=column.present, value_counts=column.counts)
        domain = profile.domain()
        if domain is not None:
            feature["string_constraints"] = {"domains": [str(value) for value in domain]}
    return feature
