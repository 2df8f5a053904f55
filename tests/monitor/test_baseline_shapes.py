"""statistics.json and constraints.json against Model Monitor's documented shapes, field by field, and their values
against the data they summarise."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.compute as pc
import pytest

from bastion.monitor import sketch_table, write_baseline
from tests.monitor.tables import CITIES, people, write_parquet

# The documented schemas (SageMaker Developer Guide: "Schema for Statistics (statistics.json file)" and "Schema for
# Constraints (constraints.json file)"), written down as the keys each object has.
STATISTICS_KEYS = {"version", "dataset", "features"}
DATASET_KEYS = {"item_count"}
NUMERIC_FEATURE_KEYS = {"name", "inferred_type", "numerical_statistics"}
NUMERICAL_STATISTICS_KEYS = {"common", "mean", "sum", "std_dev", "min", "max", "distribution"}
COMMON_KEYS = {"num_present", "num_missing"}
KLL_KEYS = {"buckets", "sketch"}
BUCKET_KEYS = {"lower_bound", "upper_bound", "count"}
SKETCH_KEYS = {"parameters", "data"}
PARAMETER_KEYS = {"c", "k"}
STRING_FEATURE_KEYS = {"name", "inferred_type", "string_statistics"}
STRING_STATISTICS_KEYS = {"common", "distinct_count", "distribution"}
CATEGORICAL_BUCKET_KEYS = {"value", "count"}
CONSTRAINTS_KEYS = {"version", "features", "monitoring_config"}
CONSTRAINT_FEATURE_KEYS = {"name", "inferred_type", "completeness", "num_constraints", "string_constraints"}
MONITORING_CONFIG_KEYS = {
    "evaluate_constraints",
    "emit_metrics",
    "datatype_check_threshold",
    "domain_content_threshold",
    "distribution_constraints",
}
DISTRIBUTION_CONSTRAINTS_KEYS = {
    "perform_comparison",
    "comparison_threshold",
    "comparison_method",
    "categorical_comparison_threshold",
    "categorical_drift_method",
}


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    directory = tmp_path_factory.mktemp("baseline")
    table = people(30_000, seed=1)
    data = write_parquet(table, directory / "train.parquet")
    write_baseline(sketch_table(str(data), workers=1), directory / "out")
    statistics = json.loads((directory / "out" / "statistics.json").read_text())
    constraints = json.loads((directory / "out" / "constraints.json").read_text())
    return table, statistics, constraints


def _feature(document: dict[str, Any], name: str) -> dict[str, Any]:
    return next(f for f in document["features"] if f["name"] == name)


def test_statistics_has_the_documented_shape(baseline: tuple[Any, dict[str, Any], dict[str, Any]]) -> None:
    _, statistics, _ = baseline
    assert set(statistics) == STATISTICS_KEYS
    assert statistics["version"] == 0
    assert set(statistics["dataset"]) == DATASET_KEYS
    assert [f["name"] for f in statistics["features"]] == ["age", "income", "city", "churned"]
    for name, kind in (("age", "Integral"), ("income", "Fractional"), ("churned", "Integral")):
        feature = _feature(statistics, name)
        assert set(feature) == NUMERIC_FEATURE_KEYS
        assert feature["inferred_type"] == kind
        numeric = feature["numerical_statistics"]
        assert set(numeric) == NUMERICAL_STATISTICS_KEYS
        assert set(numeric["common"]) == COMMON_KEYS
        assert set(numeric["distribution"]) == {"kll"}
        kll = numeric["distribution"]["kll"]
        assert set(kll) == KLL_KEYS
        assert len(kll["buckets"]) == 10  # Model Monitor materialises 10 buckets
        assert all(set(bucket) == BUCKET_KEYS for bucket in kll["buckets"])
        assert set(kll["sketch"]) == SKETCH_KEYS
        assert set(kll["sketch"]["parameters"]) == PARAMETER_KEYS
        assert all(isinstance(level, list) and all(isinstance(v, float) for v in level) for level in kll["sketch"]["data"])
    city = _feature(statistics, "city")
    assert set(city) == STRING_FEATURE_KEYS
    assert city["inferred_type"] == "String"
    strings = city["string_statistics"]
    assert set(strings) == STRING_STATISTICS_KEYS
    assert set(strings["common"]) == COMMON_KEYS
    assert set(strings["distribution"]) == {"categorical"}
    assert all(set(bucket) == CATEGORICAL_BUCKET_KEYS for bucket in strings["distribution"]["categorical"]["buckets"])


def test_statistics_values_are_those_of_the_data(baseline: tuple[Any, dict[str, Any], dict[str, Any]]) -> None:
    table, statistics, _ = baseline
    assert statistics["dataset"]["item_count"] == table.num_rows
    for name in ("age", "income"):
        values = table.column(name).drop_null().to_numpy().astype(float)
        numeric = _feature(statistics, name)["numerical_statistics"]
        assert numeric["common"] == {"num_present": len(values), "num_missing": table.num_rows - len(values)}
        assert numeric["mean"] == pytest.approx(values.mean(), rel=1e-9)
        assert numeric["sum"] == pytest.approx(values.sum(), rel=1e-9)
        assert numeric["std_dev"] == pytest.approx(values.std(), rel=1e-9)
        assert (numeric["min"], numeric["max"]) == (values.min(), values.max())
        buckets = numeric["distribution"]["kll"]["buckets"]
        assert buckets[0]["lower_bound"] == values.min() and buckets[-1]["upper_bound"] == values.max()
        assert sum(b["count"] for b in buckets) == pytest.approx(len(values))
        exact, _ = np.histogram(values, bins=[b["lower_bound"] for b in buckets] + [buckets[-1]["upper_bound"]])
        # Buckets are counted from the KLL sketch: within its rank error of the exact counts.
        assert np.abs(exact - np.array([b["count"] for b in buckets])).max() <= 0.01 * len(values)
        sketch = numeric["distribution"]["kll"]["sketch"]
        assert sketch["parameters"] == {"c": 0.64, "k": 2048.0}
        weight = sum(len(level) * 2**height for height, level in enumerate(sketch["data"]))
        assert weight == len(values)
    city = _feature(statistics, "city")["string_statistics"]
    counts = {row["values"]: row["counts"] for row in pc.value_counts(table.column("city")).to_pylist()}
    buckets = city["distribution"]["categorical"]["buckets"]
    assert {b["value"]: b["count"] for b in buckets} == counts
    assert [b["count"] for b in buckets] == sorted(counts.values(), reverse=True)
    assert city["distinct_count"] == len(CITIES)


def test_constraints_have_the_documented_shape_and_values(baseline: tuple[Any, dict[str, Any], dict[str, Any]]) -> None:
    table, _, constraints = baseline
    assert set(constraints) == CONSTRAINTS_KEYS
    assert constraints["version"] == 0
    for feature in constraints["features"]:
        assert set(feature) <= CONSTRAINT_FEATURE_KEYS
        assert feature["inferred_type"] in ("Integral", "Fractional", "String", "Unknown")
    income = _feature(constraints, "income")
    assert income["completeness"] == pytest.approx(1 - table.column("income").null_count / table.num_rows, abs=1e-6)
    assert income["num_constraints"]["is_non_negative"] == (pc.min(table.column("income")).as_py() >= 0)
    assert _feature(constraints, "age")["num_constraints"] == {"is_non_negative": True}
    assert set(_feature(constraints, "city")["string_constraints"]["domains"]) == set(CITIES)
    config = constraints["monitoring_config"]
    assert set(config) == MONITORING_CONFIG_KEYS
    assert set(config["distribution_constraints"]) == DISTRIBUTION_CONSTRAINTS_KEYS
    assert config["distribution_constraints"]["comparison_method"] in ("Simple", "Robust")
    assert config["distribution_constraints"]["categorical_drift_method"] in ("LInfinity", "ChiSquared")
    assert math.isclose(config["distribution_constraints"]["comparison_threshold"], 0.1)


def test_the_comparison_method_is_chosen_at_baseline(tmp_path: Path) -> None:
    data = write_parquet(people(2_000, seed=2), tmp_path / "train.parquet")
    write_baseline(sketch_table(str(data), workers=1), tmp_path / "out", comparison_method="Simple")
    constraints = json.loads((tmp_path / "out" / "constraints.json").read_text())
    assert constraints["monitoring_config"]["distribution_constraints"]["comparison_method"] == "Simple"
