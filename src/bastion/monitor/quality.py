"""Model quality, bias and feature-attribution drift of captured traffic against the model's evaluation.

A window's captured predictions are joined with the feedback labels by ``request_id`` (the latest label of a
request wins), then measured as the evaluate step measured the test split:

- model quality (``bastion.ml.metrics``): accuracy, precision, recall, F1 and ROC AUC; a metric below its
  baseline value less ``tolerance`` is a ``LessThanThreshold`` violation (Model Monitor's model quality check);
- Clarify's post-training bias metrics per facet (``bastion.ml.bias``); as Clarify's bias drift monitor, one that is
  worse than its baseline value, farther from fairness (1 for DI, 0 for the others) by more than ``bias_tolerance``
  (room for a window's sampling noise), is a ``bias_drift_check`` violation;
- the gate's metric thresholds (``metrics:`` of a gate policy, ``f1 >= 0.8``, ``abs(DPPL[sex]) <= 0.1``) on the
  window's values; a failing one is a ``gate_metric_check`` violation;
- global feature attributions (``bastion.ml.explain``, as the evaluate step computed them) ranked against the
  baseline's by Clarify's nDCG; below ``ndcg_threshold`` (Clarify's 0.90) is a
  ``feature_attribution_drift_check`` violation.

The baseline is a model package (the OCI layout ``bastion run`` writes, or its unpacked directory: reports/
metrics.json, reports/evaluate.json and the model file), or a JSON file of metric values (then no attribution
drift, which needs the model).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bastion.core import Category, Finding, Location, Severity
from bastion.monitor.errors import MonitorError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pyarrow as pa

    from bastion.gate import MetricThreshold
    from bastion.ml.bias import BiasReport, Facet

QUALITY_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc")
"""The model quality metrics compared per window."""
NDCG_THRESHOLD = 0.90
"""Clarify's default: an attribution ranking whose nDCG against the baseline is below it has drifted."""
CHECK_TYPES = ("LessThanThreshold", "bias_drift_check", "gate_metric_check", "feature_attribution_drift_check")
_FAIR = {"DI": 1.0}
"""The value of a bias metric that means no bias, where it is not 0."""
_SEVERITIES = {"gate_metric_check": Severity.HIGH}
"""Severity of each check type's findings; the others are medium."""


@dataclass(frozen=True)
class QualityBaseline:
    """What a model scored at evaluation: the values a window is compared with."""

    source: str
    """The package directory or JSON file as given."""
    metrics: Mapping[str, float]
    """Metric values by name, as in a package's reports/metrics.json (``f1``, ``DPPL[sex]``, …)."""
    attributions: Mapping[str, float] = field(default_factory=dict)
    """Global attribution of each model feature (mean |SHAP|, or permutation importance), in the model's order;
    empty when the baseline has none."""
    model: Any = field(default=None, compare=False, repr=False)
    """The model, loaded safely from the package (``bastion.ml.persist``); None for a metrics file."""


@dataclass(frozen=True)
class QualityOptions:
    """How a window is judged."""

    positive_label: str = "1"
    """The positive class, as text (as the capture's ``prediction`` column holds it)."""
    facets: tuple[Facet, ...] = ()
    """Facets whose post-training bias is measured; each column must be among the captured inputs."""
    tolerance: float = 0.05
    """How far below its baseline value a quality metric may fall."""
    bias_tolerance: float = 0.1
    """How much farther from fairness than at the baseline a bias metric may be."""
    ndcg_threshold: float = NDCG_THRESHOLD
    """Attribution rankings with a lower nDCG against the baseline have drifted."""
    thresholds: tuple[MetricThreshold, ...] = ()
    """The gate's metric thresholds (``Policy.metrics``), checked on the window's values."""
    min_rows: int = 30
    """Windows with fewer labelled rows are measured but not judged: their metrics are too noisy."""
    feedback_lag: dt.timedelta = dt.timedelta(0)
    """Feedback is read until this long after the window's end (labels arrive after predictions)."""


@dataclass(frozen=True)
class ModelViolation:
    """One entry of a model's constraint_violations.json, in the shape of Model Monitor or Clarify for its type."""

    metric_name: str
    """``f1``, ``DPPL``, ``shap`` …"""
    constraint_check_type: str
    """One of ``CHECK_TYPES``."""
    description: str
    facet: str | None = None
    """The facet's column, for bias metrics."""
    facet_value: str | None = None
    """The facet's sensitive values (or threshold), for bias metrics."""

    def to_dict(self) -> dict[str, Any]:
        document: dict[str, Any] = {}
        if self.facet is not None:
            document |= {"facet": self.facet, "facet_value": self.facet_value}
        document |= {
            "metric_name": self.metric_name,
            "constraint_check_type": self.constraint_check_type,
            "description": self.description,
        }
        if self.constraint_check_type == "feature_attribution_drift_check":
            document["label"] = "label0"  # Clarify's placeholder when the analysis names no label header
        return document


@dataclass(frozen=True)
class QualityResult:
    """What one window of captured traffic measured, and the violations against the baseline."""

    model: str
    start: dt.datetime
    end: dt.datetime
    captured: int
    """Rows captured in the window."""
    labelled: int
    """Of those, rows with a feedback label: the rows measured."""
    metrics: Mapping[str, float | None]
    """Quality metrics and bias metrics (``DPPL[sex]``) of the labelled rows; empty when there were none."""
    bias: tuple[BiasReport, ...]
    attributions: Mapping[str, float]
    """The window's global attributions; empty without a model in the baseline or without labelled rows."""
    ndcg: float | None
    """nDCG of the window's attribution ranking against the baseline's."""
    violations: tuple[ModelViolation, ...]
    judged: bool
    """False when the window had fewer than ``min_rows`` labelled rows (nothing was judged)."""

    def violations_document(self) -> dict[str, Any]:
        """constraint_violations.json."""
        return {"version": "1.0", "violations": [violation.to_dict() for violation in self.violations]}

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "captured": self.captured,
            "labelled": self.labelled,
            "judged": self.judged,
            "metrics": {name: _json_number(value) for name, value in self.metrics.items()},
            "bias": [report.to_dict() for report in self.bias],
            "attributions": dict(self.attributions),
            "ndcg": self.ndcg,
            **self.violations_document(),
        }

    def findings(self) -> list[Finding]:
        """The violations as findings (category ``drift``); the location names the model and window."""
        from bastion.monitor.checks import rule_id

        path = f"{self.model}@{self.start.isoformat()}/{self.end.isoformat()}"
        return [
            Finding(
                rule_id=rule_id(violation.constraint_check_type.replace("LessThanThreshold", "model_quality_check")),
                category=Category.DRIFT,
                severity=_SEVERITIES.get(violation.constraint_check_type, Severity.MEDIUM),
                message=violation.description,
                location=Location(path=path, field=violation.facet or violation.metric_name),
                count=self.labelled,
                remediation="Look at the window's traffic and labels; retrain the model if its world has changed.",
            )
            for violation in self.violations
        ]


def load_quality_baseline(path: Path) -> QualityBaseline:
    """The baseline in ``path``: a model package (OCI layout or unpacked), or a JSON object of metric values."""
    if path.is_file():
        return QualityBaseline(str(path), _metrics(_read_json(path)))
    if (path / "oci-layout").is_file():
        from bastion.signing.package import unpack_package

        with tempfile.TemporaryDirectory(prefix="bastion-baseline-") as scratch:
            unpack_package(path, Path(scratch) / "package")
            return _unpacked_baseline(Path(scratch) / "package", path)
    if (path / "reports" / "metrics.json").is_file():
        return _unpacked_baseline(path, path)
    raise MonitorError(
        f"{path}: not a quality baseline; give a model package (with reports/metrics.json) or a JSON file of metric values"
    )


def check_quality(
    capture_root: str,
    model: str,
    start: dt.datetime,
    end: dt.datetime,
    baseline: QualityBaseline,
    options: QualityOptions | None = None,
) -> QualityResult:
    """Quality, bias and attribution drift of ``model``'s traffic with ``start <= time < end`` under ``capture_root``
    (the directory or URL serving captures into: it holds ``capture/`` and ``feedback/``)."""
    from bastion.monitor.capture import read_window

    options = options or QualityOptions()
    root = capture_root.rstrip("/")
    captured = read_window(f"{root}/capture", model, start, end, kind="capture")
    feedback = read_window(f"{root}/feedback", model, start, end + options.feedback_lag, kind="feedback")
    table = _joined(captured, feedback)
    labelled = table.num_rows
    if labelled == 0:
        return QualityResult(model, start, end, captured.num_rows, 0, {}, (), {}, None, (), judged=False)
    truth = table.column("label").to_pylist()
    predicted = table.column("prediction").to_pylist()
    metrics: dict[str, float | None] = dict(_quality(truth, predicted, table, options.positive_label))
    bias = tuple(_bias(table, truth, predicted, facet, options.positive_label) for facet in options.facets)
    for report in bias:
        metrics.update({f"{code}[{report.facet}]": value for code, value in report.post.items()})
    attributions: dict[str, float] = {}
    ndcg = None
    if baseline.model is not None and baseline.attributions:
        attributions = _attributions(baseline, table, truth, options.positive_label)
        ndcg = attribution_ndcg(baseline.attributions, attributions)
    judged = labelled >= options.min_rows
    violations = tuple(_violations(baseline, metrics, bias, ndcg, options)) if judged else ()
    return QualityResult(model, start, end, captured.num_rows, labelled, metrics, bias, attributions, ndcg, violations, judged)


def attribution_ndcg(baseline: Mapping[str, float], current: Mapping[str, float]) -> float:
    """Clarify's nDCG of the ``current`` attribution ranking against the ``baseline`` one.

    With F = [f1 … fm] the features sorted by baseline attribution a(f), and F' = [f'1 … f'm] sorted by current
    attribution: nDCG = DCG / iDCG, DCG = Σ a(f'i) / log2(i + 1), iDCG = Σ a(fi) / log2(i + 1). A ranking that keeps
    the baseline's order scores 1; swapping two features costs more the higher their baseline attribution.
    Features the window lacks rank last; a baseline of zeros ranks nothing and scores 1.
    """
    gains = {name: abs(value) for name, value in baseline.items()}
    ideal = sorted(gains.values(), reverse=True)
    ranked = sorted(gains, key=lambda name: abs(current[name]) if name in current else -1.0, reverse=True)
    idcg = sum(gain / math.log2(i + 2) for i, gain in enumerate(ideal))
    if idcg == 0:
        return 1.0
    return sum(gains[name] / math.log2(i + 2) for i, name in enumerate(ranked)) / idcg


def _violations(
    baseline: QualityBaseline,
    metrics: Mapping[str, float | None],
    bias: Sequence[BiasReport],
    ndcg: float | None,
    options: QualityOptions,
) -> list[ModelViolation]:
    violations = []
    for name in QUALITY_METRICS:
        value, reference = metrics.get(name), baseline.metrics.get(name)
        if value is None or reference is None:
            continue
        threshold = reference - options.tolerance
        if value < threshold:
            violations.append(
                ModelViolation(
                    name,
                    "LessThanThreshold",
                    f"Metric {name} with {value:.4g} was LessThanThreshold '{threshold:.4g}' "
                    f"(baseline {reference:.4g} less tolerance {options.tolerance:g})",
                )
            )
    for report, facet in zip(bias, options.facets, strict=True):
        for code, value in report.post.items():
            reference = baseline.metrics.get(f"{code}[{report.facet}]")
            fair = _FAIR.get(code, 0.0)
            if value is None or reference is None or abs(value - fair) <= abs(reference - fair) + options.bias_tolerance:
                continue
            violations.append(
                ModelViolation(
                    code,
                    "bias_drift_check",
                    f"Value {value:.4g} does not meet the constraint requirement: farther from {fair:g} than the "
                    f"baseline's {reference:.4g} by more than {options.bias_tolerance:g}",
                    facet=report.facet,
                    facet_value=_facet_value(facet),
                )
            )
    for required in options.thresholds:
        value = metrics.get(required.metric)
        if value is not None and not required.holds(value):
            violations.append(
                ModelViolation(
                    required.metric, "gate_metric_check", f"Metric {required.metric} = {value:.4g} fails the gate's {required}"
                )
            )
    if ndcg is not None and ndcg < options.ndcg_threshold:
        violations.append(
            ModelViolation(
                "shap",
                "feature_attribution_drift_check",
                f"Feature attribution drift {ndcg:.4g} exceeds threshold {options.ndcg_threshold:g}",
            )
        )
    return violations


def _facet_value(facet: Facet) -> str:
    return ",".join(map(str, facet.sensitive)) if facet.sensitive else f">{facet.threshold}"


def _joined(captured: pa.Table, feedback: pa.Table) -> pa.Table:
    """The captured rows that have a label, with the request's latest label as ``label``."""
    import pyarrow as pa

    if captured.num_rows == 0 or feedback.num_rows == 0 or "label" not in feedback.column_names:
        return captured.slice(0, 0).append_column("label", pa.array([], pa.string()))
    missing = [name for name in ("prediction", "score") if name not in captured.column_names]
    if missing:
        raise MonitorError(f"the captured records have no {', '.join(missing)} column; they are not in serving's capture format")
    ordered = feedback.sort_by("time")
    latest = {
        request: label
        for request, label in zip(ordered.column("request_id").to_pylist(), ordered.column("label").to_pylist(), strict=True)
        if label is not None
    }
    labels = pa.array([latest.get(request) for request in captured.column("request_id").to_pylist()], pa.string())
    table = captured.append_column("label", labels)
    return table.filter(labels.is_valid())


def _quality(truth: list[Any], predicted: list[Any], table: pa.Table, positive: str) -> Mapping[str, float | None]:
    from bastion.ml.metrics import classification_metrics

    if len(set(truth) | set(predicted)) == 1 and positive not in truth:  # one class, not the positive one: no rates
        return {name: 1.0 if name == "accuracy" else None for name in QUALITY_METRICS}
    scores = table.column("score")
    binary = len(set(truth) | set(predicted)) <= 2  # the score is P(positive class): it says nothing of three classes
    score = scores.to_numpy() if binary and not scores.null_count else None
    measured = classification_metrics(truth, predicted, score, positive_label=positive)
    return {name: measured.values.get(name) for name in QUALITY_METRICS}


def _bias(table: pa.Table, truth: list[Any], predicted: list[Any], facet: Facet, positive: str) -> BiasReport:
    from bastion.ml.bias import posttraining_bias

    if facet.column not in table.column_names:
        raise MonitorError(
            f"the captured traffic has no column {facet.column!r}; bias drift needs the facet among the captured inputs"
        )
    return posttraining_bias(
        truth,
        predicted,
        table.column(facet.column).to_numpy(zero_copy_only=False),
        facet,
        positive_label=positive,
        label_name="label",
    )


def _attributions(baseline: QualityBaseline, table: pa.Table, truth: list[Any], positive: str) -> dict[str, float]:
    from bastion.ml.explain import explain

    features = list(baseline.attributions)
    explained = explain(
        baseline.model, _feature_matrix(table, features), truth, features, positive_label=_model_label(baseline.model, positive)
    )
    return dict(zip(explained.features, explained.global_importance, strict=True))


def _model_label(model: Any, positive: str) -> object:
    """The model's own class value whose text is ``positive`` (its classes may be numbers)."""
    for value in getattr(model, "classes_", ()):
        if str(value) == positive or (isinstance(value, int | float) and str(float(value)) == str(float(positive))):
            return value
    return positive


def _feature_matrix(table: pa.Table, features: Sequence[str]) -> npt.NDArray[np.float64]:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    missing = [name for name in features if name not in table.column_names]
    if missing:
        raise MonitorError(
            f"the captured traffic has no column {', '.join(map(repr, missing))}; attribution drift needs every model input"
        )
    try:
        columns = [pc.cast(table.column(name), pa.float64()).to_numpy(zero_copy_only=False) for name in features]
    except pa.ArrowInvalid as exc:
        raise MonitorError(f"a captured model input is not numeric ({exc}); attribution drift needs the model's inputs") from None
    return np.column_stack(columns)


def _unpacked_baseline(directory: Path, source: Path) -> QualityBaseline:
    """The baseline in the unpacked package ``directory``; the model is loaded (safely) before it may be removed."""
    metrics = _metrics(_read_json(directory / "reports" / "metrics.json"))
    evaluation = directory / "reports" / "evaluate.json"
    attributions: dict[str, float] = {}
    if evaluation.is_file():
        document = _read_json(evaluation).get("attributions") or {}
        features, importance = document.get("features") or [], document.get("global_importance") or []
        attributions = {str(name): float(value) for name, value in zip(features, importance, strict=False) if value is not None}
    model = None
    if attributions:
        from bastion.ml.persist import load_model
        from bastion.signing.kitfile import KITFILE_NAMES, read_kitfile

        kitfile = next((directory / name for name in KITFILE_NAMES if (directory / name).is_file()), None)
        described = read_kitfile(kitfile).model if kitfile is not None else None
        if described is not None:
            model = load_model(directory / described.path)
    return QualityBaseline(str(source), metrics, attributions, model)


def _metrics(document: Any) -> dict[str, float]:
    values = document.get("metrics", document) if isinstance(document, dict) else None
    if isinstance(values, dict) and isinstance(values.get("values"), dict):
        values = values["values"]
    if not isinstance(values, dict):
        raise MonitorError('the baseline\'s metrics are not a JSON object of metric values ({"f1": 0.8, …})')
    return {
        str(name): float(value)
        for name, value in values.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MonitorError(f"{path}: cannot read the baseline ({exc.strerror or exc})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MonitorError(
            f"{path}: not JSON ({exc}); give the package's reports/metrics.json or a JSON object of metrics"
        ) from None


def _json_number(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else value
