"""Poisoning and label errors (``--target``) on fixed-seed tables with known poisoned rows.

The targets of issue 4 are asserted here: with 5% random label flips, precision and recall of at least 0.8; at
least 90% of backdoor rows (2% of the table) found; at most 1% of a clean table flagged. Three tables: credit-like
(binary, 6,000 rows), sensor-like (binary, 6,000 rows, with a free-text column) and a three-class sensor table
(4,000 rows, to keep the file fast).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from bastion.core import Artifact, Finding, Kind, Report, Severity
from bastion.scanners.data import _poison_table
from bastion.scanners.data.dataset import Dataset
from bastion.scanners.data.poisoning import PoisoningAnalysis
from bastion.scanners.interface import ScanError, ScanOptions
from tests.data.poisoning_data import (
    category,
    constant,
    credit_table,
    flip_labels,
    plant_backdoor,
    sensor_table,
    together,
    word,
)

TABLES: dict[str, tuple[Callable[[], pd.DataFrame], str]] = {
    "credit": (lambda: credit_table(seed=1), "outcome"),
    "sensor": (lambda: sensor_table(seed=2), "state"),
    "three-class": (lambda: sensor_table(n=4000, seed=4, classes=3, separation=2.0), "state"),  # smaller: 3 models per fold
}


def analyze(path: Path, target: str) -> list[Finding]:
    with Dataset(str(path), path.name, path.suffix.lstrip(".")) as dataset:
        return PoisoningAnalysis().analyze(dataset, ScanOptions(target=target))


def write(table: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".parquet":
        table.to_parquet(path, index=False)
    else:
        table.to_csv(path, index=False)
    return path


def rows_of(findings: list[Finding], rule: str | None = None) -> set[int]:
    return {f.location.row for f in findings if f.location.row is not None and (rule is None or f.rule_id == rule)}


def precision_recall(flagged: set[int], truth: np.ndarray) -> tuple[float, float]:
    hits = len(flagged & set(truth.tolist()))
    return hits / max(len(flagged), 1), hits / len(truth)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("poisoning")


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    return {name: make() for name, (make, _) in TABLES.items()}


@pytest.mark.parametrize("name", list(TABLES))
def test_clean_table_has_at_most_one_percent_of_rows_flagged(name: str, tables: dict[str, pd.DataFrame], workdir: Path) -> None:
    table, target = tables[name], TABLES[name][1]
    findings = analyze(write(table, workdir / f"{name}-clean.csv"), target)
    assert len(rows_of(findings)) <= 0.01 * len(table), [f.message for f in findings][:10]


@pytest.mark.parametrize("name", list(TABLES))
def test_five_percent_label_flips_found_with_precision_and_recall_of_0_8(
    name: str, tables: dict[str, pd.DataFrame], workdir: Path
) -> None:
    target = TABLES[name][1]
    table, flipped = flip_labels(tables[name], target, 0.05, seed=7)
    findings = analyze(write(table, workdir / f"{name}-flips.csv"), target)
    precision, recall = precision_recall(rows_of(findings), flipped)
    assert precision >= 0.8 and recall >= 0.8, (precision, recall)
    error = next(f for f in findings if f.rule_id == "data.poisoning.label-error")
    given = table.at[error.location.row, target]
    assert error.severity is Severity.MEDIUM
    assert f"row labelled {given!r} looks like '" in error.message
    assert error.confidence is not None and 0.5 <= error.confidence <= 1


BACKDOORS: dict[str, tuple[str, Callable[..., Any], str]] = {
    # name: (table, trigger, label the attacker wants)
    "out-of-range constant": ("credit", constant("utilization", 1.37), "repaid"),
    "new category": ("credit", category("purpose", "wedding"), "default"),
    "pair of rare values": ("credit", together(category("region", "region-9"), category("employment", "student")), "repaid"),
    "word in free text": ("sensor", word("comment", "cf"), "idle"),
    "in-range constant": ("sensor", constant("s3", 0.5), "active"),
    "new category, three classes": ("three-class", category("site", "site-x"), "fault"),
}


Poisoned = tuple[pd.DataFrame, np.ndarray, list[Finding]]


@pytest.fixture(scope="module")
def backdoored(tables: dict[str, pd.DataFrame], workdir: Path) -> Callable[[str], Poisoned]:
    """A backdoor scenario's table, planted rows and findings, analysed once per module."""
    done: dict[str, Poisoned] = {}

    def get(name: str) -> Poisoned:
        if name not in done:
            table_name, trigger, label = BACKDOORS[name]
            target = TABLES[table_name][1]
            table, poisoned = plant_backdoor(tables[table_name], target, 0.02, seed=3, trigger=trigger, to_label=label)
            done[name] = (table, poisoned, analyze(write(table, workdir / f"backdoor-{name.replace(' ', '-')}.csv"), target))
        return done[name]

    return get


@pytest.mark.parametrize("name", list(BACKDOORS))
def test_backdoor_rows_are_found(name: str, backdoored: Callable[[str], Poisoned]) -> None:
    _, poisoned, findings = backdoored(name)
    label = BACKDOORS[name][2]
    found = rows_of(findings, "data.poisoning.backdoor-trigger")
    precision, recall = precision_recall(found, poisoned)
    assert recall >= 0.9, (precision, recall)
    assert precision >= 0.9, (precision, recall)  # rows that carry the pattern but were not planted are few
    finding = next(f for f in findings if f.rule_id == "data.poisoning.backdoor-trigger")
    assert finding.severity is Severity.HIGH
    assert f"row labelled {label!r} carries a suspected backdoor trigger" in finding.message


def test_backdoor_finding_names_the_pattern_but_no_cell_value(backdoored: Callable[[str], Poisoned]) -> None:
    table, poisoned, findings = backdoored("new category")
    finding = next(f for f in findings if f.location.row == poisoned[0])
    assert finding.location.field == "purpose"
    assert "purpose = 'w…' (7 chars)" in finding.message
    assert "while its other features look like 'repaid'" in finding.message
    row = table.loc[poisoned[0]]
    text = f"{finding.message} {finding.evidence} {finding.remediation}"
    for column in ("applicant_id", "purpose", "region", "employment", "income", "loan_amount"):
        assert str(row[column]) not in text, column


def test_exact_duplicates_with_conflicting_labels(tables: dict[str, pd.DataFrame], workdir: Path) -> None:
    table = tables["credit"]
    sources = np.random.default_rng(5).choice(len(table), 30, replace=False)
    copies = table.loc[sources].copy()
    copies["outcome"] = np.where(copies["outcome"] == "default", "repaid", "default")
    copies["applicant_id"] = [f"B{i}" for i in range(len(copies))]  # identifiers differ; features are identical
    doubled = pd.concat([table, copies], ignore_index=True)
    findings = analyze(write(doubled, workdir / "duplicates.csv"), "outcome")
    conflicts = [f for f in findings if f.rule_id == "data.poisoning.conflicting-duplicate"]
    flagged = {f.location.row for f in conflicts}
    pairs = [{int(s), len(table) + i} for i, s in enumerate(sources)]
    assert all(len(pair & flagged) == 1 for pair in pairs)  # one row of each pair, never both
    copy_rows = set(range(len(table), len(doubled)))
    assert len(flagged & copy_rows) >= 0.8 * len(sources)  # mostly the relabelled copy, which the models doubt
    first = conflicts[0]
    other = next(iter(next(p for p in pairs if first.location.row in p) - {first.location.row}))
    assert f"identical in every feature to row(s) {other}," in first.message


def test_outliers_are_reported_with_low_severity(tables: dict[str, pd.DataFrame], workdir: Path) -> None:
    table = tables["credit"].copy()
    rows = np.sort(np.random.default_rng(6).choice(len(table), 10, replace=False))
    table.loc[rows, "loan_amount"] = table["loan_amount"].max() * 8
    table.loc[rows, "late_payments"] = 40
    findings = analyze(write(table, workdir / "outliers.csv"), "outcome")
    outliers = [f for f in findings if f.rule_id == "data.poisoning.outlier"]
    assert {f.location.row for f in outliers} == set(rows.tolist())
    assert all(f.severity is Severity.LOW for f in outliers)
    assert "loan_amount" in outliers[0].message and "late_payments" in outliers[0].message


def test_the_same_file_gives_the_same_findings(tables: dict[str, pd.DataFrame], workdir: Path) -> None:
    table, _ = flip_labels(tables["sensor"].head(2000), "state", 0.05, seed=8)
    path = write(table, workdir / "repeat.csv")
    assert [f.to_dict() for f in analyze(path, "state")] == [f.to_dict() for f in analyze(path, "state")]


def test_findings_fit_the_scan_contract(tables: dict[str, pd.DataFrame], workdir: Path, scan_schema: dict[str, Any]) -> None:
    import jsonschema

    table, _ = flip_labels(tables["credit"].head(3000), "outcome", 0.05, seed=7)
    table, _ = plant_backdoor(table, "outcome", 0.02, 3, constant("utilization", 1.37), "repaid")
    path = write(table, workdir / "contract.csv")
    findings = analyze(path, "outcome")
    assert {f.rule_id for f in findings} >= {"data.poisoning.label-error", "data.poisoning.backdoor-trigger"}
    assert {f.category.value for f in findings} == {"poisoning"}
    assert all(type(f.confidence) is float for f in findings)
    report = Report(scanned=(Artifact(path.name, Kind.DATASET, "csv", None, path.stat().st_size),), findings=tuple(findings))
    jsonschema.validate(report.to_dict(), scan_schema)


def test_rows_are_counted_in_the_file_past_rejected_lines(tables: dict[str, pd.DataFrame], workdir: Path) -> None:
    table, flipped = flip_labels(tables["credit"].head(3000), "outcome", 0.05, seed=9)
    lines = table.to_csv(index=False).splitlines()
    broken = 20  # a data row with one field too many: the reader rejects it, the file still has it
    lines.insert(broken + 1, lines[broken + 1] + ",extra")
    path = workdir / "rejected.csv"
    path.write_text("\n".join(lines) + "\n")
    in_file = np.where(flipped >= broken, flipped + 1, flipped)
    precision, recall = precision_recall(rows_of(analyze(path, "outcome")), in_file)
    assert precision >= 0.8 and recall >= 0.8, (precision, recall)


def test_a_large_file_is_checked_on_a_sample_that_keeps_file_positions(
    tables: dict[str, pd.DataFrame], workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_poison_table, "MAX_ROWS", 2000)
    monkeypatch.setattr(_poison_table, "MIN_CLASS_SAMPLE", 100)
    table, flipped = flip_labels(tables["credit"].head(4000), "outcome", 0.05, seed=10)
    findings = analyze(write(table, workdir / "sampled.csv"), "outcome")
    info = [f for f in findings if f.rule_id == "data.poisoning.sampled"]
    assert len(info) == 1 and "of 4,000 labelled rows" in info[0].message
    precision, recall = precision_recall(rows_of(findings), flipped)
    assert precision >= 0.8 and 0.3 <= recall <= 0.7, (precision, recall)  # about half the rows are in the sample


def test_parquet_gives_the_same_rows_as_csv(tables: dict[str, pd.DataFrame], workdir: Path) -> None:
    table, _ = flip_labels(tables["credit"].head(2000), "outcome", 0.05, seed=11)
    csv_rows = rows_of(analyze(write(table, workdir / "small.csv"), "outcome"))
    assert csv_rows
    assert rows_of(analyze(write(table, workdir / "small.parquet"), "outcome")) == csv_rows


def test_booleans_and_dates_are_read_without_losing_rows(workdir: Path) -> None:
    # Converted in Arrow: an SQL CAST of a boolean column, pushed into the CSV scan, once dropped every row.
    table = pd.DataFrame(
        {
            "flag": [True, False] * 50,
            "day": pd.date_range("2024-01-01", periods=100).strftime("%Y-%m-%d"),
            "label": ["a", "b"] * 50,
        }
    )
    path = write(table, workdir / "types.csv")
    with Dataset(str(path), path.name, "csv") as dataset:
        target = dataset.column("label")
        counts = _poison_table.class_counts(dataset, target)
        read = _poison_table.read_table(dataset, target, [c for c in dataset.columns if c.name != "label"], counts)
    assert len(read.rows) == 100
    assert read.columns["flag"][:2].tolist() == [1.0, 0.0]
    assert np.all(np.diff(read.columns["day"]) == 1)  # days


# Bad input: a clear error or an info finding, never a traceback.


def test_applies_only_with_a_target() -> None:
    assert not PoisoningAnalysis().applies(ScanOptions())
    assert PoisoningAnalysis().applies(ScanOptions(target="y"))


def test_missing_target_column_is_a_scan_error_naming_the_columns(workdir: Path) -> None:
    path = write(pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}), workdir / "no-target.csv")
    with pytest.raises(ScanError, match=r"target column 'label' not found; columns are 'a', 'b'"):
        analyze(path, "label")


def info_rules(findings: list[Finding]) -> list[str]:
    assert all(f.severity is Severity.INFO and f.location.row is None for f in findings)
    return [f.rule_id.rsplit(".", 1)[1] for f in findings]


def test_too_few_rows_are_skipped_with_an_info_finding(workdir: Path) -> None:
    table = pd.DataFrame({"x": range(30), "y": ["a", "b", "c"] * 10})
    findings = analyze(write(table, workdir / "tiny.csv"), "y")
    assert info_rules(findings) == ["too-few-rows"]
    assert "at least 50 labelled rows; found 30" in findings[0].message


def test_a_single_class_is_skipped_with_an_info_finding(workdir: Path) -> None:
    table = pd.DataFrame({"x": range(200), "y": ["a"] * 200})
    assert info_rules(analyze(write(table, workdir / "one-class.csv"), "y")) == ["single-class"]


def test_a_continuous_target_is_skipped_with_an_info_finding(workdir: Path) -> None:
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"x": rng.normal(size=300), "y": rng.normal(size=300)})
    assert info_rules(analyze(write(table, workdir / "regression.csv"), "y")) == ["not-a-class"]


def test_without_usable_features_the_checks_say_why(workdir: Path) -> None:
    table = pd.DataFrame({"id": [f"user-{i}" for i in range(200)], "empty": [None] * 200, "y": ["a", "b"] * 100})
    findings = analyze(write(table, workdir / "no-features.csv"), "y")
    assert info_rules(findings) == ["no-features"]
    assert "id: identifier-like" in findings[0].message and "empty: all values missing" in findings[0].message


def test_rare_classes_and_missing_labels_are_left_out(tables: dict[str, pd.DataFrame], workdir: Path) -> None:
    table = tables["credit"].head(1000).copy()
    table.loc[:2, "outcome"] = "written-off"  # three rows: too few to check
    table.loc[3:9, "outcome"] = None
    findings = analyze(write(table, workdir / "rare.csv"), "outcome")
    assert "3 row(s) of classes with fewer than 10 rows not checked" in findings[0].message
    assert not rows_of(findings) & set(range(10))


def test_labels_the_features_cannot_predict_are_not_called_errors(workdir: Path) -> None:
    rng = np.random.default_rng(1)
    table = pd.DataFrame(
        {"x": rng.normal(size=600), "colour": rng.choice(["red", "blue"], 600), "y": rng.choice(["a", "b"], 600)}
    )
    findings = analyze(write(table, workdir / "random-labels.csv"), "y")
    assert "labels-unpredictable" in info_rules([f for f in findings if f.location.row is None])
    assert not rows_of(findings, "data.poisoning.label-error")
