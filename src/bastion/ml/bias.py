"""Bias of a dataset and of a model's predictions across one facet, with SageMaker Clarify's metrics.

Written from the formulas in Clarify's documentation. Notation: facet d is the disadvantaged group
(the rows a ``Facet`` selects), facet a is every other row; n_a, n_d their sizes; n_x(1), n_x(0) the
observed positive and negative labels of facet x; n̂_x(1), n̂_x(0) the predicted ones; P_x(y) the share
of facet x's rows with observed label y (every label value, so multi-valued labels keep their
distribution); TP_x, FP_x, FN_x, TN_x the confusion counts of facet x against ``positive_label``.
Metrics that divide by zero (an empty facet, no predicted positives) are ``None``. KL is ``inf`` when
facet d lacks a label that facet a has (``to_dict`` writes ``None`` for it, JSON has no infinity).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from bastion.core.errors import BastionError
from bastion.ml._labels import column, label_text, label_texts, require_positive, sorted_labels
from bastion.ml._numbers import json_number, ratio

BIAS_METRICS: Mapping[str, str] = {
    "CI": "Class imbalance: (n_a - n_d) / (n_a + n_d); > 0 when facet d is under-represented",
    "DPL": "Difference in positive proportions in labels: q_a - q_d; > 0 when facet d has fewer positive labels",
    "KL": "Kullback-Leibler divergence of facet a's label distribution from facet d's",
    "JS": "Jensen-Shannon divergence between the label distributions of facets a and d",
    "LP": "L2 norm of the difference between the label distributions of facets a and d",
    "TVD": "Total variation distance: half the L1 norm of the difference between the label distributions",
    "KS": "Kolmogorov-Smirnov distance: the largest difference between the facets' shares of one label",
    "CDDL": "Conditional demographic disparity in labels: size-weighted mean of DD over the groups",
    "DPPL": "Difference in positive proportions in predicted labels: q'_a - q'_d",
    "DI": "Disparate impact: q'_d / q'_a; < 1 when facet d is predicted positive less often",
    "DCA": "Difference in conditional acceptance: c_a - c_d, c = observed / predicted positives",
    "DCR": "Difference in conditional rejection: r_d - r_a, r = observed / predicted negatives",
    "RD": "Recall difference: recall_a - recall_d",
    "DAR": "Difference in acceptance rates (precision): precision_a - precision_d",
    "DRR": "Difference in rejection rates: TN_d / n'_d(0) - TN_a / n'_a(0)",
    "AD": "Accuracy difference: accuracy_a - accuracy_d",
    "TE": "Treatment equality: FN_d / FP_d - FN_a / FP_a",
    "FT": "Counterfactual flip test: (F+ - F-) / n_d over facet d's nearest neighbours in facet a",
}
"""Every bias metric's code and a one-line description, for the report."""

PRE_TRAINING = ("CI", "DPL", "KL", "JS", "LP", "TVD", "KS", "CDDL")
"""The codes of the metrics of the data alone, in report order."""
POST_TRAINING = ("DPPL", "DI", "DCA", "DCR", "RD", "DAR", "DRR", "AD", "TE", "FT")
"""The codes of the metrics of a model's predictions, in report order."""


@dataclass(frozen=True)
class Facet:
    """Which rows of a column form the disadvantaged facet d (all other rows are facet a)."""

    column: str
    """The column holding the sensitive attribute."""
    sensitive: tuple[object, ...] = ()
    """Values that put a row in facet d, compared as text (so ``1`` from YAML matches ``1`` or ``1.0`` in data)."""
    threshold: float | None = None
    """For a numeric column instead of ``sensitive``: rows with a value above it are facet d (Clarify's rule)."""


@dataclass(frozen=True)
class BiasReport:
    """The bias metrics of one facet against one label column."""

    facet: str
    """The facet's column name."""
    label: str
    """The label column's name."""
    pre: Mapping[str, float | None]
    """Pre-training metrics by code (``PRE_TRAINING``); CDDL is ``None`` without a group column."""
    post: Mapping[str, float | None]
    """Post-training metrics by code (``POST_TRAINING``); empty before training, FT ``None`` without a model."""
    n_d: int
    """Rows in facet d."""
    n_a: int
    """Rows in facet a."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "facet": self.facet,
            "label": self.label,
            "n_d": self.n_d,
            "n_a": self.n_a,
            "pre": {code: json_number(value) for code, value in self.pre.items()},
            "post": {code: json_number(value) for code, value in self.post.items()},
        }


def pretraining_bias(
    labels: object,
    facet_values: object,
    facet: Facet,
    *,
    positive_label: object = 1,
    group: object = None,
    label_name: str | None = None,
) -> BiasReport:
    """The pre-training metrics of observed ``labels`` across ``facet`` (``facet_values``: that column's values).

    ``group`` (optional, one value per row) is the attribute CDDL conditions on; ``label_name`` names the
    label column in the report (default: the Series' name, else ``"label"``).
    """
    table = _Table.build(labels, None, facet_values, facet, positive_label, group)
    return BiasReport(
        facet=facet.column,
        label=_name(labels, label_name),
        pre=_pre(table),
        post={},
        n_d=table.n_d,
        n_a=table.n_a,
    )


def posttraining_bias(
    labels: object,
    predicted: object,
    facet_values: object,
    facet: Facet,
    *,
    positive_label: object = 1,
    features: object = None,
    predict: Callable[[npt.NDArray[np.float64]], object] | None = None,
    group: object = None,
    label_name: str | None = None,
    flip_neighbors: int = 5,
) -> BiasReport:
    """The pre- and post-training metrics of ``labels`` and a model's ``predicted`` labels across ``facet``.

    The flip test needs ``features`` (numeric, 2-D, one row per label, the facet column excluded) and
    ``predict`` (the model's prediction on such a 2-D array); ``flip_neighbors`` is its k.
    """
    if predicted is None:
        raise BastionError("post-training bias needs the model's predicted labels; use pretraining_bias without them")
    table = _Table.build(labels, predicted, facet_values, facet, positive_label, group)
    post = {
        "DPPL": _dppl(table),
        "DI": _di(table),
        "DCA": _dca(table),
        "DCR": _dcr(table),
        "RD": _rd(table),
        "DAR": _dar(table),
        "DRR": _drr(table),
        "AD": _ad(table),
        "TE": _te(table),
        "FT": _ft(table, features, predict, flip_neighbors),
    }
    return BiasReport(
        facet=facet.column,
        label=_name(labels, label_name),
        pre=_pre(table),
        post=post,
        n_d=table.n_d,
        n_a=table.n_a,
    )


@dataclass(frozen=True)
class _Table:
    """One facet's rows split into d and a, with labels and predictions as text and as positive/negative."""

    labels: npt.NDArray[np.str_]
    positive: npt.NDArray[np.bool_]
    predicted_positive: npt.NDArray[np.bool_] | None
    d: npt.NDArray[np.bool_]
    group: npt.NDArray[np.str_] | None
    positive_label: str

    @property
    def a(self) -> npt.NDArray[np.bool_]:
        return ~self.d

    @property
    def n_d(self) -> int:
        return int(self.d.sum())

    @property
    def n_a(self) -> int:
        return int(self.a.sum())

    def observed(self, rows: npt.NDArray[np.bool_], positive: bool) -> int:
        """n_x(1) (``positive``) or n_x(0) of the ``rows``."""
        return int(np.sum(rows & (self.positive if positive else ~self.positive)))

    def predictions(self, rows: npt.NDArray[np.bool_], positive: bool) -> int:
        """n̂_x(1) (``positive``) or n̂_x(0) of the ``rows``."""
        return int(np.sum(rows & (self.predicted if positive else ~self.predicted)))

    def confusion(self, rows: npt.NDArray[np.bool_]) -> tuple[int, int, int, int]:
        """(TP, FP, FN, TN) of the ``rows``."""
        y, p = self.positive, self.predicted
        return (
            int(np.sum(rows & y & p)),
            int(np.sum(rows & ~y & p)),
            int(np.sum(rows & y & ~p)),
            int(np.sum(rows & ~y & ~p)),
        )

    @property
    def predicted(self) -> npt.NDArray[np.bool_]:
        assert self.predicted_positive is not None, "post-training metrics need predictions"
        return self.predicted_positive

    @classmethod
    def build(
        cls,
        labels: object,
        predicted: object,
        facet_values: object,
        facet: Facet,
        positive_label: object,
        group: object,
    ) -> _Table:
        texts = label_texts(labels, "labels")
        rows = len(texts)
        values = column(facet_values, f"facet column {facet.column!r}")
        _same_length(rows, len(values), f"facet column {facet.column!r}")
        positive = label_text(positive_label)
        predicted_texts = None
        if predicted is not None:
            predicted_texts = label_texts(predicted, "predicted labels")
            _same_length(rows, len(predicted_texts), "predicted labels")
            require_positive(positive, sorted_labels(texts, predicted_texts), "labels or predictions")
        else:
            require_positive(positive, sorted_labels(texts), "labels")
        groups = None
        if group is not None:
            groups = label_texts(group, "group column")
            _same_length(rows, len(groups), "group column")
        return cls(
            labels=texts,
            positive=texts == positive,
            predicted_positive=None if predicted_texts is None else predicted_texts == positive,
            d=_facet_d(values, facet),
            group=groups,
            positive_label=positive,
        )


def _facet_d(values: npt.NDArray[Any], facet: Facet) -> npt.NDArray[np.bool_]:
    if facet.threshold is not None and facet.sensitive:
        raise BastionError(f"facet {facet.column!r}: give sensitive values or a threshold, not both")
    if facet.threshold is not None:
        try:
            numbers = values.astype(np.float64)
        except (TypeError, ValueError):
            raise BastionError(
                f"facet {facet.column!r} has a threshold but holds non-numeric values; list its sensitive values instead"
            ) from None
        return np.asarray(numbers > facet.threshold, dtype=np.bool_)
    if not facet.sensitive:
        raise BastionError(f"facet {facet.column!r}: name the sensitive values (or a threshold) that define facet d")
    sensitive = {label_text(v) for v in facet.sensitive}
    return np.array([label_text(v) in sensitive for v in values], dtype=np.bool_)


def _same_length(rows: int, length: int, name: str) -> None:
    if length != rows:
        raise BastionError(f"the {name} has {length} rows but the labels have {rows}; give one value per row")


def _name(labels: object, label_name: str | None) -> str:
    if label_name is not None:
        return label_name
    name = getattr(labels, "name", None)
    return str(name) if name is not None else "label"


# Pre-training metrics


def _pre(table: _Table) -> dict[str, float | None]:
    p_a, p_d = _distributions(table)
    return {
        "CI": _ci(table),
        "DPL": _dpl(table),
        "KL": _kl(p_a, p_d),
        "JS": _js(p_a, p_d),
        "LP": _lp(p_a, p_d),
        "TVD": _tvd(p_a, p_d),
        "KS": _ks(p_a, p_d),
        "CDDL": _cddl(table),
    }


def _ci(table: _Table) -> float | None:
    """CI = (n_a - n_d) / (n_a + n_d)."""
    return ratio(table.n_a - table.n_d, table.n_a + table.n_d)


def _dpl(table: _Table) -> float | None:
    """DPL = q_a - q_d, with q_x = n_x(1) / n_x."""
    return _difference(
        ratio(table.observed(table.a, True), table.n_a),
        ratio(table.observed(table.d, True), table.n_d),
    )


def _distributions(table: _Table) -> tuple[npt.NDArray[np.float64] | None, npt.NDArray[np.float64] | None]:
    """P_a(y) and P_d(y) over every label value of the column (``None`` for an empty facet)."""
    values = sorted_labels(table.labels)
    shares = []
    for rows in (table.a, table.d):
        total = int(rows.sum())
        counts = np.array([np.sum(rows & (table.labels == y)) for y in values], dtype=np.float64)
        shares.append(counts / total if total else None)
    return shares[0], shares[1]


def _kl(p_a: npt.NDArray[np.float64] | None, p_d: npt.NDArray[np.float64] | None) -> float | None:
    """KL = Σ_y P_a(y) · ln(P_a(y) / P_d(y)); terms with P_a(y) = 0 are 0, a term with P_d(y) = 0 < P_a(y) is ∞."""
    if p_a is None or p_d is None:
        return None
    return _divergence(p_a, p_d)


def _js(p_a: npt.NDArray[np.float64] | None, p_d: npt.NDArray[np.float64] | None) -> float | None:
    """JS = ½ · [KL(P_a, P) + KL(P_d, P)], with P = ½ · (P_a + P_d)."""
    if p_a is None or p_d is None:
        return None
    middle = (p_a + p_d) / 2
    return (_divergence(p_a, middle) + _divergence(p_d, middle)) / 2


def _lp(p_a: npt.NDArray[np.float64] | None, p_d: npt.NDArray[np.float64] | None) -> float | None:
    """LP = (Σ_y |P_a(y) - P_d(y)|^p)^(1/p) with p = 2 (the Euclidean distance)."""
    if p_a is None or p_d is None:
        return None
    return float(np.sqrt(np.sum((p_a - p_d) ** 2)))


def _tvd(p_a: npt.NDArray[np.float64] | None, p_d: npt.NDArray[np.float64] | None) -> float | None:
    """TVD = ½ · Σ_y |P_a(y) - P_d(y)| (half the L1 norm)."""
    if p_a is None or p_d is None:
        return None
    return float(np.sum(np.abs(p_a - p_d)) / 2)


def _ks(p_a: npt.NDArray[np.float64] | None, p_d: npt.NDArray[np.float64] | None) -> float | None:
    """KS = max_y |P_a(y) - P_d(y)|."""
    if p_a is None or p_d is None:
        return None
    return float(np.max(np.abs(p_a - p_d)))


def _cddl(table: _Table) -> float | None:
    """CDDL = (1/n) · Σ_i n_i · DD_i over the groups i, with DD = n_d(0)/n(0) - n_d(1)/n(1) within a group.

    DD > 0 when facet d holds a larger share of the group's rejections than of its acceptances. A group
    without a rejection or without an acceptance has no DD; it is left out, and n counts the groups kept.
    """
    if table.group is None:
        return None
    weighted, kept = 0.0, 0
    for value in np.unique(table.group):
        rows = table.group == value
        rejected, accepted = table.observed(rows, False), table.observed(rows, True)
        if not rejected or not accepted:
            continue
        disparity = table.observed(rows & table.d, False) / rejected - table.observed(rows & table.d, True) / accepted
        size = int(rows.sum())
        weighted += size * disparity
        kept += size
    return weighted / kept if kept else None


def _divergence(p: npt.NDArray[np.float64], q: npt.NDArray[np.float64]) -> float:
    present = p > 0
    if np.any(q[present] == 0):
        return math.inf
    return float(np.sum(p[present] * np.log(p[present] / q[present])))


# Post-training metrics


def _dppl(table: _Table) -> float | None:
    """DPPL = q̂_a - q̂_d, with q̂_x = n̂_x(1) / n_x."""
    return _difference(
        ratio(table.predictions(table.a, True), table.n_a),
        ratio(table.predictions(table.d, True), table.n_d),
    )


def _di(table: _Table) -> float | None:
    """DI = q̂_d / q̂_a."""
    q_a = ratio(table.predictions(table.a, True), table.n_a)
    q_d = ratio(table.predictions(table.d, True), table.n_d)
    return None if q_a is None or q_d is None else ratio(q_d, q_a)


def _dca(table: _Table) -> float | None:
    """DCA = c_a - c_d, with c_x = n_x(1) / n̂_x(1) (observed over predicted acceptances)."""
    return _difference(
        ratio(table.observed(table.a, True), table.predictions(table.a, True)),
        ratio(table.observed(table.d, True), table.predictions(table.d, True)),
    )


def _dcr(table: _Table) -> float | None:
    """DCR = r_d - r_a, with r_x = n_x(0) / n̂_x(0) (observed over predicted rejections)."""
    return _difference(
        ratio(table.observed(table.d, False), table.predictions(table.d, False)),
        ratio(table.observed(table.a, False), table.predictions(table.a, False)),
    )


def _rd(table: _Table) -> float | None:
    """RD = TP_a / (TP_a + FN_a) - TP_d / (TP_d + FN_d)."""
    (tp_a, _, fn_a, _), (tp_d, _, fn_d, _) = table.confusion(table.a), table.confusion(table.d)
    return _difference(ratio(tp_a, tp_a + fn_a), ratio(tp_d, tp_d + fn_d))


def _dar(table: _Table) -> float | None:
    """DAR = TP_a / n̂_a(1) - TP_d / n̂_d(1), with n̂_x(1) = TP_x + FP_x (the difference in precision)."""
    (tp_a, fp_a, _, _), (tp_d, fp_d, _, _) = table.confusion(table.a), table.confusion(table.d)
    return _difference(ratio(tp_a, tp_a + fp_a), ratio(tp_d, tp_d + fp_d))


def _drr(table: _Table) -> float | None:
    """DRR = TN_d / n̂_d(0) - TN_a / n̂_a(0), with n̂_x(0) = TN_x + FN_x."""
    (_, _, fn_a, tn_a), (_, _, fn_d, tn_d) = table.confusion(table.a), table.confusion(table.d)
    return _difference(ratio(tn_d, tn_d + fn_d), ratio(tn_a, tn_a + fn_a))


def _ad(table: _Table) -> float | None:
    """AD = ACC_a - ACC_d, with ACC_x = (TP_x + TN_x) / n_x."""
    (tp_a, _, _, tn_a), (tp_d, _, _, tn_d) = table.confusion(table.a), table.confusion(table.d)
    return _difference(ratio(tp_a + tn_a, table.n_a), ratio(tp_d + tn_d, table.n_d))


def _te(table: _Table) -> float | None:
    """TE = FN_d / FP_d - FN_a / FP_a."""
    (_, fp_a, fn_a, _), (_, fp_d, fn_d, _) = table.confusion(table.a), table.confusion(table.d)
    return _difference(ratio(fn_d, fp_d), ratio(fn_a, fp_a))


def _ft(table: _Table, features: object, predict: Callable[[npt.NDArray[np.float64]], object] | None, k: int) -> float | None:
    """FT = (F+ - F-) / n_d.

    For each row of facet d, its k nearest rows of facet a (Euclidean distance over the standardised
    features) are its counterfactuals, and their outcome is the model's majority prediction for them.
    F+ counts the rows of facet d predicted negative whose counterfactuals are predicted positive; F- those
    predicted positive whose counterfactuals are predicted negative (a tie counts in neither).
    """
    if features is None or predict is None or not table.n_d or not table.n_a:
        return None
    if k < 1:
        raise BastionError(f"flip_neighbors must be at least 1, got {k}")
    matrix = _features(features, len(table.labels))
    spread = matrix.std(axis=0)
    scaled = (matrix - matrix.mean(axis=0)) / np.where(spread > 0, spread, 1.0)
    from sklearn.neighbors import NearestNeighbors

    search = NearestNeighbors(n_neighbors=min(k, table.n_a)).fit(scaled[table.a])
    _, neighbours = search.kneighbors(scaled[table.d])
    outcome = label_texts(predict(matrix[table.a]), "predictions of the model")
    _same_length(table.n_a, len(outcome), "model's predictions for facet a")
    share = (outcome == table.positive_label)[neighbours].mean(axis=1)
    own = table.predicted[table.d]
    flips_up = int(np.sum(~own & (share > 0.5)))
    flips_down = int(np.sum(own & (share < 0.5)))
    return (flips_up - flips_down) / table.n_d


def _features(features: object, rows: int) -> npt.NDArray[np.float64]:
    try:
        matrix = np.asarray(features, dtype=np.float64)
    except (TypeError, ValueError):
        raise BastionError("the flip test needs numeric features; encode categorical columns first") from None
    if matrix.ndim != 2 or matrix.shape[0] != rows:
        raise BastionError(f"features have shape {matrix.shape}; give a 2-D table with one row per label")
    if not np.all(np.isfinite(matrix)):
        raise BastionError("features hold missing or infinite values; impute them before the flip test")
    return matrix


def _difference(first: float | None, second: float | None) -> float | None:
    return None if first is None or second is None else first - second
