"""Model security tests on real scikit-learn models fitted on generated data with a fixed seed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

from bastion.core import BastionError
from bastion.ml.attacks import membership_inference, perturbation_robustness, pii_feature_leaks
from bastion.ml.persist import load_model, save_model

# The gate of issue 8: a model that memorizes its training rows fails, a regularized one passes.
GATE_MAX_AUC = 0.6


def _noisy_split(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Training and holdout halves of a task with a weak signal and 20 % flipped labels: easy to memorize."""
    X, y = make_classification(n_samples=800, n_features=10, n_informative=4, flip_y=0.2, random_state=seed)
    X_train, X_holdout, y_train, y_holdout = train_test_split(X, y, test_size=0.5, random_state=seed, stratify=y)
    return X_train, X_holdout, y_train, y_holdout


@pytest.mark.parametrize(
    "model",
    [RandomForestClassifier(n_estimators=100, random_state=0), KNeighborsClassifier(n_neighbors=15, weights="distance")],
    ids=["forest", "distance-knn"],
)
def test_an_overfit_model_fails_the_membership_inference_gate(model: Any) -> None:
    X_train, X_holdout, y_train, y_holdout = _noisy_split()
    model.fit(X_train, y_train)
    result = membership_inference(model, X_train, y_train, X_holdout, y_holdout, seed=0)
    assert result.method == "loss-threshold" and result.loss == "log-loss"
    assert result.auc > 0.7 > GATE_MAX_AUC
    assert result.advantage > 0.3


@pytest.mark.parametrize(
    "model", [LogisticRegression(C=0.01), DecisionTreeClassifier(max_depth=2, random_state=0)], ids=["logistic", "stump"]
)
def test_a_regularized_model_passes_the_membership_inference_gate(model: Any) -> None:
    X_train, X_holdout, y_train, y_holdout = _noisy_split()
    model.fit(X_train, y_train)
    result = membership_inference(model, X_train, y_train, X_holdout, y_holdout, seed=0)
    assert result.auc < GATE_MAX_AUC
    assert result.advantage < 0.15


def _random_labels(rows: int = 300) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(2 * rows, 5))
    y = rng.choice(["benign", "malignant"], size=2 * rows)  # nothing to learn: a model can only memorize
    return X[:rows], X[rows:], y[:rows], y[rows:]


def test_a_memorizer_on_random_labels_gives_the_analytic_auc_and_advantage() -> None:
    """1-NN is certain of every training label; on a holdout row it is certain too, right (tie) or wrong.

    With equal samples, AUC = P(member loss < holdout loss) + ½ P(tie) = (1 − acc) + acc / 2, and the best
    threshold (between 0 and the wrong rows' loss) has TPR = 1 and FPR = acc.
    """
    X_train, X_holdout, y_train, y_holdout = _random_labels()
    model = KNeighborsClassifier(n_neighbors=1).fit(X_train, y_train)
    holdout_accuracy = float(np.mean(model.predict(X_holdout) == y_holdout))
    result = membership_inference(model, X_train, y_train, X_holdout, y_holdout, seed=0)
    assert (result.n_members, result.n_non_members) == (300, 300)
    assert result.auc == pytest.approx(1 - holdout_accuracy / 2)
    assert result.advantage == pytest.approx(1 - holdout_accuracy)
    assert result.auc > 0.7


def test_a_model_without_probabilities_is_attacked_with_the_zero_one_loss() -> None:
    X_train, X_holdout, y_train, y_holdout = _random_labels()
    model = SVC(C=1e6, gamma=50.0).fit(X_train, y_train)  # memorizes; no predict_proba
    assert np.all(model.predict(X_train) == y_train)
    holdout_accuracy = float(np.mean(model.predict(X_holdout) == y_holdout))
    result = membership_inference(model, X_train, y_train, X_holdout, y_holdout)
    assert result.loss == "zero-one"
    assert result.auc == pytest.approx(1 - holdout_accuracy / 2)


def test_samples_are_balanced_capped_and_seeded() -> None:
    X_train, X_holdout, y_train, y_holdout = _noisy_split()
    model = RandomForestClassifier(n_estimators=20, random_state=0).fit(X_train, y_train)
    result = membership_inference(model, X_train, y_train, X_holdout[:150], y_holdout[:150], seed=1)
    assert (result.n_members, result.n_non_members) == (150, 150)
    assert result == membership_inference(model, X_train, y_train, X_holdout[:150], y_holdout[:150], seed=1)
    assert result.auc != membership_inference(model, X_train, y_train, X_holdout[:150], y_holdout[:150], seed=2).auc
    capped = membership_inference(model, X_train, y_train, X_holdout, y_holdout, max_rows=100)
    assert (capped.n_members, capped.n_non_members) == (100, 100)
    document = result.to_dict()
    assert json.loads(json.dumps(document)) == document


def test_labels_that_are_not_the_models_classes_are_refused() -> None:
    X_train, X_holdout, y_train, y_holdout = _random_labels()
    model = LogisticRegression().fit(X_train, y_train)
    with pytest.raises(BastionError, match="none of the labels is one of the model's classes"):
        membership_inference(model, X_train, np.zeros(300), X_holdout, np.ones(300))
    with pytest.raises(BastionError, match="one of them is empty"):
        membership_inference(model, X_train, y_train, X_holdout[:0], y_holdout[:0])


def test_a_holdout_label_the_model_never_saw_counts_as_a_high_loss() -> None:
    X_train, X_holdout, y_train, y_holdout = _random_labels()
    model = LogisticRegression().fit(X_train, y_train)
    unseen = y_holdout.astype(object)
    unseen[::2] = "unknown"
    before = membership_inference(model, X_train, y_train, X_holdout, y_holdout)
    after = membership_inference(model, X_train, y_train, X_holdout, unseen)
    # half the holdout rows now have a larger loss than any member: at that threshold TPR = 1 and FPR = ½
    assert after.advantage >= 0.5 > before.advantage


def _smooth_model() -> tuple[LogisticRegression, np.ndarray]:
    X, y = make_classification(n_samples=600, n_features=6, n_informative=3, random_state=1)
    return LogisticRegression().fit(X, y), X


def test_a_smooth_model_is_robust_to_tiny_noise() -> None:
    model, X = _smooth_model()
    result = perturbation_robustness(model, X, noise_scale=1e-4, repeats=5, seed=0)
    assert (result.n_rows, result.repeats, result.noise_scale) == (600, 5, 1e-4)
    assert result.flip_rate < 0.005
    assert result.mean_score_shift is not None and result.mean_score_shift < 1e-3


def test_flip_rate_grows_with_noise() -> None:
    model, X = _smooth_model()
    results = [perturbation_robustness(model, X, noise_scale=scale, seed=0) for scale in (0.0, 0.01, 0.1, 0.5, 2.0)]
    flips = [r.flip_rate for r in results]
    shifts = [r.mean_score_shift for r in results if r.mean_score_shift is not None]
    # one seed draws the same standard normals at every scale, and a linear boundary is crossed monotonically
    assert flips == sorted(flips) and flips[0] == 0.0 and flips[-1] > 0.2
    assert len(shifts) == 5 and shifts[0] == 0.0 and shifts == sorted(shifts)


def test_only_numeric_columns_are_perturbed_and_frames_stay_frames() -> None:
    model, X = _smooth_model()
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(6)])
    frame["ward"] = np.where(frame["x0"] > 0, "A", "B")
    frame["visits"] = np.arange(600) % 7  # integers get noise too
    labels = model.predict(X)
    pipeline = make_pipeline(
        make_column_transformer((OneHotEncoder(), ["ward"]), remainder=StandardScaler()), LogisticRegression()
    ).fit(frame, labels)
    result = perturbation_robustness(pipeline, frame, noise_scale=0.5, seed=0)
    assert 0.0 < result.flip_rate < 0.5
    assert perturbation_robustness(pipeline, frame, noise_scale=0.0).flip_rate == 0.0


def test_robustness_samples_rows_and_handles_models_without_probabilities() -> None:
    model, X = _smooth_model()
    plain = SVC(kernel="linear").fit(X, model.predict(X))
    result = perturbation_robustness(plain, X, noise_scale=0.5, max_rows=200, seed=3)
    assert result.n_rows == 200 and result.mean_score_shift is None and result.flip_rate > 0
    assert result == perturbation_robustness(plain, X, noise_scale=0.5, max_rows=200, seed=3)
    assert result.to_dict()["mean_score_shift"] is None
    with pytest.raises(BastionError, match="noise_scale must be ≥ 0"):
        perturbation_robustness(plain, X, noise_scale=-1)
    with pytest.raises(BastionError, match="2-D table"):
        perturbation_robustness(plain, X[0])


def test_pii_feature_leaks_matches_stripped_names_case_insensitively() -> None:
    features = ["age", "Email ", "tumor_radius", "SSN", "email ", "ssn"]
    assert pii_feature_leaks(features, [" email", "ssn", "phone"]) == ["Email ", "SSN", "email ", "ssn"]
    assert pii_feature_leaks(["age", "age"], ["AGE"]) == ["age"]
    assert pii_feature_leaks(features, []) == []
    assert pii_feature_leaks([], ["email"]) == []


def test_a_model_loaded_from_its_skops_file_is_attacked_like_the_fitted_one(tmp_path: Path) -> None:
    X_train, X_holdout, y_train, y_holdout = _noisy_split()
    fitted = RandomForestClassifier(n_estimators=20, random_state=0).fit(X_train, y_train)
    loaded = load_model(save_model(fitted, tmp_path).path)
    assert membership_inference(loaded, X_train, y_train, X_holdout, y_holdout) == membership_inference(
        fitted, X_train, y_train, X_holdout, y_holdout
    )
    assert perturbation_robustness(loaded, X_holdout) == perturbation_robustness(fitted, X_holdout)


def test_labels_read_back_as_floats_or_text_are_the_models_classes() -> None:
    X_train, X_holdout, y_train, y_holdout = _noisy_split()
    model = LogisticRegression().fit(X_train, y_train)
    expected = membership_inference(model, X_train, y_train, X_holdout, y_holdout)
    assert membership_inference(model, X_train, y_train.astype(float), X_holdout, y_holdout.astype(str)) == expected
