"""``bastion monitor baseline`` and ``bastion monitor check`` as a user runs them: files written, exit statuses,
JSON and SARIF output, and one clear line (exit 2) for input that cannot be used."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.conftest import RunBastion
from tests.monitor.tables import people, write_parquet


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("cli")
    write_parquet(people(20_000, seed=1), directory / "train.parquet")
    write_parquet(people(20_000, seed=2), directory / "same.parquet")
    write_parquet(people(20_000, seed=3, age_shift=8.0, cities=[0.1, 0.2, 0.3, 0.4]), directory / "shifted.parquet")
    people(3_000, seed=4).to_pandas().to_csv(directory / "same.csv", index=False)
    return directory


def _baseline(run_bastion: RunBastion, files: Path) -> Path:
    if not (files / "baseline" / "constraints.json").exists():
        done = run_bastion("monitor", "baseline", str(files / "train.parquet"), "-o", str(files / "baseline"))
        assert done.returncode == 0, done.stderr
    return files / "baseline"


def test_baseline_then_check_of_the_same_distribution_passes(run_bastion: RunBastion, files: Path, tmp_path: Path) -> None:
    baseline = _baseline(run_bastion, files)
    assert sorted(p.name for p in baseline.iterdir()) == ["constraints.json", "statistics.json"]
    for data in ("same.parquet", "same.csv"):
        done = run_bastion("monitor", "check", "--baseline", str(baseline), str(files / data), "-o", str(tmp_path / data))
        assert done.returncode == 0, done.stdout + done.stderr
        assert json.loads((tmp_path / data / "constraint_violations.json").read_text()) == {"violations": []}
        assert sorted(p.name for p in (tmp_path / data).iterdir()) == [
            "constraint_violations.json",
            "drift.json",
            "report.html",
            "statistics.json",
        ]


def test_check_of_shifted_data_reports_violations_drift_and_findings(
    run_bastion: RunBastion, files: Path, tmp_path: Path, scan_schema: dict[str, Any]
) -> None:
    baseline = _baseline(run_bastion, files)
    out = tmp_path / "out"
    done = run_bastion(
        "monitor", "check", "--baseline", str(baseline), str(files / "shifted.parquet"), "-o", str(out), "-f", "json"
    )
    assert done.returncode == 1, done.stderr
    document = json.loads(done.stdout)
    jsonschema.validate(document, scan_schema)  # the scan contract, with the check's fields added
    violations = json.loads((out / "constraint_violations.json").read_text())["violations"]
    assert {(v["constraint_check_type"], v["feature_name"]) for v in violations} == {
        ("baseline_drift_check", "age"),
        ("baseline_drift_check", "city"),
    }
    assert all(set(v) == {"feature_name", "constraint_check_type", "description"} for v in violations)
    drift = json.loads((out / "drift.json").read_text())
    assert {c["column"] for c in drift["columns"] if c["drifted"]} == {"age", "city"}
    assert drift["dataset_drift"] is True and drift["share"] == 0.5
    rules = {(f["rule_id"], f["location"]["field"]) for f in document["findings"]}
    assert ("monitor.baseline-drift-check", "age") in rules and ("monitor.column-drift", "city") in rules
    assert ("monitor.dataset-drift", None) in rules
    assert all(f["category"] == "drift" for f in document["findings"])
    report = (out / "report.html").read_text()
    assert report.count("<svg") == 4 and "<script" not in report and "http://" not in report.replace("http://www.w3.org", "")


def test_check_writes_sarif(run_bastion: RunBastion, files: Path, tmp_path: Path) -> None:
    baseline = _baseline(run_bastion, files)
    done = run_bastion(
        "monitor", "check", "--baseline", str(baseline), str(files / "shifted.parquet"), "-o", str(tmp_path), "-f", "sarif"
    )
    assert done.returncode == 1
    sarif = json.loads(done.stdout)
    assert sarif["version"] == "2.1.0"
    assert {r["ruleId"] for r in sarif["runs"][0]["results"]} >= {"monitor.baseline-drift-check", "monitor.column-drift"}


def _one_line_error(done: Any, expected: str) -> None:
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and re.search(expected, lines[0]), done.stderr


def test_a_missing_baseline_is_one_line(run_bastion: RunBastion, files: Path, tmp_path: Path) -> None:
    done = run_bastion(
        "monitor", "check", "--baseline", str(tmp_path / "nowhere"), str(files / "same.parquet"), "-o", str(tmp_path / "o")
    )
    _one_line_error(done, r"nowhere: no such baseline directory; create it with 'bastion monitor baseline")
    assert not (tmp_path / "o").exists()


def test_a_baseline_of_another_shape_is_one_line(run_bastion: RunBastion, files: Path, tmp_path: Path) -> None:
    baseline = tmp_path / "baseline"
    baseline.mkdir()
    (baseline / "statistics.json").write_text(json.dumps({"runs": []}))
    (baseline / "constraints.json").write_text(json.dumps({"features": []}))
    done = run_bastion("monitor", "check", "--baseline", str(baseline), str(files / "same.parquet"), "-o", str(tmp_path / "o"))
    _one_line_error(done, r"statistics\.json: dataset must be an object")


def test_data_that_is_not_a_table_is_one_line(run_bastion: RunBastion, files: Path, tmp_path: Path) -> None:
    model = tmp_path / "model.pkl"
    model.write_bytes(b"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00K\x01.")
    done = run_bastion("monitor", "baseline", str(model), "-o", str(tmp_path / "b"))
    _one_line_error(done, r"model\.pkl: not a table \(pickle\)")
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1" + b"\x00" * 100)
    done = run_bastion(
        "monitor", "check", "--baseline", str(_baseline(run_bastion, files)), str(broken), "-o", str(tmp_path / "o")
    )
    _one_line_error(done, r"broken\.parquet: not a readable Parquet file")
    done = run_bastion("monitor", "baseline", str(tmp_path / "missing.csv"), "-o", str(tmp_path / "b"))
    _one_line_error(done, r"missing\.csv: no such file or directory")
    assert not (tmp_path / "b").exists() and not (tmp_path / "o").exists()
