"""Model security tests on a fitted model: membership inference, robustness to small perturbations, PII in features."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bastion.core import BastionError
from bastion.ml._labels import label_text
from bastion.ml._model_inputs import Rows, labels_of, sample_positions
from bastion.ml._numbers import json_number

# Probabilities are clipped here before the log, so a confidently wrong prediction has a large, finite loss.
_SMALLEST_PROBABILITY = 1e-12


@dataclass(frozen=True)
class MembershipInference:
    """How well an attacker tells the rows a model was trained on from rows it never saw."""

    auc: float
    """The attack's ROC AUC: 0.5 means members and non-members look alike, 1.0 that every member is recognised."""
    advantage: float
    """The attack's best TPR − FPR over all thresholds (Yeom et al.'s membership advantage)."""
    method: str
    """"loss-threshold": a row whose true label has a low loss under the model is guessed to be a member."""
    n_members: int
    """Training rows attacked."""
    n_non_members: int
    """Holdout rows attacked (as many as members: the samples are balanced)."""
    loss: str = "log-loss"
    """The per-row loss: "log-loss" of the true label's probability, or "zero-one" for a model without predict_proba."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "auc": json_number(self.auc),
            "advantage": json_number(self.advantage),
            "method": self.method,
            "n_members": self.n_members,
            "n_non_members": self.n_non_members,
            "loss": self.loss,
        }


def membership_inference(
    model: Any,
    X_train: Any,
    y_train: Any,
    X_holdout: Any,
    y_holdout: Any,
    *,
    seed: int = 0,
    max_rows: int = 5000,
) -> MembershipInference:
    """The loss-threshold attack (Yeom et al., 2018) on equal-sized seeded samples of training and holdout rows.

    Each side contributes at most ``max_rows`` rows.
    """
    members, non_members = Rows.of(X_train, name="X_train"), Rows.of(X_holdout, name="X_holdout")
    member_labels = labels_of(y_train, members, name="y_train")
    non_member_labels = labels_of(y_holdout, non_members, name="y_holdout")
    size = min(len(members), len(non_members), max_rows)
    if size == 0:
        raise BastionError("membership inference needs training rows and holdout rows; one of them is empty")
    rng = np.random.default_rng(seed)
    picked_members = sample_positions(len(members), size, rng)
    picked_non_members = sample_positions(len(non_members), size, rng)
    loss_name, member_loss = _losses(model, members.take(picked_members), member_labels[picked_members])
    _, non_member_loss = _losses(model, non_members.take(picked_non_members), non_member_labels[picked_non_members])

    from sklearn.metrics import roc_auc_score, roc_curve

    is_member = np.concatenate([np.ones(size), np.zeros(size)])
    membership_score = -np.concatenate([member_loss, non_member_loss])
    false_positive_rate, true_positive_rate, _ = roc_curve(is_member, membership_score)
    return MembershipInference(
        auc=float(roc_auc_score(is_member, membership_score)),
        advantage=float(np.max(true_positive_rate - false_positive_rate)),
        method="loss-threshold",
        n_members=size,
        n_non_members=size,
        loss=loss_name,
    )


def _losses(model: Any, rows: Rows, labels: np.ndarray) -> tuple[str, np.ndarray]:
    """Each row's loss for its true label: -log P(label), or 0/1 for a wrong prediction without probabilities."""
    if not hasattr(model, "predict_proba"):
        return "zero-one", (np.asarray(model.predict(rows.data)) != labels).astype(float)
    # compared as text: the holdout's 1.0 is the model's class 1 (see bastion.ml._labels)
    positions = {label_text(label): i for i, label in enumerate(model.classes_)}
    texts = [label_text(label) for label in labels]
    known = np.array([text in positions for text in texts])
    if not known.any():
        raise BastionError(
            f"membership inference: none of the labels is one of the model's classes {sorted(map(str, positions))}; "
            "pass the target column the model was trained on"
        )
    probabilities = np.asarray(model.predict_proba(rows.data), dtype=float)
    columns = np.array([positions.get(text, 0) for text in texts])
    # a label the model never saw has probability 0
    true_label = np.where(known, probabilities[np.arange(len(labels)), columns], 0.0)
    return "log-loss", -np.log(np.clip(true_label, _SMALLEST_PROBABILITY, 1.0))


@dataclass(frozen=True)
class Robustness:
    """How often small random noise on the inputs changes the model's answer."""

    noise_scale: float
    """Gaussian noise, as a fraction of each numeric feature's standard deviation (other features are left alone)."""
    flip_rate: float
    """Share of rows whose predicted class changed, averaged over the repeats."""
    mean_score_shift: float | None
    """Mean |Δ P(positive)|; for more than two classes the mean total-variation distance between the probability
    vectors, which is the same thing for two. None for a model without predict_proba."""
    n_rows: int
    """Rows perturbed (each ``repeats`` times)."""
    repeats: int = 5
    """Independent perturbations of every row."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "noise_scale": self.noise_scale,
            "flip_rate": json_number(self.flip_rate),
            "mean_score_shift": json_number(self.mean_score_shift),
            "n_rows": self.n_rows,
            "repeats": self.repeats,
        }


def perturbation_robustness(
    model: Any, X: Any, *, noise_scale: float = 0.05, repeats: int = 5, seed: int = 0, max_rows: int = 5000
) -> Robustness:
    """Add N(0, (noise_scale·σ_j)²) to every numeric feature j, ``repeats`` times, on a seeded sample of at most
    ``max_rows`` rows of ``X``, and compare the model's predictions with those on the clean rows."""
    if noise_scale < 0 or repeats < 1:
        raise BastionError(f"robustness: noise_scale must be ≥ 0 and repeats ≥ 1 (got {noise_scale} and {repeats})")
    rows = Rows.of(X)
    if len(rows) == 0:
        raise BastionError("robustness: X has no rows to perturb")
    rng = np.random.default_rng(seed)
    rows = rows.take(sample_positions(len(rows), max_rows, rng))
    numeric = rows.numeric_columns()
    columns = {j: rows.column(j).astype(float) for j in numeric}
    spreads = {j: float(np.nanstd(values)) if np.isfinite(values).any() else 0.0 for j, values in columns.items()}
    has_probabilities = hasattr(model, "predict_proba")

    clean_prediction = np.asarray(model.predict(rows.data))
    clean_probabilities = np.asarray(model.predict_proba(rows.data), dtype=float) if has_probabilities else None
    flips = 0
    shift = 0.0
    for _ in range(repeats):
        noisy = rows.with_columns(
            {j: values + rng.normal(0.0, noise_scale * spreads[j], size=len(rows)) for j, values in columns.items()}
        )
        flips += int(np.count_nonzero(np.asarray(model.predict(noisy.data)) != clean_prediction))
        if clean_probabilities is not None:
            probabilities = np.asarray(model.predict_proba(noisy.data), dtype=float)
            shift += float(0.5 * np.abs(probabilities - clean_probabilities).sum())
    trials = len(rows) * repeats
    return Robustness(
        noise_scale=float(noise_scale),
        flip_rate=flips / trials,
        mean_score_shift=shift / trials if has_probabilities else None,
        n_rows=len(rows),
        repeats=repeats,
    )


def pii_feature_leaks(features: Sequence[str], pii_columns: Iterable[str]) -> list[str]:
    """The features that are one of the columns where PII was found (compared case-insensitively, stripped),
    in feature order."""
    pii = {column.strip().casefold() for column in pii_columns}
    return [feature for feature in dict.fromkeys(features) if feature.strip().casefold() in pii]
