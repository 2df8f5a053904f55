"""Label errors: rows whose label disagrees with what out-of-fold models predict from the rest of the row.

Three views of the features vote: gradient boosting (non-linear, handles missing values and categories), a
logistic regression (additive effects, which trees learn slowly from a few thousand rows) and the labels of the
15 nearest neighbours (local agreement). Their out-of-fold probabilities are averaged with the weights that
best predict the given labels (Brier score, a coarse grid, so one bad view cannot drag the others down).

The cut is made at the estimated noise rate, twice. Confident learning (cleanlab) estimates the joint of given
and true labels; its ``prune_by_noise_rate`` picks, per class, as many rows as that joint says are wrong, by
margin. That alone also takes rows the models are merely unsure of (on clean data: a class boundary), so a row
must also be improbable under its label. With a share ``rho`` of labels flipped at random, a label is more likely
wrong than right when its clean probability is below about ``rho / (classes - 1)``; the out-of-fold
probabilities come from models trained on the noisy labels and are smoothed, so they sit higher, and the floor
is ``NOISE_MULTIPLE`` times that (measured on the generated tables of ``benchmarks/poisoning.py``). On clean
data the estimated rate is near zero, and so is the floor: hard but genuine rows are left alone.
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import numpy.typing as npt

FOLDS = 5
NEIGHBOURS = 15
SEED = 20261122
MIN_SKILL = 0.25
"""Out-of-fold accuracy must close this share of the gap between the majority-class rate and 1: when the
features barely predict the labels, every label "disagrees" and none of it means the label is wrong."""
NOISE_MULTIPLE = 7.0
"""A flagged row's label has probability below ``min(0.5, NOISE_MULTIPLE * noise_rate) / (classes - 1)``."""
_WEIGHT_STEPS = 4  # ensemble weights on a grid of quarters


@dataclass(frozen=True, slots=True)
class Predictions:
    probabilities: npt.NDArray[np.float64]
    """Rows × classes: the ensemble's out-of-fold probability of each class."""
    by_model: dict[str, npt.NDArray[np.float64]]
    """The same from each model alone."""


def out_of_fold(
    tree: npt.NDArray[np.float64],
    categorical: npt.NDArray[np.bool_],
    dense: npt.NDArray[np.float64],
    labels: npt.NDArray[np.int64],
    held_out: npt.NDArray[np.bool_],
) -> Predictions:
    """Every row's out-of-fold probabilities; ``held_out`` rows (already known to be poisoned) never train or vote."""
    classes = int(labels.max()) + 1
    voters = np.flatnonzero(~held_out)
    by_model = {
        "gradient boosting": _cross_validated(_boosting(categorical), tree, labels, classes, held_out),
        "logistic regression": _cross_validated(_logistic(), dense, labels, classes, held_out),
        f"{NEIGHBOURS} nearest neighbours": neighbour_vote(dense, labels, classes, voters=voters),
    }
    weights = _best_weights({name: p[voters] for name, p in by_model.items()}, labels[voters])
    probabilities = sum(w * by_model[name] for name, w in weights.items() if w) / sum(weights.values())
    return Predictions(np.asarray(probabilities, dtype=np.float64), by_model)


@dataclass(frozen=True, slots=True)
class LabelIssues:
    rows: npt.NDArray[np.int64]
    """The flagged rows."""
    noise_rate: float
    """Estimated share of wrong labels among the rows examined."""
    skill: float
    """How much better than always guessing the most common label the models predict the labels (1 is perfect)."""

    @property
    def checked(self) -> bool:
        """Whether the labels are predictable enough for a disagreement to mean anything."""
        return self.skill >= MIN_SKILL


def label_issues(labels: npt.NDArray[np.int64], predictions: Predictions, rows: npt.NDArray[np.int64]) -> LabelIssues:
    """Those of ``rows`` flagged as mislabelled: in confident learning's noise-rate cut and improbable under their label."""
    from cleanlab.count import estimate_joint
    from cleanlab.filter import find_label_issues

    probabilities = predictions.probabilities[rows]
    given = labels[rows]
    classes = probabilities.shape[1]
    none = np.array([], dtype=np.int64)
    if len(np.unique(given)) < classes:
        return LabelIssues(none, 0.0, 0.0)  # confident learning needs every class present
    majority = np.bincount(given).max() / len(given)
    accuracy = float(np.mean(probabilities.argmax(axis=1) == given))
    skill = (accuracy - majority) / (1 - majority)
    if skill < MIN_SKILL:
        return LabelIssues(none, 0.0, skill)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cleanlab warns about classes it finds no issue in
        noise_rate = float(1.0 - np.trace(estimate_joint(given, probabilities)))
        pruned = np.asarray(find_label_issues(given, probabilities, filter_by="prune_by_noise_rate", n_jobs=1), dtype=bool)
    floor = min(0.5, NOISE_MULTIPLE * noise_rate) / (classes - 1)
    improbable = probabilities[np.arange(len(rows)), given] < floor
    return LabelIssues(rows[pruned & improbable], noise_rate, skill)


def neighbour_vote(
    dense: npt.NDArray[np.float64],
    labels: npt.NDArray[np.int64],
    classes: int,
    *,
    queries: npt.NDArray[np.int64] | None = None,
    voters: npt.NDArray[np.int64] | None = None,
) -> npt.NDArray[np.float64]:
    """Smoothed class shares among each query row's nearest voters, never counting the row itself.

    ``queries`` and ``voters`` are row indices (all rows by default); the result has one line per query.
    """
    from sklearn.neighbors import NearestNeighbors

    n = len(labels)
    queries = np.arange(n) if queries is None else queries
    voters = np.arange(n) if voters is None else voters
    k = min(NEIGHBOURS, len(voters) - 1)
    if k < 1 or dense.shape[1] == 0:
        return np.full((len(queries), classes), 1.0 / classes)
    index = NearestNeighbors(n_neighbors=k + 1).fit(dense[voters])
    _, found = index.kneighbors(dense[queries])
    found = voters[found]
    not_self = found != queries[:, None]
    # Keep the first k neighbours that are not the row itself (stable: ties keep the index's order).
    order = np.argsort(~not_self, axis=1, kind="stable")[:, :k]
    nearest = np.take_along_axis(found, order, axis=1)
    votes = np.stack([(labels[nearest] == c).sum(axis=1) for c in range(classes)], axis=1).astype(np.float64)
    return (votes + 0.5) / (k + 0.5 * classes)


def _boosting(categorical: npt.NDArray[np.bool_]) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier

    # Small and fixed: 5 fits on a few thousand rows must take about a second; no early stopping (its split is random).
    return HistGradientBoostingClassifier(
        max_iter=100,
        learning_rate=0.1,
        max_leaf_nodes=15,
        max_bins=64,
        categorical_features=categorical if categorical.any() else None,
        early_stopping=False,
        random_state=SEED,
    )


def _logistic() -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=1.0, max_iter=300)


def _cross_validated(
    model: Any, features: npt.NDArray[np.float64], labels: npt.NDArray[np.int64], classes: int, held_out: npt.NDArray[np.bool_]
) -> npt.NDArray[np.float64]:
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedKFold

    probabilities = np.full((len(labels), classes), 1.0 / classes)
    if features.shape[1] == 0:
        return probabilities
    folds = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=SEED)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence warnings: a fold's fit is still usable
        for train, test in folds.split(features, labels):
            train = train[~held_out[train]]
            if len(np.unique(labels[train])) < 2:
                continue  # nothing to learn: the fold keeps the uniform guess
            fitted = clone(model).fit(features[train], labels[train])
            probabilities[test] = 0.0  # a class missing from the fold's training rows gets no probability
            probabilities[np.ix_(test, fitted.classes_)] = fitted.predict_proba(features[test])
    return probabilities


def _best_weights(by_model: dict[str, npt.NDArray[np.float64]], labels: npt.NDArray[np.int64]) -> dict[str, float]:
    """The grid weights whose blend has the lowest Brier score on the given labels (ties: the first on the grid)."""
    names = list(by_model)
    onehot = np.eye(by_model[names[0]].shape[1])[labels]
    best: tuple[float, tuple[int, ...]] | None = None
    for grid in itertools.product(range(_WEIGHT_STEPS + 1), repeat=len(names)):
        if not any(grid):
            continue
        blend = sum(w * by_model[name] for w, name in zip(grid, names, strict=True)) / sum(grid)
        score = float(((blend - onehot) ** 2).sum(axis=1).mean())
        if best is None or score < best[0] - 1e-12:
            best = (score, grid)
    assert best is not None
    return {name: w / _WEIGHT_STEPS for name, w in zip(names, best[1], strict=True)}
