"""Each of Model Monitor's violation types, from data made to break exactly one constraint; and a baseline written by
hand in the documented shape (as SageMaker writes it, not by Bastion) read and applied."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from bastion.monitor import MonitorError, check, sketch_table, write_baseline
from tests.monitor.tables import people, write_parquet


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("baseline")
    data = write_parquet(people(20_000, seed=1), directory / "train.parquet")
    write_baseline(sketch_table(str(data), workers=1), directory / "baseline")
    return directory / "baseline"


def _violations(baseline: Path, table: pa.Table, tmp_path: Path) -> list[tuple[str, str]]:
    data = write_parquet(table, tmp_path / "current.parquet")
    result = check(baseline, str(data), workers=1)
    return sorted((v.constraint_check_type, v.feature_name) for v in result.violations)


def test_same_distribution_has_no_violation(baseline: Path, tmp_path: Path) -> None:
    assert _violations(baseline, people(20_000, seed=2), tmp_path) == []


def test_missing_and_extra_columns(baseline: Path, tmp_path: Path) -> None:
    table = people(5_000, seed=3).drop_columns(["churned"]).append_column("score", pa.array(np.zeros(5_000)))
    assert _violations(baseline, table, tmp_path) == [("extra_column_check", "score"), ("missing_column_check", "churned")]


def test_ignored_columns_are_left_out(baseline: Path, tmp_path: Path) -> None:
    table = people(20_000, seed=3).append_column("request_id", pa.array([f"r{i}" for i in range(20_000)]))
    data = write_parquet(table, tmp_path / "captured.parquet")
    assert check(baseline, str(data), workers=1, ignore={"request_id"}).violations == ()


def test_data_type_check_on_text_in_a_number_column(baseline: Path, tmp_path: Path) -> None:
    table = people(5_000, seed=4)
    ages = [str(v) for v in table.column("age").to_pylist()]
    ages[:50] = ["unknown"] * 50  # 1 % of the values are not integers
    table = table.set_column(0, "age", pa.array(ages))
    assert ("data_type_check", "age") in _violations(baseline, table, tmp_path)


def test_data_type_check_on_fractions_in_an_integer_column(baseline: Path, tmp_path: Path) -> None:
    table = people(5_000, seed=5)
    table = table.set_column(0, "age", pa.array(table.column("age").to_numpy().astype(float) + 0.5))
    assert ("data_type_check", "age") in _violations(baseline, table, tmp_path)


def test_integers_written_as_text_still_match(baseline: Path, tmp_path: Path) -> None:
    table = people(20_000, seed=6)
    table = table.set_column(0, "age", pa.array([str(v) for v in table.column("age").to_pylist()]))
    assert ("data_type_check", "age") not in _violations(baseline, table, tmp_path)


def test_completeness_check(baseline: Path, tmp_path: Path) -> None:
    table = people(20_000, seed=7)
    income = table.column("income").to_numpy(zero_copy_only=False)
    table = table.set_column(1, "income", pa.array(income, mask=np.random.default_rng(0).random(20_000) < 0.3))
    assert _violations(baseline, table, tmp_path) == [("completeness_check", "income")]


def test_categorical_values_check(baseline: Path, tmp_path: Path) -> None:
    table = people(20_000, seed=8)
    cities = table.column("city").to_pylist()
    cities[:100] = ["berlin"] * 100
    table = table.set_column(2, "city", pa.array(cities))
    assert _violations(baseline, table, tmp_path) == [("categorical_values_check", "city")]


def test_baseline_drift_check(baseline: Path, tmp_path: Path) -> None:
    table = people(20_000, seed=9, age_shift=10.0, cities=[0.1, 0.2, 0.3, 0.4])
    assert _violations(baseline, table, tmp_path) == [("baseline_drift_check", "age"), ("baseline_drift_check", "city")]


def test_non_negative_check(baseline: Path, tmp_path: Path) -> None:
    table = people(20_000, seed=10)
    ages = table.column("age").to_numpy().copy()
    ages[:20] = -1
    table = table.set_column(0, "age", pa.array(ages))
    assert _violations(baseline, table, tmp_path) == [("non_negative_check", "age")]


# A baseline in the documented shape, as Model Monitor writes it (its field names, its float counts, its KLL
# parameters, a sketch with two levels), written by hand: Bastion did not produce it.
SAGEMAKER_STATISTICS: dict[str, Any] = {
    "version": 0.0,
    "dataset": {"item_count": 1000},
    "features": [
        {
            "name": "amount",
            "inferred_type": "Fractional",
            "numerical_statistics": {
                "common": {"num_present": 1000, "num_missing": 0},
                "mean": 10.0,
                "sum": 10000.0,
                "std_dev": 5.77,
                "min": 0.0,
                "max": 20.0,
                "distribution": {
                    "kll": {
                        "buckets": [{"lower_bound": 2.0 * i, "upper_bound": 2.0 * i + 2.0, "count": 100.0} for i in range(10)],
                        "sketch": {
                            "parameters": {"c": 0.64, "k": 2048.0},
                            "data": [[i * 0.04 for i in range(500)], [i * 0.08 + 0.02 for i in range(250)]],
                        },
                    }
                },
            },
        },
        {
            "name": "channel",
            "inferred_type": "String",
            "string_statistics": {
                "common": {"num_present": 1000, "num_missing": 0},
                "distinct_count": 2.0,
                "distribution": {
                    "categorical": {"buckets": [{"value": "web", "count": 700.0}, {"value": "store", "count": 300.0}]}
                },
            },
        },
    ],
}
SAGEMAKER_CONSTRAINTS: dict[str, Any] = {
    "version": 0.0,
    "features": [
        {"name": "amount", "inferred_type": "Fractional", "completeness": 1.0, "num_constraints": {"is_non_negative": True}},
        {
            "name": "channel",
            "inferred_type": "String",
            "completeness": 1.0,
            "string_constraints": {"domains": ["web", "store"]},
            "monitoringConfigOverrides": {},
        },
    ],
    "monitoring_config": {
        "evaluate_constraints": "Enabled",
        "emit_metrics": "Enabled",
        "datatype_check_threshold": 0.1,
        "domain_content_threshold": 0.1,
        "distribution_constraints": {
            "perform_comparison": "Enabled",
            "comparison_threshold": 0.1,
            "comparison_method": "Robust",
            "categorical_comparison_threshold": 0.1,
            "categorical_drift_method": "LInfinity",
        },
    },
}


def _sagemaker_baseline(directory: Path) -> Path:
    directory.mkdir()
    (directory / "statistics.json").write_text(json.dumps(SAGEMAKER_STATISTICS))
    (directory / "constraints.json").write_text(json.dumps(SAGEMAKER_CONSTRAINTS))
    return directory


def test_a_sagemaker_baseline_is_read_and_applied(tmp_path: Path) -> None:
    baseline = _sagemaker_baseline(tmp_path / "sagemaker")
    rng = np.random.default_rng(11)
    same = pa.table({"amount": rng.uniform(0, 20, 5_000), "channel": rng.choice(["web", "store"], 5_000, p=[0.7, 0.3])})
    result = check(baseline, str(write_parquet(same, tmp_path / "same.parquet")), workers=1)
    assert result.violations == ()
    assert [c.column for c in result.columns] == ["amount", "channel"] and not result.drifted
    shifted = pa.table({"amount": rng.uniform(10, 30, 5_000), "channel": rng.choice(["web", "store"], 5_000, p=[0.3, 0.7])})
    result = check(baseline, str(write_parquet(shifted, tmp_path / "shifted.parquet")), workers=1)
    assert sorted((v.constraint_check_type, v.feature_name) for v in result.violations) == [
        ("baseline_drift_check", "amount"),
        ("baseline_drift_check", "channel"),
    ]
    assert {c.column for c in result.drifted} == {"amount", "channel"}


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("statistics.json", "{not json", "not JSON"),
        ("statistics.json", json.dumps(SAGEMAKER_CONSTRAINTS), "dataset must be an object"),
        ("statistics.json", json.dumps({**SAGEMAKER_CONSTRAINTS, "dataset": {"item_count": 1}}), "features[0] has neither"),
        ("constraints.json", json.dumps({"features": {"amount": 1}}), "features must be a list"),
        (
            "constraints.json",
            json.dumps(
                {**SAGEMAKER_CONSTRAINTS, "monitoring_config": {"distribution_constraints": {"comparison_method": "Fuzzy"}}}
            ),
            "Simple or Robust",
        ),
    ],
)
def test_a_baseline_of_another_shape_is_refused(tmp_path: Path, name: str, content: str, expected: str) -> None:
    baseline = _sagemaker_baseline(tmp_path / "baseline")
    (baseline / name).write_text(content)
    data = write_parquet(pa.table({"amount": [1.0], "channel": ["web"]}), tmp_path / "data.parquet")
    with pytest.raises(MonitorError, match=re.escape(expected)) as raised:
        check(baseline, str(data), workers=1)
    assert str(baseline / name) in str(raised.value)
