"""Evaluation metrics against values worked out by hand on small tables."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from bastion.core.errors import BastionError
from bastion.ml.metrics import METRIC_NAMES, classification_metrics

# A warning (sklearn's UndefinedMetricWarning, numpy's division by zero) is a failure: 0/0 must be None.
pytestmark = pytest.mark.filterwarnings("error")

# TP = 3 (rows 0-2), FN = 1 (row 3), FP = 2 (rows 4-5), TN = 4 (rows 6-9)
TRUE = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0]
PRED = [1, 1, 1, 0, 1, 1, 0, 0, 0, 0]
# Positives score 0.9, 0.8, 0.6, 0.3; negatives 0.7, 0.5, 0.4, 0.3, 0.2, 0.1.
SCORE = [0.9, 0.8, 0.6, 0.3, 0.7, 0.5, 0.4, 0.3, 0.2, 0.1]


def test_binary_rates_match_the_hand_computed_table() -> None:
    metrics = classification_metrics(TRUE, PRED)

    assert metrics.confusion.labels == ("0", "1")
    assert metrics.confusion.counts == ((4, 2), (1, 3))  # rows true 0/1: [TN, FP], [FN, TP]
    values = metrics.values
    assert list(values) == list(METRIC_NAMES)
    assert values["accuracy"] == pytest.approx((3 + 4) / 10)
    assert values["precision"] == pytest.approx(3 / (3 + 2))
    assert values["recall"] == pytest.approx(3 / (3 + 1))
    assert values["sensitivity"] == values["recall"]
    assert values["specificity"] == pytest.approx(4 / (4 + 2))
    assert values["npv"] == pytest.approx(4 / (4 + 1))
    assert values["f1"] == pytest.approx(2 * 3 / (2 * 3 + 2 + 1))
    precision, recall = 3 / 5, 3 / 4
    assert values["f1"] == pytest.approx(2 * precision * recall / (precision + recall))
    assert values["balanced_accuracy"] == pytest.approx((3 / 4 + 4 / 6) / 2)
    assert values["roc_auc"] is None
    assert metrics.roc is None
    assert metrics.positive_label == "1"


def test_roc_auc_is_the_share_of_positive_negative_pairs_ranked_right() -> None:
    # 4 positives x 6 negatives = 24 pairs. 0.9 and 0.8 beat all 6 negatives (12); 0.6 beats all but 0.7 (5);
    # 0.3 beats 0.2 and 0.1 (2) and ties 0.3 (1/2): 19.5 / 24.
    metrics = classification_metrics(TRUE, PRED, SCORE)

    assert metrics.roc is not None
    assert metrics.roc.auc == pytest.approx(19.5 / 24)
    assert metrics.values["roc_auc"] == pytest.approx(19.5 / 24)
    points = list(zip(metrics.roc.fpr, metrics.roc.tpr, strict=True))
    assert points[0] == (0.0, 0.0)
    assert points[-1] == (1.0, 1.0)
    # at threshold 0.6 three positives (0.9, 0.8, 0.6) and one negative (0.7) are predicted positive
    assert (pytest.approx(1 / 6), pytest.approx(3 / 4)) in points
    assert 0.6 in metrics.roc.thresholds
    fpr, tpr = np.array(metrics.roc.fpr), np.array(metrics.roc.tpr)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    assert float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2)) == pytest.approx(19.5 / 24)


def test_a_probability_matrix_gives_the_same_curve_as_the_positive_column() -> None:
    matrix = [[1 - s, s] for s in SCORE]

    from_column = classification_metrics(TRUE, PRED, SCORE)
    from_matrix = classification_metrics(TRUE, PRED, matrix)

    assert from_matrix.roc == from_column.roc
    reordered = classification_metrics(TRUE, PRED, [[s, 1 - s] for s in SCORE], score_labels=[1, 0])
    assert reordered.roc == from_column.roc


def test_text_labels_with_a_named_positive_class() -> None:
    true = ["yes" if t else "no" for t in TRUE]
    pred = ["yes" if p else "no" for p in PRED]

    metrics = classification_metrics(true, pred, positive_label="yes")

    assert metrics.confusion.labels == ("no", "yes")
    assert metrics.values["precision"] == pytest.approx(3 / 5)
    # the other class as positive swaps the rates: precision becomes NPV, recall specificity
    flipped = classification_metrics(true, pred, positive_label="no")
    assert flipped.values["precision"] == pytest.approx(4 / 5)
    assert flipped.values["recall"] == pytest.approx(4 / 6)


def test_pandas_float_labels_match_an_integer_positive_label() -> None:
    metrics = classification_metrics(pd.Series(TRUE, dtype=float), pd.Series(PRED, dtype=float), positive_label=1)

    assert metrics.confusion.labels == ("0", "1")
    assert metrics.values["recall"] == pytest.approx(3 / 4)


def test_one_class_only_leaves_the_other_class_rates_undefined() -> None:
    # every row positive and predicted positive: TP = 4, FP = FN = TN = 0
    metrics = classification_metrics([1, 1, 1, 1], [1, 1, 1, 1], [0.9, 0.8, 0.7, 0.6])

    values = metrics.values
    assert metrics.confusion.labels == ("1",)
    assert metrics.confusion.counts == ((4,),)
    assert values["accuracy"] == 1.0
    assert values["precision"] == 1.0
    assert values["recall"] == 1.0
    assert values["specificity"] is None  # TN / (TN + FP) = 0/0
    assert values["npv"] is None  # TN / (TN + FN) = 0/0
    assert values["f1"] == 1.0
    assert values["balanced_accuracy"] == 1.0  # the mean of the defined one (recall)
    assert metrics.roc is None  # no negative row: no false positive rate
    assert values["roc_auc"] is None


def test_one_negative_class_only_with_the_default_positive_label() -> None:
    metrics = classification_metrics([0, 0, 0], [0, 0, 0])

    assert metrics.values["precision"] is None
    assert metrics.values["recall"] is None
    assert metrics.values["f1"] is None  # 2·TP / (2·TP + FP + FN) = 0/0
    assert metrics.values["specificity"] == 1.0


def test_no_positive_predictions() -> None:
    # TP = 0, FP = 0, FN = 2, TN = 3
    metrics = classification_metrics([1, 1, 0, 0, 0], [0, 0, 0, 0, 0])

    values = metrics.values
    assert values["precision"] is None  # TP / (TP + FP) = 0/0
    assert values["recall"] == 0.0  # 0 / 2
    assert values["specificity"] == 1.0  # 3 / 3
    assert values["npv"] == pytest.approx(3 / 5)
    assert values["f1"] == 0.0  # 2·0 / (0 + 0 + 2)
    assert values["accuracy"] == pytest.approx(3 / 5)
    assert values["balanced_accuracy"] == pytest.approx((0 + 1) / 2)


def test_multiclass_macro_averages_one_vs_rest() -> None:
    true = ["a", "a", "a", "b", "b", "c", "c", "c", "c"]
    pred = ["a", "a", "b", "b", "c", "c", "c", "b", "c"]
    # per class:  TP  FP  FN  TN
    #   a          2   0   1   6
    #   b          1   2   1   5
    #   c          3   1   1   4
    metrics = classification_metrics(true, pred)

    assert metrics.confusion.labels == ("a", "b", "c")
    assert metrics.confusion.counts == ((2, 1, 0), (0, 1, 1), (0, 1, 3))
    values = metrics.values
    assert values["accuracy"] == pytest.approx(6 / 9)
    assert values["precision"] == pytest.approx((2 / 2 + 1 / 3 + 3 / 4) / 3)
    assert values["recall"] == pytest.approx((2 / 3 + 1 / 2 + 3 / 4) / 3)
    assert values["balanced_accuracy"] == values["recall"]
    assert values["specificity"] == pytest.approx((6 / 6 + 5 / 7 + 4 / 5) / 3)
    assert values["npv"] == pytest.approx((6 / 7 + 5 / 6 + 4 / 5) / 3)
    assert values["f1"] == pytest.approx((4 / 5 + 2 / 5 + 6 / 8) / 3)
    assert values["roc_auc"] is None
    assert metrics.positive_label is None


def test_multiclass_macro_skips_a_class_never_predicted() -> None:
    # class c is never predicted: its precision is 0/0 and stays out of the mean
    metrics = classification_metrics(["a", "b", "c"], ["a", "b", "a"])

    assert metrics.values["precision"] == pytest.approx((1 / 2 + 1 / 1) / 2)
    assert metrics.values["recall"] == pytest.approx((1 + 1 + 0) / 3)


def test_multiclass_roc_auc_is_the_one_vs_rest_macro_average() -> None:
    true = ["a", "a", "b", "b", "c", "c"]
    scores = [
        [0.8, 0.1, 0.1],
        [0.6, 0.3, 0.1],
        [0.1, 0.5, 0.4],
        [0.3, 0.2, 0.5],
        [0.1, 0.4, 0.5],
        [0.2, 0.3, 0.5],
    ]
    pred = ["a", "a", "b", "c", "c", "c"]
    # a: positives 0.8, 0.6 beat all four negatives            -> 8/8
    # b: positive 0.5 beats all four, 0.2 beats only 0.1        -> 5/8
    # c: each positive 0.5 beats 0.1, 0.1, 0.4 and ties one 0.5 -> 7/8
    metrics = classification_metrics(true, pred, scores)

    assert metrics.values["roc_auc"] == pytest.approx((8 / 8 + 5 / 8 + 7 / 8) / 3)
    assert metrics.roc is None


def test_to_dict_is_strict_json() -> None:
    data = classification_metrics(TRUE, PRED, SCORE).to_dict()

    text = json.dumps(data, allow_nan=False)
    assert json.loads(text) == data
    assert data["roc"]["thresholds"][0] is None  # the "nothing positive" threshold is +inf
    assert data["confusion"] == {"labels": ["0", "1"], "counts": [[4, 2], [1, 3]]}
    assert all(type(v) is float for v in data["values"].values())


@pytest.mark.parametrize(
    ("y_true", "y_pred", "y_score", "message"),
    [
        ([1, 0], [1], None, "y_true has 2 rows but y_pred has 1"),
        ([], [], None, "no rows to evaluate"),
        (["no", "yes"], ["no", "yes"], None, "positive label '1' is not one of"),
        (["a", "b", "c"], ["a", "b", "c"], [0.1, 0.2, 0.3], "needs y_score as a matrix"),
        ([1, 0], [1, 0], [[0.1, 0.2, 0.7], [0.3, 0.3, 0.4]], "pass score_labels"),
        ([1, 0], [1, 0], [0.5, float("nan")], "NaN or infinite"),
        ([1, 0], [1, 0], [0.5], "one score"),
        ([1, 0], [1, 0], ["high", "low"], "must hold numbers"),
        ([[1, 0]], [[1, 0]], None, "one column of values"),
    ],
)
def test_bad_input_is_one_clear_error(y_true: object, y_pred: object, y_score: object, message: str) -> None:
    with pytest.raises(BastionError, match=message):
        classification_metrics(y_true, y_pred, y_score)
