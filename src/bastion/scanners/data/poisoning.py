"""Poisoning and label errors (``--target``): one finding per suspicious row.

Four checks, each row reported once under the strongest that flags it:

- ``data.poisoning.backdoor-trigger`` (high): the row carries a rare pattern that maps almost entirely to its
  label while its other features point elsewhere (``_poison_triggers``);
- ``data.poisoning.conflicting-duplicate`` (medium): an exact duplicate of rows mostly labelled otherwise;
- ``data.poisoning.outlier`` (low): far from every other row in feature space (``_poison_rows``);
- ``data.poisoning.label-error`` (medium): out-of-fold models confidently predict another label
  (``_poison_labels``: confident learning cut at the estimated noise rate, on an ensemble of gradient boosting,
  logistic regression and nearest-neighbour votes).

Messages and evidence name labels, columns and summaries, never a row's values. Up to 20,000 labelled rows are
analysed; a larger file is checked on a stratified sample (an info finding says so), rows always reported by
their 0-based position in the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bastion.core import Category, Finding, Location, Severity
from bastion.scanners.data.interface import DatasetAnalysis
from bastion.scanners.interface import ScanError, ScanOptions

if TYPE_CHECKING:  # numpy and the checks load only when a scan has --target
    import numpy as np
    import numpy.typing as npt

    from bastion.scanners.data._poison_features import Features
    from bastion.scanners.data._poison_labels import Predictions
    from bastion.scanners.data._poison_table import LabelledTable
    from bastion.scanners.data._poison_triggers import Trigger
    from bastion.scanners.data.dataset import Dataset

MIN_ROWS = 50
"""Fewer labelled rows than this cannot support cross-validated checks."""
MIN_CLASS_ROWS = 10
"""Classes with fewer rows are left out of the checks (cross-validation needs some of each in every fold)."""
MAX_CLASSES = 50
"""A target with more distinct values is taken for a number to predict, not a class."""
MAX_COLUMNS = 100
"""Feature columns used (the first ones in the file): bounds memory and time on very wide tables."""
_LABEL_WIDTH = 40


class PoisoningAnalysis(DatasetAnalysis):
    name = "poisoning"

    def applies(self, options: ScanOptions) -> bool:
        return options.target is not None

    def analyze(self, dataset: Dataset, options: ScanOptions) -> list[Finding]:
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

        from bastion.scanners.data._poison_table import class_counts, read_table, usable

        assert options.target is not None
        try:
            target = dataset.column(options.target)
        except KeyError:
            available = ", ".join(repr(c.name) for c in dataset.columns)
            raise ScanError(f"target column {options.target!r} not found; columns are {available}") from None
        about = _Info(dataset.display_path, options.target)
        counts = class_counts(dataset, target)
        total = sum(counts.values())
        if total < MIN_ROWS:
            return [about.info("too-few-rows", f"poisoning checks need at least {MIN_ROWS} labelled rows; found {total}")]
        if len(counts) > MAX_CLASSES:
            return [
                about.info(
                    "not-a-class", f"target has {len(counts)} distinct values; label checks need at most {MAX_CLASSES} classes"
                )
            ]
        if len(counts) < 2:
            return [about.info("single-class", "target has a single class; label checks need two or more")]
        findings: list[Finding] = []
        candidates = [c for c in dataset.columns if c.name != target.name and usable(c)]
        if len(candidates) > MAX_COLUMNS:
            findings.append(about.info("columns-capped", f"checked the first {MAX_COLUMNS} of {len(candidates)} feature columns"))
        table = read_table(dataset, target, candidates[:MAX_COLUMNS], counts)
        if table.sampled:
            findings.append(
                about.info("sampled", f"checked a stratified sample of {len(table.rows):,} of {table.total_rows:,} labelled rows")
            )
        table, dropped = _without_small_classes(table)
        if dropped:
            findings.append(
                about.info("small-classes", f"{dropped} row(s) of classes with fewer than {MIN_CLASS_ROWS} rows not checked")
            )
        if len(table.classes) < 2:
            return [*findings, about.info("single-class", f"fewer than two classes have {MIN_CLASS_ROWS} rows or more")]
        # One thread: on a busy machine OpenMP's spinning made two-thread fits of this size ~10x slower, not faster.
        # threadpoolctl limits only the libraries already loaded, so load scikit-learn's OpenMP runtime first.
        import sklearn.ensemble  # noqa: F401

        with threadpool_limits(limits=1):
            findings.extend(_check(table, about))
        return findings


def _check(table: LabelledTable, about: _Info) -> list[Finding]:
    import numpy as np

    from bastion.scanners.data._poison_features import build_features
    from bastion.scanners.data._poison_labels import label_issues, out_of_fold
    from bastion.scanners.data._poison_rows import conflicting_duplicates, outliers
    from bastion.scanners.data._poison_triggers import find_triggers

    features = build_features(table)
    if not features.used:
        reasons = "; ".join(f"{name}: {why}" for name, why in features.excluded.items()) or "no columns besides the target"
        return [about.info("no-features", f"no usable feature columns ({reasons})")]
    labels = table.labels
    # Triggers first: their rows are then kept out of training, so they cannot teach the models their pattern.
    triggers = find_triggers(features, labels)
    poisoned = np.zeros(len(labels), dtype=bool)
    for trigger in triggers:
        poisoned[trigger.rows] = True
    predictions = out_of_fold(features.tree, features.categorical, features.dense, labels, poisoned)
    report = _RowFindings(about.path, table, features, predictions)
    flagged: dict[int, Finding] = {}
    for trigger in triggers:
        for slot, row in enumerate(trigger.rows):
            flagged.setdefault(int(row), report.backdoor(int(row), trigger, trigger.rest[slot]))
    for conflict in conflicting_duplicates(features.duplicate_keys, labels, predictions.probabilities):
        flagged.setdefault(conflict.row, report.duplicate(conflict.row, conflict.consensus, conflict.others, conflict.share))
    issues = label_issues(labels, predictions, np.flatnonzero(~poisoned))
    mislabelled = set(issues.rows.tolist())
    notes = []
    if not issues.checked:
        notes.append(
            about.info(
                "labels-unpredictable",
                f"the features barely predict the labels (out-of-fold skill {issues.skill:.2f} over guessing the most "
                "common label); label-error checks skipped",
            )
        )
    # An outlier before a label error: on a row unlike any other, the models' verdict is extrapolation.
    unclipped = features.unclipped()
    far, depths = outliers(unclipped)
    for row, depth in zip(far.tolist(), depths.tolist(), strict=True):
        flagged.setdefault(row, report.outlier(row, depth, unclipped[row], label_doubted=row in mislabelled))
    for row in sorted(mislabelled):
        flagged.setdefault(row, report.label_error(row, issues.noise_rate))
    return [*notes, *(flagged[row] for row in sorted(flagged, key=lambda r: int(table.rows[r])))]


def _without_small_classes(table: LabelledTable) -> tuple[LabelledTable, int]:
    import numpy as np

    from bastion.scanners.data._poison_table import LabelledTable

    sizes = np.bincount(table.labels, minlength=len(table.classes))
    kept = np.flatnonzero(sizes >= MIN_CLASS_ROWS)
    if len(kept) == len(table.classes):
        return table, 0
    recode = np.full(len(table.classes), -1, dtype=np.int64)
    recode[kept] = np.arange(len(kept))
    rows = recode[table.labels] >= 0
    smaller = LabelledTable(
        rows=table.rows[rows],
        labels=recode[table.labels[rows]],
        classes=[table.classes[c] for c in kept],
        columns={name: values[rows] for name, values in table.columns.items()},
        total_rows=table.total_rows,
    )
    return smaller, int((~rows).sum())


@dataclass(frozen=True, slots=True)
class _Info:
    """Informational findings about the dataset as a whole (checks skipped or sampled)."""

    path: str
    target: str

    def info(self, rule: str, message: str) -> Finding:
        return Finding(
            rule_id=f"data.poisoning.{rule}",
            category=Category.POISONING,
            severity=Severity.INFO,
            message=f"{message} (target {self.target!r})",
            location=Location(path=self.path, field=self.target),
        )


@dataclass(frozen=True, slots=True)
class _RowFindings:
    """Builds the per-row findings: messages, evidence and confidence per rule."""

    path: str
    table: LabelledTable
    features: Features
    predictions: Predictions

    def backdoor(self, row: int, trigger: Trigger, rest: npt.NDArray[np.float64]) -> Finding:
        given = self._label(trigger.label)
        elsewhere = int(rest.argmax()) != trigger.label
        if elsewhere:
            suspected = self._label(int(rest.argmax()))
            tail = f"while its other features look like {suspected}"
        else:
            tail = "though its other features agree with the label"
        share = trigger.support / len(self.table.rows)
        return self._finding(
            row,
            "backdoor-trigger",
            Severity.HIGH,
            f"row labelled {given} carries a suspected backdoor trigger, {trigger.description}, {tail}",
            confidence=trigger.purity * trigger.conflict * (1.0 if elsewhere else 0.8),
            evidence=(
                f"pattern in {trigger.support} rows ({share:.1%}), {trigger.purity:.0%} labelled {given}; "
                f"for {trigger.conflict:.0%} of those the other features point to another label"
            ),
            remediation="Remove the rows carrying this pattern, then find out how they entered the data.",
            field=trigger.columns[0] if len(trigger.columns) == 1 else None,
        )

    def duplicate(self, row: int, consensus: int, others: npt.NDArray[np.int64], share: float) -> Finding:
        given, agreed = self._label(int(self.table.labels[row])), self._label(consensus)
        shown = ", ".join(str(int(self.table.rows[r])) for r in others[:5]) + (", …" if len(others) > 5 else "")
        verdict = f"mostly labelled {agreed}" if share > 0.5 else f"labelled {agreed}, which the models favour"
        return self._finding(
            row,
            "conflicting-duplicate",
            Severity.MEDIUM,
            f"row labelled {given} is identical in every feature to row(s) {shown}, {verdict}",
            confidence=share,
            evidence=f"{len(others) + 1} identical rows, {share:.0%} labelled {agreed}; {len(self.features.used)} columns alike",
            remediation="Keep one label for identical rows: check which is right, relabel or drop the others.",
        )

    def label_error(self, row: int, noise_rate: float) -> Finding:
        probabilities = self.predictions.probabilities[row]
        label = int(self.table.labels[row])
        suspected = int(probabilities.argmax())
        per_model = ", ".join(f"{name} {p[row, label]:.2f}" for name, p in self.predictions.by_model.items())
        return self._finding(
            row,
            "label-error",
            Severity.MEDIUM,
            f"row labelled {self._label(label)} looks like {self._label(suspected)}: out-of-fold models give its label "
            f"{probabilities[label]:.2f} and {self._label(suspected)} {probabilities[suspected]:.2f}",
            confidence=1.0 - float(probabilities[label]),
            evidence=f"probability of the given label by model: {per_model}; estimated share of wrong labels {noise_rate:.1%}",
            remediation="Check the label against its source; relabel or drop the row before training.",
        )

    def outlier(self, row: int, depth: float, scaled: npt.NDArray[np.float64], *, label_doubted: bool) -> Finding:
        from bastion.scanners.data._poison_rows import OUTLIER_NEIGHBOURS, unusual_columns

        columns = ", ".join(unusual_columns(scaled, self.features.dense_owner))
        doubt = f"; the models also doubt its label {self._label(int(self.table.labels[row]))}" if label_doubted else ""
        return self._finding(
            row,
            "outlier",
            Severity.LOW,
            f"row is an outlier in feature space, most unusual in {columns}{doubt}",
            confidence=min(0.9, 0.25 + depth / 80),
            evidence=f"mean distance to its {OUTLIER_NEIGHBOURS} nearest rows: {depth:.0f} robust spreads above the median row's",
            remediation="Check the row for entry errors or injected values; keep it if it is genuine.",
        )

    def _finding(
        self,
        row: int,
        rule: str,
        severity: Severity,
        message: str,
        *,
        confidence: float,
        evidence: str,
        remediation: str,
        field: str | None = None,
    ) -> Finding:
        return Finding(
            rule_id=f"data.poisoning.{rule}",
            category=Category.POISONING,
            severity=severity,
            message=message,
            location=Location(path=self.path, row=int(self.table.rows[row]), field=field),
            confidence=round(min(max(float(confidence), 0.0), 1.0), 2),
            evidence=evidence,
            remediation=remediation,
        )

    def _label(self, code: int) -> str:
        text = self.table.classes[code]
        return repr(text if len(text) <= _LABEL_WIDTH else text[: _LABEL_WIDTH - 1] + "…")
