"""Data quality on generated data with planted problems (fixed seeds): the column profile against numpy, each rule
with its counts and rows, no findings on clean data, the statistics.json and constraints.json shapes, the KLL
sketch, and ``bastion profile``."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bastion.core import Category, Finding, Severity
from bastion.scanners.data._kll import KLLSketch
from bastion.scanners.data.constraints import suggest_constraints
from bastion.scanners.data.dataset import Dataset
from bastion.scanners.data.profile import DatasetProfile, profile_dataset
from bastion.scanners.data.quality import QualityAnalysis
from bastion.scanners.interface import ScanOptions
from tests.conftest import RunBastion

ROWS = 4000
CITIES = ["Paris", "Berlin", "Rome", "Madrid"]


def write_clean(path: Path, seed: int = 7, rows: int = ROWS) -> dict[str, list[Any]]:
    """A table with nothing wrong: unique ids, normal scores, positive amounts, frequent categories."""
    rng = random.Random(seed)
    columns: dict[str, list[Any]] = {
        "id": list(range(rows)),
        "score": [round(rng.gauss(50, 10), 3) for _ in range(rows)],
        "amount": [round(rng.uniform(1, 500), 2) for _ in range(rows)],
        "city": [rng.choice(CITIES) for _ in range(rows)],
        "active": [rng.random() < 0.5 for _ in range(rows)],
        "comment": [f"order {i} shipped in {rng.randint(1, 9)} days" for i in range(rows)],
    }
    _write(path, columns)
    return columns


def write_planted(path: Path) -> dict[str, list[Any]]:
    """The clean table with known problems planted at known rows."""
    columns = write_clean(path, seed=11)
    columns["age"] = [None if i % 4 == 0 else 20 + i % 50 for i in range(ROWS)]  # 25% missing
    columns["nothing"] = [None] * ROWS
    columns["country"] = ["FR"] * ROWS
    columns["code"] = [str(i * 3) for i in range(ROWS)]
    for row in (10, 2000):
        columns["code"][row] = "n/a"  # not a number in a column of numbers
    columns["score"][123] = 5000.0  # far outside the fences
    for row in (40, 3000):
        columns["amount"][row] = -12.5  # negatives among positives
    columns["city"][77] = "paris "  # a variant of a frequent category
    columns["city"][1500] = "Lyon"  # a rare category (1 of 4000 rows, under 0.1%)
    columns["city"][1501] = "Lyon"
    rows = [dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)]
    rows[3500] = dict(rows[300])  # an exact duplicate
    rows[3600] = {**rows[400], "id": 3600, "comment": rows[400]["comment"].upper() + "!"}  # a near-duplicate
    rows[3700] = {**rows[500], "id": 3700, "score": rows[500]["score"] + 0.0004}  # a near-duplicate by rounding
    for name in columns:
        columns[name] = [row[name] for row in rows]
    _write(path, columns)
    return columns


def _write(path: Path, columns: dict[str, list[Any]]) -> None:
    def cell(value: Any) -> str:
        return "" if value is None else str(value)

    with path.open("w") as handle:
        handle.write(",".join(columns) + "\n")
        for values in zip(*columns.values(), strict=True):
            handle.write(",".join(cell(v) for v in values) + "\n")


def analyze(path: Path, fmt: str = "csv") -> tuple[DatasetProfile, list[Finding]]:
    with Dataset(str(path), path.name, fmt) as dataset:
        return profile_dataset(dataset), QualityAnalysis().analyze(dataset, ScanOptions())


def by_key(findings: list[Finding]) -> dict[tuple[str, str | None], Finding]:
    return {(f.rule_id.removeprefix("data.quality."), f.location.field): f for f in findings}


# -- the profile ----------------------------------------------------------------------------------


def test_the_profile_matches_numpy(tmp_path: Path) -> None:
    path = tmp_path / "clean.csv"
    data = write_clean(path)
    profile, _ = analyze(path)
    assert profile.rows == ROWS
    columns = {c.name: c for c in profile.columns}
    assert [c.inferred_type for c in profile.columns] == ["Integral", "Fractional", "Fractional", "String", "String", "String"]

    score = columns["score"]
    values = np.array(data["score"])
    assert (score.min, score.max) == (values.min(), values.max())
    assert score.mean == pytest.approx(values.mean()) and score.std == pytest.approx(values.std())
    assert score.sum == pytest.approx(values.sum())
    assert score.quartiles == pytest.approx(tuple(np.quantile(values, [0.25, 0.5, 0.75])), abs=0.2)
    edges = np.linspace(values.min(), values.max(), 11)
    assert [b.count for b in score.histogram] == list(np.histogram(values, bins=edges)[0])
    assert [b.lower for b in score.histogram] == pytest.approx(list(edges[:-1]))
    assert (score.missing, score.negatives, score.non_finite) == (0, 0, 0)
    assert score.distinct == pytest.approx(len(set(data["score"])), rel=0.05) and not score.distinct_exact

    city = columns["city"]
    counts = {c: data["city"].count(c) for c in CITIES}
    assert city.distinct_exact and city.distinct == 4
    assert city.top == sorted(counts.items(), key=lambda pair: -pair[1])
    assert city.value_counts == counts
    assert city.domain() == [c for c, _ in city.top]

    ids = columns["id"]
    assert (ids.min, ids.max, ids.distinct_exact) == (0, ROWS - 1, False)
    assert sum(len(level) * 2**height for height, level in enumerate(ids.sketch)) == ROWS


def test_top_values_of_a_high_cardinality_column_have_exact_counts(tmp_path: Path) -> None:
    path = tmp_path / "skewed.csv"
    rng = random.Random(3)
    names = ["common"] * 900 + ["usual"] * 400 + [f"rare{rng.randrange(10**9)}" for _ in range(2700)]
    _write(path, {"name": names})
    profile, _ = analyze(path)
    (column,) = profile.columns
    assert not column.distinct_exact and column.value_counts is None
    assert column.top[:2] == [("common", 900), ("usual", 400)]


def test_non_finite_floats_stay_out_of_the_statistics(tmp_path: Path) -> None:
    path = tmp_path / "nan.csv"
    values = [float(i) for i in range(100)]
    _write(path, {"v": [*values, "nan", "inf", "-inf"]})
    profile, findings = analyze(path)
    (column,) = profile.columns
    assert (column.non_finite, column.min, column.max, column.mean) == (3, 0.0, 99.0, pytest.approx(49.5))
    assert sum(b.count for b in column.histogram) == 100
    assert not [f for f in findings if f.rule_id == "data.quality.outliers"]


def test_json_lines_and_parquet_profile_the_same(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    records = [{"n": i % 13, "s": CITIES[i % 3], "x": i / 7} for i in range(500)]
    (tmp_path / "t.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    pq.write_table(pa.Table.from_pylist(records), tmp_path / "t.parquet")
    jsonl, _ = analyze(tmp_path / "t.jsonl", "jsonl")
    parquet, _ = analyze(tmp_path / "t.parquet", "parquet")
    for a, b in zip(jsonl.columns, parquet.columns, strict=True):
        assert (a.name, a.present, a.distinct, a.top, a.min, a.max) == (b.name, b.present, b.distinct, b.top, b.min, b.max)
        assert [x.count for x in a.histogram] == [x.count for x in b.histogram]


# -- the findings ---------------------------------------------------------------------------------


def test_clean_data_has_no_quality_findings(tmp_path: Path) -> None:
    for seed in (1, 2, 3):
        path = tmp_path / f"clean{seed}.csv"
        write_clean(path, seed=seed)
        _, findings = analyze(path)
        assert findings == [], [f.message for f in findings]


def test_each_planted_problem_is_found_where_it_was_planted(tmp_path: Path) -> None:
    path = tmp_path / "planted.csv"
    write_planted(path)
    _, findings = analyze(path)
    found = by_key(findings)
    assert all(f.category is Category.DATA_QUALITY for f in findings)
    expected = {
        ("missing-values", "age"): (Severity.LOW, 1000, None, None),
        ("all-missing", "nothing"): (Severity.MEDIUM, ROWS, None, None),
        ("constant-column", "country"): (Severity.LOW, ROWS, None, None),
        ("type-violation", "code"): (Severity.LOW, 2, 10, [10, 2000]),
        ("outliers", "score"): (Severity.LOW, 1, 123, [123]),
        ("negative-values", "amount"): (Severity.LOW, 2, 40, [40, 3000]),
        ("out-of-domain", "city"): (Severity.LOW, 3, 77, [77, 1500, 1501]),
        ("duplicate-rows", None): (Severity.LOW, 1, 3500, [3500]),
        ("near-duplicate-rows", None): (Severity.LOW, 2, 3600, [3600, 3700]),
    }
    assert set(found) == set(expected)
    for key, (severity, count, row, rows) in expected.items():
        finding = found[key]
        assert (finding.severity, finding.count, finding.location.row) == (severity, count, row), key
        if rows is not None:
            assert finding.extra["rows"] == rows, key
    assert found[("type-violation", "code")].evidence == "'n/a'"
    assert found[("duplicate-rows", None)].extra["groups"] == [[300, 3500]]
    assert found[("near-duplicate-rows", None)].extra["groups"] == [[400, 3600], [500, 3700]]
    assert "'Lyon'" in found[("out-of-domain", "city")].message and "'paris '" in found[("out-of-domain", "city")].message


def test_many_duplicates_raise_the_severity(tmp_path: Path) -> None:
    path = tmp_path / "dups.csv"
    _write(path, {"a": [i % 50 for i in range(200)], "b": ["x"] * 200})
    _, findings = analyze(path)
    duplicates = by_key(findings)[("duplicate-rows", None)]
    assert (duplicates.severity, duplicates.count) == (Severity.MEDIUM, 150)


def test_a_dataset_without_rows_is_one_finding(tmp_path: Path) -> None:
    path = tmp_path / "header.csv"
    path.write_text("a,b,c\n")
    profile, findings = analyze(path)
    assert profile.rows == 0 and [c.name for c in profile.columns] == ["a", "b", "c"]
    (finding,) = findings
    assert (finding.rule_id, finding.severity, finding.count) == ("data.quality.empty-dataset", Severity.MEDIUM, 0)


def test_mixed_types_in_a_json_column_are_type_violations(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    values: list[Any] = list(range(300))
    values[42] = "forty-two"
    path.write_text("".join(json.dumps({"n": v}) + "\n" for v in values))
    _, findings = analyze(path, "jsonl")
    finding = by_key(findings)[("type-violation", "n")]
    assert (finding.count, finding.location.row) == (1, 42)


def test_column_findings_are_capped_per_rule(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    _write(path, {f"c{i}": [1, 1, 1] for i in range(60)})
    _, findings = analyze(path)
    constant = [f for f in findings if f.rule_id == "data.quality.constant-column"]
    assert len(constant) == 51
    assert (constant[-1].location.field, constant[-1].count, constant[-1].extra["fields"][0]) == (None, 10, "c50")


# -- statistics.json and constraints.json ---------------------------------------------------------


def test_statistics_follow_the_model_monitor_shape(tmp_path: Path) -> None:
    path = tmp_path / "planted.csv"
    write_planted(path)
    profile, _ = analyze(path)
    statistics = profile.statistics()
    assert set(statistics) == {"version", "dataset", "features"} and statistics["version"] == 0.0
    assert statistics["dataset"] == {"item_count": ROWS}
    features = {f["name"]: f for f in statistics["features"]}
    numeric = features["score"]
    assert set(numeric) == {"name", "inferred_type", "numerical_statistics"}
    stats = numeric["numerical_statistics"]
    assert set(stats) == {"common", "mean", "sum", "std_dev", "min", "max", "distribution"}
    assert stats["common"] == {"num_present": ROWS, "num_missing": 0}
    kll = stats["distribution"]["kll"]
    assert len(kll["buckets"]) == 10 and set(kll["buckets"][0]) == {"lower_bound", "upper_bound", "count"}
    assert sum(b["count"] for b in kll["buckets"]) == ROWS
    assert kll["sketch"]["parameters"] == {"c": 0.64, "k": 2048.0}
    assert sum(len(level) * 2**h for h, level in enumerate(kll["sketch"]["data"])) == ROWS
    text = features["city"]
    assert set(text) == {"name", "inferred_type", "string_statistics"} and text["inferred_type"] == "String"
    assert set(text["string_statistics"]) == {"common", "distinct_count", "distribution"}
    buckets = text["string_statistics"]["distribution"]["categorical"]["buckets"]
    assert buckets[0]["value"] in CITIES and set(buckets[0]) == {"value", "count"}
    assert features["active"]["string_statistics"]["distribution"]["categorical"]["buckets"][0]["value"] in ("true", "false")
    assert features["nothing"]["inferred_type"] == "Unknown"
    json.dumps(statistics, allow_nan=False)


def test_constraints_follow_the_model_monitor_shape(tmp_path: Path) -> None:
    path = tmp_path / "planted.csv"
    write_planted(path)
    profile, _ = analyze(path)
    constraints = suggest_constraints(profile)
    assert set(constraints) == {"version", "features", "monitoring_config"} and constraints["version"] == 0.0
    assert constraints["monitoring_config"] == {
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
    features = {f["name"]: f for f in constraints["features"]}
    assert features["id"] == {
        "name": "id",
        "inferred_type": "Integral",
        "completeness": 1.0,
        "num_constraints": {"is_non_negative": True},
    }
    assert features["amount"]["num_constraints"] == {"is_non_negative": False}
    assert features["age"]["completeness"] == 0.75
    assert sorted(features["city"]["string_constraints"]["domains"]) == sorted([*CITIES])  # 'Lyon' is too rare
    assert features["active"]["string_constraints"]["domains"] in (["true", "false"], ["false", "true"])
    assert "string_constraints" not in features["comment"]  # a distinct value in every row is no domain
    assert features["nothing"] == {"name": "nothing", "inferred_type": "Unknown", "completeness": 0.0}
    json.dumps(constraints, allow_nan=False)


# -- the KLL sketch -------------------------------------------------------------------------------


def test_kll_quantiles_are_within_a_fraction_of_a_percent_and_merge() -> None:
    rng = np.random.default_rng(5)
    values = rng.lognormal(size=1_000_000)
    whole, left, right = KLLSketch(), KLLSketch(), KLLSketch()
    for start in range(0, len(values), 65_536):
        whole.update(values[start : start + 65_536])
    left.update(values[:300_000])
    right.update(values[300_000:])
    left.merge(right)
    ordered = np.sort(values)
    for sketch in (whole, left):
        assert sketch.count == len(values)
        assert sum(len(level) * 2**h for h, level in enumerate(sketch.levels())) == len(values)
        assert sum(len(level) for level in sketch.levels()) < 3 * 2048
        for rank in (0.01, 0.25, 0.5, 0.75, 0.99):
            found = np.searchsorted(ordered, sketch.quantile(rank)) / len(values)
            assert abs(found - rank) < 0.005


def test_kll_round_trips_through_statistics_json() -> None:
    rng = np.random.default_rng(9)
    first, second = KLLSketch(), KLLSketch()
    first.update(rng.normal(size=50_000))
    second.update(rng.normal(loc=1, size=50_000))
    restored = KLLSketch.from_levels(json.loads(json.dumps(first.levels())))
    assert (restored.count, restored.levels()) == (first.count, first.levels())
    restored.merge(second)
    assert restored.count == 100_000 and abs(restored.quantile(0.5) - 0.5) < 0.05


def test_kll_is_exact_up_to_k_values_and_repeatable() -> None:
    sketch = KLLSketch()
    sketch.update(np.arange(1000.0)[::-1])
    assert sketch.levels() == [list(np.arange(1000.0))]
    assert sketch.quantile(0.5) == 499.0
    first, second = KLLSketch(), KLLSketch()
    for sketch in (first, second):
        sketch.update(np.arange(100_000.0))
    assert first.levels() == second.levels()


# -- bastion profile ------------------------------------------------------------------------------


def test_profile_command_prints_and_writes_the_baseline(tmp_path: Path, run_bastion: RunBastion) -> None:
    path = tmp_path / "planted.csv"
    write_planted(path)
    result = run_bastion("profile", str(path))
    assert result.returncode == 0, result.stderr
    assert "4000 row(s), 10 column(s)" in result.stdout and "Fractional" in result.stdout and "Berlin" in result.stdout
    out = tmp_path / "out"
    out.mkdir()
    result = run_bastion(
        "profile", str(path), "--format", "json", "-o", str(out / "profile.json"),
        "--constraints", str(out / "constraints.json"), "--statistics", str(out / "statistics.json"),
    )  # fmt: skip
    assert result.returncode == 0 and result.stdout == "", result.stderr
    document = json.loads((out / "profile.json").read_text())
    assert (document["rows"], document["format"], document["encoding"], document["problems"]) == (ROWS, "csv", "utf-8", [])
    assert document["columns"][0]["name"] == "id"
    assert json.loads((out / "constraints.json").read_text())["features"][0]["name"] == "id"
    assert json.loads((out / "statistics.json").read_text())["dataset"] == {"item_count": ROWS}
    assert sorted(p.name for p in out.iterdir()) == ["constraints.json", "profile.json", "statistics.json"]  # no temp files


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        (None, (), "no such file"),
        (b"", (), "the file is empty"),
        (bytes(range(256)) * 8, (), "not a dataset (unknown, binary)"),
        (b"a,b\n1,2\n3,4\n", ("--constraints", "{tmp}/missing/c.json"), "no such directory"),
        (b"a,b\n1,2\n3,4\n", ("--statistics", "{tmp}"), "is a directory"),
    ],
)
def test_profile_command_mistakes_are_one_line(
    tmp_path: Path, run_bastion: RunBastion, content: bytes | None, args: tuple[str, ...], message: str
) -> None:
    path = tmp_path / "data.csv"
    if content is not None:
        path.write_bytes(content)
    result = run_bastion("profile", str(path), *(a.format(tmp=tmp_path) for a in args))
    assert result.returncode == 2
    assert result.stdout == "" and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr, result.stderr


def test_profile_command_reads_fsspec_urls(tmp_path: Path, run_bastion: RunBastion) -> None:
    path = tmp_path / "t.csv"
    write_clean(path, rows=50)
    result = run_bastion("profile", path.as_uri(), "--format", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["rows"] == 50


def test_a_short_wide_table_profiles_the_same_unpivoted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bastion.scanners.data import profile

    path = tmp_path / "planted.csv"
    write_planted(path)
    with Dataset(str(path), path.name, "csv") as dataset:
        monkeypatch.setattr(profile, "UNPIVOT_COLUMNS", 10**6)
        wide = profile_dataset(dataset).to_dict()
        monkeypatch.setattr(profile, "UNPIVOT_COLUMNS", 1)
        unpivoted = profile_dataset(dataset).to_dict()
    assert unpivoted == wide
    assert {c["type"] for c in wide["columns"]} >= {"BIGINT", "DOUBLE", "VARCHAR", "BOOLEAN"}
