"""A dataset checked against a baseline: Model Monitor's constraint violations and statistical drift per column.

The data is sketched in one pass (in parallel over its parts), and everything is computed from the
two sides' sketches: a reference of a billion rows costs what one of a thousand does.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bastion.core import Category, Finding, Location, Severity
from bastion.monitor.baseline import CONSTRAINTS, STATISTICS, statistics_document
from bastion.monitor.documents import Constraints, Statistics, load_constraints, load_statistics
from bastion.monitor.drift import ColumnDrift, Distribution, DriftOptions, compare
from bastion.monitor.errors import MonitorError
from bastion.monitor.sketch import TableSketch
from bastion.monitor.violations import Violation, current_distribution, find_violations, reference_distribution

_SEVERITIES = {
    "missing_column_check": Severity.HIGH,
    "data_type_check": Severity.HIGH,
    "extra_column_check": Severity.LOW,
}
"""Severity of each check type's findings; the others are medium."""


@dataclass(frozen=True, slots=True)
class CheckResult:
    """What checking one dataset against one baseline found."""

    data: str
    """The dataset as given."""
    baseline: str
    """The baseline directory as given."""
    rows: int
    violations: tuple[Violation, ...]
    columns: tuple[ColumnDrift, ...]
    """The drift of every column both sides can compare, in baseline order."""
    options: DriftOptions
    statistics: dict[str, Any] = field(repr=False)
    """statistics.json of the data."""
    distributions: dict[str, tuple[Distribution, Distribution]] = field(repr=False, compare=False)
    """Each compared column's (reference, current) distributions, for the report's plots."""

    @property
    def drifted(self) -> list[ColumnDrift]:
        return [column for column in self.columns if column.drifted]

    @property
    def drift_share(self) -> float:
        """The share of compared columns that drift."""
        return len(self.drifted) / len(self.columns) if self.columns else 0.0

    @property
    def dataset_drift(self) -> bool:
        return bool(self.columns) and self.drift_share >= self.options.drift_share

    def violations_document(self) -> dict[str, Any]:
        """constraint_violations.json."""
        return {"violations": [violation.to_dict() for violation in self.violations]}

    def drift_document(self) -> dict[str, Any]:
        return {
            "columns": [column.to_dict() for column in self.columns],
            "compared": len(self.columns),
            "drifted": len(self.drifted),
            "share": self.drift_share,
            "drift_share_threshold": self.options.drift_share,
            "dataset_drift": self.dataset_drift,
        }

    def findings(self) -> list[Finding]:
        """Violations and drift as findings (category ``drift``), for the gate and SARIF, in a deterministic order."""
        findings = [
            Finding(
                rule_id=rule_id(violation.constraint_check_type),
                category=Category.DRIFT,
                severity=_SEVERITIES.get(violation.constraint_check_type, Severity.MEDIUM),
                message=violation.description,
                location=Location(path=self.data, field=violation.feature_name),
                remediation="Compare the data with the baseline; if the change is expected, create a new baseline.",
            )
            for violation in self.violations
        ]
        for column in self.drifted:
            measure = "p-value" if column.method in ("ks", "chisquare", "z") else "distance"
            findings.append(
                Finding(
                    rule_id=rule_id("column_drift"),
                    category=Category.DRIFT,
                    severity=Severity.MEDIUM,
                    message=f"column {column.column!r} drifted: {column.method} {measure} {column.statistic:.4g} "
                    f"(threshold {column.threshold})",
                    location=Location(path=self.data, field=column.column),
                    extra={"method": column.method, "statistic": column.statistic, "threshold": column.threshold},
                )
            )
        if self.dataset_drift:
            findings.append(
                Finding(
                    rule_id=rule_id("dataset_drift"),
                    category=Category.DRIFT,
                    severity=Severity.HIGH,
                    message=f"dataset drift: {len(self.drifted)} of {len(self.columns)} columns drifted "
                    f"({self.drift_share:.0%}, threshold {self.options.drift_share:.0%})",
                    location=Location(path=self.data),
                    count=len(self.drifted),
                )
            )
        return findings


def rule_id(check_type: str) -> str:
    """The findings' rule id of a check type: ``monitor.data-type-check`` (rule ids take no underscores)."""
    return "monitor." + check_type.replace("_", "-")


@dataclass(frozen=True, slots=True)
class Baseline:
    """A baseline directory's two documents."""

    directory: str
    statistics: Statistics
    constraints: Constraints


def load_baseline(directory: Path) -> Baseline:
    """The baseline in ``directory`` (statistics.json and constraints.json, ours or Model Monitor's)."""
    if not directory.is_dir():
        raise MonitorError(f"{directory}: no such baseline directory; create it with 'bastion monitor baseline DATA -o DIR'")
    return Baseline(str(directory), load_statistics(directory / STATISTICS), load_constraints(directory / CONSTRAINTS))


def check_sketch(
    baseline: Baseline, data: str, sketch: TableSketch, options: DriftOptions | None = None, *, ignore: Collection[str] = ()
) -> CheckResult:
    """Check the data ``sketch`` summarises (read from ``data``) against ``baseline``, leaving out the columns
    named in ``ignore`` (a capture's ``request_id``, ``time``, ... when the baseline is the training data)."""
    options = options or DriftOptions()
    if ignore:
        sketch = TableSketch(sketch.rows, {k: v for k, v in sketch.columns.items() if k not in ignore})
    distributions: dict[str, tuple[Distribution, Distribution]] = {}
    for name, feature in baseline.statistics.features.items():
        column = sketch.columns.get(name)
        reference = reference_distribution(feature)
        if column is None or reference is None:
            continue
        current = current_distribution(column, reference)
        if current is not None and current.count:
            distributions[name] = (reference, current)
    columns = tuple(compare(name, reference, current, options) for name, (reference, current) in distributions.items())
    return CheckResult(
        data=data,
        baseline=baseline.directory,
        rows=sketch.rows,
        violations=tuple(find_violations(baseline.statistics, baseline.constraints, sketch, distributions)),
        columns=columns,
        options=options,
        statistics=statistics_document(sketch),
        distributions=distributions,
    )


def check(
    baseline: Path,
    data: str,
    options: DriftOptions | None = None,
    *,
    ignore: Collection[str] = (),
    workers: int | None = None,
    scheduler: str | None = None,
) -> CheckResult:
    """Check the dataset at ``data`` against the baseline in the directory ``baseline`` (read first: a wrong
    baseline should not cost a pass over the data)."""
    from bastion.monitor._parallel import sketch_table

    documents = load_baseline(baseline)
    return check_sketch(documents, data, sketch_table(data, workers=workers, scheduler=scheduler), options, ignore=ignore)
