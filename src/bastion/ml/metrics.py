"""Evaluation metrics of a classifier: confusion matrix, the rates derived from it, and the ROC curve.

Binary tables are measured against ``positive_label``; tables with three or more labels get one-vs-rest
macro averages. A rate whose denominator is zero (no positive predictions, one class only) is ``None``,
never a warning, a NaN or a crash.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from bastion.core.errors import BastionError
from bastion.ml._labels import label_text, label_texts, require_positive, sorted_labels
from bastion.ml._numbers import json_number, ratio

METRIC_NAMES = (
    "accuracy",
    "precision",
    "recall",
    "sensitivity",
    "specificity",
    "npv",
    "f1",
    "balanced_accuracy",
    "roc_auc",
)
"""The keys of ``ClassificationMetrics.values``, in report order."""


@dataclass(frozen=True)
class ConfusionMatrix:
    """Counts of (true label, predicted label) pairs."""

    labels: tuple[str, ...]
    """The class labels as text, in sorted order (numbers numerically): the order of rows and of columns."""
    counts: tuple[tuple[int, ...], ...]
    """``counts[i][j]``: rows whose true label is ``labels[i]`` and predicted label ``labels[j]``."""

    def to_dict(self) -> dict[str, Any]:
        return {"labels": list(self.labels), "counts": [list(row) for row in self.counts]}


@dataclass(frozen=True)
class RocCurve:
    """The receiver operating characteristic of the positive class's scores."""

    fpr: tuple[float, ...]
    """False positive rate at each threshold, rising from 0 to 1."""
    tpr: tuple[float, ...]
    """True positive rate at each threshold, rising from 0 to 1."""
    thresholds: tuple[float, ...]
    """The score at or above which a row is predicted positive; the first is ``inf`` (nothing predicted positive)."""
    auc: float
    """Area under the curve: the chance that a random positive row scores above a random negative one."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "fpr": list(self.fpr),
            "tpr": list(self.tpr),
            "thresholds": [json_number(t) for t in self.thresholds],
            "auc": self.auc,
        }


@dataclass(frozen=True)
class ClassificationMetrics:
    """Everything ``classification_metrics`` measured on one table."""

    confusion: ConfusionMatrix
    """The confusion matrix."""
    roc: RocCurve | None
    """The ROC curve of a binary classifier's scores; ``None`` without scores, with one class only, or multiclass."""
    values: Mapping[str, float | None]
    """The metrics by name (``METRIC_NAMES``); ``None`` where undefined (a zero denominator, no scores)."""
    positive_label: str | None = None
    """The positive class as text for a binary table; ``None`` for multiclass macro averages."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "confusion": self.confusion.to_dict(),
            "roc": None if self.roc is None else self.roc.to_dict(),
            "values": {name: json_number(value) for name, value in self.values.items()},
            "positive_label": self.positive_label,
        }


def classification_metrics(
    y_true: object,
    y_pred: object,
    y_score: object = None,
    *,
    positive_label: object = 1,
    score_labels: Sequence[object] | None = None,
) -> ClassificationMetrics:
    """Measure predictions ``y_pred`` against the truth ``y_true`` (array-likes of labels, same length).

    ``y_score`` is optional: for a binary table the positive class's score per row (1-D) or a probability
    matrix (one column per class); for a multiclass table a probability matrix. Its columns follow
    ``score_labels`` (a model's ``classes_``), by default the sorted labels of the table.

    Binary (one or two labels), with TP, FP, FN, TN counted against ``positive_label``:
    accuracy = (TP + TN) / n; precision = TP / (TP + FP); recall = sensitivity = TP / (TP + FN);
    specificity = TN / (TN + FP); npv = TN / (TN + FN); f1 = 2·TP / (2·TP + FP + FN) (the harmonic mean of
    precision and recall, defined as 0 when TP = 0 but rows were positive in truth or prediction);
    balanced_accuracy = mean of recall and specificity (those defined); roc_auc = area under the ROC curve.
    Multiclass: each rate one-vs-rest per class, then the mean over the classes where it is defined;
    accuracy = correct / n; roc_auc = the one-vs-rest macro average over the classes whose AUC is defined
    (those with both positive and negative rows in the truth).
    """
    true = label_texts(y_true, "y_true")
    pred = label_texts(y_pred, "y_pred")
    if len(true) != len(pred):
        raise BastionError(f"y_true has {len(true)} rows but y_pred has {len(pred)}; give one prediction per row")
    if len(true) == 0:
        raise BastionError("there are no rows to evaluate; give at least one labelled row")
    labels = sorted_labels(true, pred)
    confusion = _confusion(true, pred, labels)
    scores = None if y_score is None else _scores(y_score, len(true))
    columns = _score_columns(scores, score_labels, labels)
    if len(labels) <= 2:
        positive = label_text(positive_label)
        require_positive(positive, labels, "labels of y_true and y_pred")
        return _binary(true, pred, scores, columns, positive, confusion)
    return _multiclass(true, scores, columns, confusion)


def _binary(
    true: npt.NDArray[np.str_],
    pred: npt.NDArray[np.str_],
    scores: npt.NDArray[np.float64] | None,
    columns: tuple[str, ...],
    positive: str,
    confusion: ConfusionMatrix,
) -> ClassificationMetrics:
    is_true, is_pred = true == positive, pred == positive
    tp = int(np.sum(is_true & is_pred))
    fp = int(np.sum(~is_true & is_pred))
    fn = int(np.sum(is_true & ~is_pred))
    tn = int(np.sum(~is_true & ~is_pred))
    recall, specificity = ratio(tp, tp + fn), ratio(tn, tn + fp)
    roc = None
    if scores is not None:
        roc = _roc(is_true, _positive_scores(scores, columns, positive))
    values = {
        "accuracy": ratio(tp + tn, tp + fp + fn + tn),
        "precision": ratio(tp, tp + fp),
        "recall": recall,
        "sensitivity": recall,
        "specificity": specificity,
        "npv": ratio(tn, tn + fn),
        "f1": ratio(2 * tp, 2 * tp + fp + fn),
        "balanced_accuracy": _mean([recall, specificity]),
        "roc_auc": None if roc is None else roc.auc,
    }
    return ClassificationMetrics(confusion=confusion, roc=roc, values=values, positive_label=positive)


def _multiclass(
    true: npt.NDArray[np.str_],
    scores: npt.NDArray[np.float64] | None,
    columns: tuple[str, ...],
    confusion: ConfusionMatrix,
) -> ClassificationMetrics:
    counts = np.array(confusion.counts, dtype=np.int64)
    total = int(counts.sum())
    tp = [int(x) for x in np.diag(counts)]
    fp = [int(x) - t for x, t in zip(counts.sum(axis=0), tp, strict=True)]
    fn = [int(x) - t for x, t in zip(counts.sum(axis=1), tp, strict=True)]
    tn = [total - t - p - n for t, p, n in zip(tp, fp, fn, strict=True)]
    classes = range(len(confusion.labels))
    recall = _mean([ratio(tp[c], tp[c] + fn[c]) for c in classes])
    values = {
        "accuracy": ratio(sum(tp), total),
        "precision": _mean([ratio(tp[c], tp[c] + fp[c]) for c in classes]),
        "recall": recall,
        "sensitivity": recall,
        "specificity": _mean([ratio(tn[c], tn[c] + fp[c]) for c in classes]),
        "npv": _mean([ratio(tn[c], tn[c] + fn[c]) for c in classes]),
        "f1": _mean([ratio(2 * tp[c], 2 * tp[c] + fp[c] + fn[c]) for c in classes]),
        # balanced accuracy is the macro recall: the mean of each class's recall
        "balanced_accuracy": recall,
        "roc_auc": None if scores is None else _one_vs_rest_auc(true, scores, columns),
    }
    return ClassificationMetrics(confusion=confusion, roc=None, values=values, positive_label=None)


def _confusion(true: npt.NDArray[np.str_], pred: npt.NDArray[np.str_], labels: tuple[str, ...]) -> ConfusionMatrix:
    index = {label: i for i, label in enumerate(labels)}
    counts = np.zeros((len(labels), len(labels)), dtype=np.int64)
    np.add.at(counts, ([index[t] for t in true], [index[p] for p in pred]), 1)
    return ConfusionMatrix(labels=labels, counts=tuple(tuple(int(c) for c in row) for row in counts))


def _scores(y_score: object, rows: int) -> npt.NDArray[np.float64]:
    try:
        scores = np.asarray(y_score, dtype=np.float64)
    except (TypeError, ValueError):
        raise BastionError("y_score must hold numbers (scores or class probabilities)") from None
    if scores.ndim not in (1, 2) or scores.shape[0] != rows:
        raise BastionError(f"y_score has shape {scores.shape}; give one score (or one row of class probabilities) per row")
    if not np.all(np.isfinite(scores)):
        raise BastionError("y_score holds NaN or infinite values; give a finite score for every row")
    return scores


def _score_columns(
    scores: npt.NDArray[np.float64] | None, score_labels: Sequence[object] | None, labels: tuple[str, ...]
) -> tuple[str, ...]:
    """The class of each column of a score matrix."""
    if scores is None or scores.ndim == 1:
        return ()
    if score_labels is not None:
        columns = tuple(label_text(label) for label in score_labels)
    elif scores.shape[1] == len(labels):
        columns = labels
    else:
        raise BastionError(
            f"y_score has {scores.shape[1]} columns but the table has {len(labels)} labels; "
            "pass score_labels (the model's classes_) to say which class each column scores"
        )
    if len(columns) != scores.shape[1]:
        raise BastionError(f"score_labels names {len(columns)} classes but y_score has {scores.shape[1]} columns")
    return columns


def _positive_scores(scores: npt.NDArray[np.float64], columns: tuple[str, ...], positive: str) -> npt.NDArray[np.float64]:
    if scores.ndim == 1:
        return scores
    if positive not in columns:
        raise BastionError(f"no column of y_score scores the positive label {positive!r}; pass score_labels")
    return scores[:, columns.index(positive)]


def _roc(is_positive: npt.NDArray[np.bool_], scores: npt.NDArray[np.float64]) -> RocCurve | None:
    """The ROC curve, or ``None`` when the truth has one class only (no rate of the other can be measured)."""
    if is_positive.all() or not is_positive.any():
        return None
    from sklearn.metrics import auc, roc_curve

    fpr, tpr, thresholds = roc_curve(is_positive, scores)
    return RocCurve(
        fpr=tuple(float(x) for x in fpr),
        tpr=tuple(float(x) for x in tpr),
        thresholds=tuple(float(x) for x in thresholds),
        auc=float(auc(fpr, tpr)),
    )


def _one_vs_rest_auc(true: npt.NDArray[np.str_], scores: npt.NDArray[np.float64], columns: tuple[str, ...]) -> float | None:
    if scores.ndim == 1:
        raise BastionError("a table with three or more labels needs y_score as a matrix of class probabilities")
    areas = []
    for j, label in enumerate(columns):
        roc = _roc(true == label, scores[:, j])
        areas.append(None if roc is None else roc.auc)
    return _mean(areas)


def _mean(values: Sequence[float | None]) -> float | None:
    """The mean of the defined values; ``None`` when none is."""
    defined = [v for v in values if v is not None]
    return sum(defined) / len(defined) if defined else None
