"""Feature attributions on real scikit-learn models fitted on generated data with a fixed seed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from bastion.core import BastionError
from bastion.ml.explain import explain
from bastion.ml.persist import load_model, save_model

FEATURES = ["signal", "noise_a", "noise_b", "noise_c"]


def _table(rows: int = 400, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """One informative feature, three pure-noise ones on very different scales."""
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(rows, 4)) * [1.0, 50.0, 0.01, 3.0] + [0.0, 100.0, 5.0, -2.0]
    labels = (values[:, 0] + 0.3 * rng.normal(size=rows) > 0).astype(int)
    return pd.DataFrame(values, columns=FEATURES), labels


def _ranks_signal_first(importance: tuple[float, ...]) -> bool:
    return int(np.argmax(importance)) == 0 and all(importance[0] > 3 * abs(v) for v in importance[1:])


@pytest.mark.filterwarnings("error")  # a model fitted on a DataFrame gets DataFrames back (no feature-name warnings)
@pytest.mark.parametrize("positive_label", [None, 1, 0])
def test_linear_shap_attributions_sum_to_decision_minus_base_value(positive_label: int | None) -> None:
    X, y = _table()
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    explanation = explain(model, X, y, FEATURES, max_rows=50, positive_label=positive_label)
    assert explanation.method == "shap-linear"
    assert explanation.units == "decision-function"
    assert explanation.explained_class == str(1 if positive_label is None else positive_label)
    assert len(explanation.rows) == 50 and all(len(row) == 4 for row in explanation.rows)
    decision = model.decision_function(X.iloc[:50]) * (-1 if positive_label == 0 else 1)
    assert explanation.base_value is not None
    np.testing.assert_allclose(np.sum(explanation.rows, axis=1) + explanation.base_value, decision, atol=1e-9)
    assert _ranks_signal_first(explanation.global_importance)


def test_linear_shap_is_the_closed_form_for_each_feature() -> None:
    X, y = _table()
    model = LogisticRegression().fit(X.to_numpy(), y)
    explanation = explain(model, X.to_numpy(), y, FEATURES, max_rows=3)
    expected = model.coef_[0] * (X.to_numpy()[:3] - X.to_numpy().mean(axis=0))
    np.testing.assert_allclose(explanation.rows, expected, atol=1e-12)


def test_multiclass_linear_shap_explains_the_chosen_class() -> None:
    X, _ = _table()
    classes = np.where(X["signal"] > 0.5, "high", np.where(X["signal"] < -0.5, "low", "mid"))
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, classes)
    explanation = explain(model, X, classes, FEATURES, max_rows=20, positive_label="low")
    column = list(model.classes_).index("low")
    assert explanation.base_value is not None
    np.testing.assert_allclose(
        np.sum(explanation.rows, axis=1) + explanation.base_value, model.decision_function(X.iloc[:20])[:, column], atol=1e-9
    )


def test_linear_regression_attributions_sum_to_prediction_minus_base_value() -> None:
    X, _ = _table()
    target = 3.0 * X["signal"].to_numpy() + 0.001 * X["noise_a"].to_numpy()
    model = make_pipeline(StandardScaler(), Ridge(alpha=0.1)).fit(X, target)
    explanation = explain(model, X, target, FEATURES, max_rows=10)
    assert (explanation.method, explanation.units, explanation.explained_class) == ("shap-linear", "prediction", None)
    assert explanation.base_value is not None
    np.testing.assert_allclose(np.sum(explanation.rows, axis=1) + explanation.base_value, model.predict(X.iloc[:10]), atol=1e-9)


@pytest.mark.filterwarnings("error")
def test_tree_shap_attributions_sum_to_the_predicted_probability() -> None:
    X, y = _table()
    model = RandomForestClassifier(n_estimators=30, random_state=0).fit(X, y)
    explanation = explain(model, X, y, FEATURES, max_rows=25)
    assert (explanation.method, explanation.units) == ("shap-tree", "probability")
    assert explanation.base_value is not None
    np.testing.assert_allclose(
        np.sum(explanation.rows, axis=1) + explanation.base_value, model.predict_proba(X.iloc[:25])[:, 1], atol=1e-6
    )
    assert _ranks_signal_first(explanation.global_importance)


def test_tree_shap_of_a_booster_is_in_log_odds() -> None:
    X, y = _table()
    model = HistGradientBoostingClassifier(max_iter=30, random_state=0).fit(X, y)
    explanation = explain(model, X, y, FEATURES, max_rows=25, positive_label=0)
    assert (explanation.method, explanation.units, explanation.explained_class) == ("shap-tree", "log-odds", "0")
    assert explanation.base_value is not None
    log_odds = np.sum(explanation.rows, axis=1) + explanation.base_value
    np.testing.assert_allclose(1 / (1 + np.exp(-log_odds)), model.predict_proba(X.iloc[:25])[:, 0], atol=1e-6)


def test_a_tree_model_shap_refuses_falls_back_to_permutation() -> None:
    X, _ = _table()
    classes = np.digitize(X["signal"], [-0.5, 0.5])  # three classes: shap reads GradientBoosting only when binary
    model = GradientBoostingClassifier(n_estimators=20, random_state=0).fit(X, classes)
    explanation = explain(model, X, classes, FEATURES, max_rows=5)
    assert explanation.method == "permutation"
    assert _ranks_signal_first(explanation.global_importance)


@pytest.mark.filterwarnings("error")
def test_permutation_importance_for_other_models_ranks_the_informative_feature_first() -> None:
    X, y = _table()
    model = make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=15)).fit(X, y)
    explanation = explain(model, X, y, FEATURES, max_rows=40)
    assert (explanation.method, explanation.units, explanation.base_value) == ("permutation", "probability", None)
    assert _ranks_signal_first(explanation.global_importance)
    rows = np.array(explanation.rows)
    assert rows.shape == (40, 4)
    # replacing the signal by its mean moves P(1) more than replacing any noise feature
    assert np.abs(rows[:, 0]).mean() > 3 * np.abs(rows[:, 1:]).mean(axis=0).max()


def test_text_columns_are_replaced_by_their_most_frequent_value() -> None:
    X, y = _table()
    X["site"] = np.where(y == 1, "north", "south")  # a text column as informative as the label itself
    model = make_pipeline(
        make_column_transformer((OneHotEncoder(), ["site"]), remainder=StandardScaler()), LogisticRegression()
    ).fit(X, y)
    explanation = explain(model, X, y, [*FEATURES, "site"], max_rows=10)
    assert explanation.method == "permutation"
    assert int(np.argmax(explanation.global_importance)) == 4
    # "south" is the most frequent site; rows in the north lose P(1) when set to it
    north = np.flatnonzero(X["site"].iloc[:10] == "north")
    assert len(north) > 0 and all(explanation.rows[i][4] > 0 for i in north)


def test_same_seed_same_explanation_and_the_seed_matters() -> None:
    X, y = _table(rows=600)
    model = KNeighborsClassifier(n_neighbors=15).fit(X.to_numpy(), y)
    first = explain(model, X.to_numpy(), y, FEATURES, seed=7, sample_rows=300)
    assert first == explain(model, X.to_numpy(), y, FEATURES, seed=7, sample_rows=300)
    assert first.global_importance != explain(model, X.to_numpy(), y, FEATURES, seed=8, sample_rows=300).global_importance


def test_to_dict_is_plain_json() -> None:
    X, y = _table()
    model = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)
    document = explain(model, X, y, FEATURES, max_rows=2).to_dict()
    assert json.loads(json.dumps(document)) == document
    assert document["features"] == FEATURES and len(document["rows"]) == 2
    assert all(type(value) is float for value in document["global_importance"])


def test_feature_names_must_match_the_columns() -> None:
    X, y = _table()
    model = LogisticRegression().fit(X, y)
    with pytest.raises(BastionError, match="4 columns but 3 feature names"):
        explain(model, X, y, FEATURES[:3])
    with pytest.raises(BastionError, match="positive label 'yes' is not one of the model's classes"):
        explain(model, X, y, FEATURES, positive_label="yes")
    with pytest.raises(BastionError, match="400 labels for 10 rows"):
        explain(model, X.iloc[:10], y, FEATURES)


def test_a_model_loaded_from_its_skops_file_is_explained_like_the_fitted_one(tmp_path: Path) -> None:
    X, y = _table()
    fitted = HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(X, y)
    loaded = load_model(save_model(fitted, tmp_path).path)
    assert explain(loaded, X, y, FEATURES, max_rows=10) == explain(fitted, X, y, FEATURES, max_rows=10)


def test_a_positive_label_from_a_config_file_matches_by_text() -> None:
    X, y = _table()
    model = LogisticRegression().fit(X, y)
    assert explain(model, X, y, FEATURES, positive_label="0").explained_class == "0"
    assert explain(model, X, y, FEATURES, positive_label=0.0).rows == explain(model, X, y, FEATURES, positive_label=0).rows
