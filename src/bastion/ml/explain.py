"""Feature attributions of a fitted model: SHAP where it fits the model, permutation importance otherwise.

- Linear models (``coef_``, optionally behind element-wise scalers in a Pipeline): exact interventional
  SHAP in closed form, ``coef * (z - mean(z))`` on the scaled features, in the model's decision units.
- Tree ensembles: the ``shap`` package's TreeExplainer when it is installed (the ``explain`` extra).
- Anything else with ``predict``: scikit-learn's permutation importance for the global ranking and, per row,
  how much the score moves when one feature is replaced by its typical value.
"""

from __future__ import annotations

import importlib.util
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bastion.core import BastionError
from bastion.ml._labels import label_text
from bastion.ml._model_inputs import Rows, class_position, labels_of, sample_positions
from bastion.ml._numbers import json_number

# Element-wise affine transforms: a linear model behind them is still linear in each original feature.
_ELEMENTWISE_SCALERS = frozenset({"StandardScaler", "MinMaxScaler", "MaxAbsScaler", "RobustScaler"})

# Models shap's TreeExplainer reads natively.
_TREE_MODELS = frozenset(
    {
        f"{kind}{task}"
        for kind in ("DecisionTree", "ExtraTree", "RandomForest", "ExtraTrees", "GradientBoosting", "HistGradientBoosting")
        for task in ("Classifier", "Regressor")
    }
    | {"XGBClassifier", "XGBRegressor", "LGBMClassifier", "LGBMRegressor"}
)


@dataclass(frozen=True)
class Explanation:
    """Global and per-row feature attributions of one model."""

    method: str
    """How they were computed: "shap-linear", "shap-tree" or "permutation"."""
    features: tuple[str, ...]
    """The feature names, in the model's column order."""
    global_importance: tuple[float, ...]
    """One per feature: mean |attribution| for SHAP; for permutation, the mean drop of accuracy (R² for a regressor)
    when the feature's values are shuffled."""
    rows: tuple[tuple[float, ...], ...]
    """Per-row attributions (one per feature) for the first ``max_rows`` rows of X."""
    base_value: float | None = None
    """For SHAP, the output every row's attributions start from: a row's attributions sum to its output minus this."""
    explained_class: str | None = None
    """The class whose score is explained, as text (None for a regressor)."""
    units: str = "prediction"
    """What the per-row attributions are measured in: "probability", "log-odds", "decision-function" or "prediction"."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "features": list(self.features),
            "global_importance": [json_number(v) for v in self.global_importance],
            "rows": [[json_number(v) for v in row] for row in self.rows],
            "base_value": json_number(self.base_value),
            "explained_class": self.explained_class,
            "units": self.units,
        }


def explain(
    model: Any,
    X: Any,
    y: Any,
    features: Sequence[str],
    *,
    seed: int = 0,
    max_rows: int = 100,
    sample_rows: int = 1000,
    positive_label: object | None = None,
) -> Explanation:
    """Attributions of ``model``'s score for ``positive_label`` (default: its last class) on ``X``.

    Global importance uses all rows for linear models and a seeded sample of at most ``sample_rows`` otherwise;
    ``y`` is only needed by permutation importance.
    """
    rows = Rows.of(X)
    if rows.n_columns != len(features):
        raise BastionError(f"explain: X has {rows.n_columns} columns but {len(features)} feature names were given")
    if len(rows) == 0:
        raise BastionError("explain: X has no rows to explain")
    labels = labels_of(y, rows)
    position = class_position(model, positive_label)
    explained_class = None if position is None else label_text(model.classes_[position])

    linear = _linear_explanation(model, rows, position, max_rows)
    if linear is not None:
        importance, attributions, base = linear
        units = "prediction" if position is None else "decision-function"
        return Explanation("shap-linear", tuple(features), importance, attributions, base, explained_class, units)

    picked = sample_positions(len(rows), sample_rows, np.random.default_rng(seed))
    sample = rows.take(picked)
    if type(model).__name__ in _TREE_MODELS and importlib.util.find_spec("shap") is not None:
        tree = _tree_explanation(model, rows.head(max_rows), sample, position)
        if tree is not None:
            (importance, attributions, base), units = tree
            return Explanation("shap-tree", tuple(features), importance, attributions, base, explained_class, units)

    importance = _permutation_importance(model, sample, labels[picked], seed)
    units, score = _scorer(model, position)
    attributions = _typical_value_deltas(score, rows, rows.head(max_rows))
    return Explanation("permutation", tuple(features), importance, attributions, None, explained_class, units)


_Attributions = tuple[tuple[float, ...], tuple[tuple[float, ...], ...], float]


def _linear_explanation(model: Any, rows: Rows, position: int | None, max_rows: int) -> _Attributions | None:
    """Exact SHAP of a linear model: with independent features, feature j adds ``w_j * (z_j - mean(z_j))``."""
    steps = [step for _, step in model.steps] if hasattr(model, "steps") else [model]
    *transforms, final = [step for step in steps if step not in (None, "passthrough")]
    coef = getattr(final, "coef_", None)
    if coef is None or any(type(t).__name__ not in _ELEMENTWISE_SCALERS for t in transforms):
        return None
    weights = np.asarray(coef, dtype=float)
    intercept = np.atleast_1d(np.asarray(getattr(final, "intercept_", 0.0), dtype=float))
    if weights.ndim == 2 and weights.shape[0] == 1:
        # binary classifier: one decision function, positive for the last class
        sign = 1.0 if position in (None, 1) else -1.0
        weights, offset = sign * weights[0], sign * intercept[0]
    elif weights.ndim == 2 and position is not None:
        weights, offset = weights[position], intercept[position]
    elif weights.ndim == 1:
        offset = intercept[0]
    else:
        return None  # multi-output regression: no single output to explain

    scaled = rows.data
    for transform in transforms:
        scaled = transform.transform(scaled)
    scaled = np.asarray(scaled, dtype=float)
    mean = scaled.mean(axis=0)
    attributions = weights * (scaled - mean)
    base = float(offset + weights @ mean)
    return _as_tuples(np.abs(attributions).mean(axis=0), attributions[:max_rows], base)


def _tree_explanation(model: Any, head: Rows, sample: Rows, position: int | None) -> tuple[_Attributions, str] | None:
    import shap  # optional: the `explain` extra

    try:
        explainer = shap.TreeExplainer(model)
        head_values, sample_values = explainer.shap_values(head.data), explainer.shap_values(sample.data)
    except Exception:  # shap refuses some variants of supported models (categorical splits, custom losses)
        return None
    expected = np.atleast_1d(np.asarray(explainer.expected_value, dtype=float))
    # a binary booster has a single margin, for the last class
    negate = position == 0 and expected.size == 1 and len(getattr(model, "classes_", ())) == 2

    def for_class(values: Any) -> np.ndarray:
        array = np.asarray(values, dtype=float)
        if array.ndim == 3:  # one slice per class
            return array[:, :, position or 0]
        return -array if negate else array

    base = float(expected[position or 0] if expected.size > 1 else (-expected[0] if negate else expected[0]))
    units = {"probability": "probability", "log_odds": "log-odds"}.get(getattr(explainer.model, "tree_output", ""), "prediction")
    return _as_tuples(np.abs(for_class(sample_values)).mean(axis=0), for_class(head_values), base), units


def _permutation_importance(model: Any, sample: Rows, labels: np.ndarray, seed: int) -> tuple[float, ...]:
    from sklearn.inspection import permutation_importance

    scoring = "accuracy" if hasattr(model, "classes_") else "r2"
    result = permutation_importance(model, sample.data, labels, scoring=scoring, n_repeats=5, random_state=seed)
    return tuple(float(v) for v in result.importances_mean)


def _typical_value_deltas(score: _Score, rows: Rows, head: Rows) -> tuple[tuple[float, ...], ...]:
    """Per row and feature: the score minus the score with that feature set to its mean (or most frequent value)."""
    reference = score(head)
    numeric = set(rows.numeric_columns())
    deltas = np.empty((len(head), rows.n_columns))
    for j in range(rows.n_columns):
        typical = _typical(rows.column(j), numeric=j in numeric)
        replaced = head.with_columns({j: np.full(len(head), typical, dtype=object if j not in numeric else float)})
        deltas[:, j] = reference - score(replaced)
    return tuple(tuple(float(v) for v in row) for row in deltas)


_Score = Callable[[Rows], np.ndarray]


def _scorer(model: Any, position: int | None) -> tuple[str, _Score]:
    """The model's score for the explained class and its units: the class probability, else the decision function,
    else the prediction."""

    def probability(rows: Rows) -> np.ndarray:
        return np.asarray(model.predict_proba(rows.data), dtype=float)[:, position]

    def decision(rows: Rows) -> np.ndarray:
        values = np.asarray(model.decision_function(rows.data), dtype=float)
        return values[:, position] if values.ndim == 2 else (values if position == 1 else -values)

    def prediction(rows: Rows) -> np.ndarray:
        return np.asarray(model.predict(rows.data), dtype=float)

    if position is not None and hasattr(model, "predict_proba"):
        return "probability", probability
    if position is not None and hasattr(model, "decision_function"):
        return "decision-function", decision
    return "prediction", prediction


def _typical(values: np.ndarray, *, numeric: bool) -> Any:
    if numeric:
        return float(np.nanmean(values.astype(float)))
    return Counter(values.tolist()).most_common(1)[0][0]


def _as_tuples(importance: np.ndarray, attributions: np.ndarray, base: float) -> _Attributions:
    return (
        tuple(float(v) for v in importance),
        tuple(tuple(float(v) for v in row) for row in attributions),
        base,
    )
