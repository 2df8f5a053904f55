"""Clarify's bias metrics against their formulas worked out by hand on a 10-row table."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from sklearn.tree import DecisionTreeClassifier

from bastion.core.errors import BastionError
from bastion.ml.bias import BIAS_METRICS, POST_TRAINING, PRE_TRAINING, Facet, posttraining_bias, pretraining_bias

pytestmark = pytest.mark.filterwarnings("error")

SEX = Facet("sex", sensitive=("F",))
# Rows 0-5 are facet a (M), rows 6-9 facet d (F).
FACET = ["M", "M", "M", "M", "M", "M", "F", "F", "F", "F"]
LABEL = [1, 1, 1, 1, 0, 0, 1, 0, 0, 0]
PREDICTED = [1, 1, 1, 0, 1, 0, 1, 1, 1, 0]
GROUP = ["x", "x", "y", "y", "x", "y", "x", "y", "y", "y"]
# facet a: y 1 1 1 1 0 0, ŷ 1 1 1 0 1 0 -> TP 3, FN 1, FP 1, TN 1; n_a(1) 4, n_a(0) 2; n̂_a(1) 4, n̂_a(0) 2
# facet d: y 1 0 0 0,     ŷ 1 1 1 0     -> TP 1, FN 0, FP 2, TN 1; n_d(1) 1, n_d(0) 3; n̂_d(1) 3, n̂_d(0) 1
P_A = (2 / 6, 4 / 6)  # P_a(0), P_a(1)
P_D = (3 / 4, 1 / 4)


def test_pretraining_metrics_follow_their_formulas() -> None:
    report = pretraining_bias(LABEL, FACET, SEX, group=GROUP)

    pre = report.pre
    assert list(pre) == list(PRE_TRAINING)
    assert (report.n_a, report.n_d) == (6, 4)
    assert pre["CI"] == pytest.approx((6 - 4) / (6 + 4))
    assert pre["DPL"] == pytest.approx(4 / 6 - 1 / 4)
    kl = P_A[0] * math.log(P_A[0] / P_D[0]) + P_A[1] * math.log(P_A[1] / P_D[1])
    assert pre["KL"] == pytest.approx(kl)
    middle = ((P_A[0] + P_D[0]) / 2, (P_A[1] + P_D[1]) / 2)
    js = (
        sum(p * math.log(p / m) for p, m in zip(P_A, middle, strict=True))
        + sum(p * math.log(p / m) for p, m in zip(P_D, middle, strict=True))
    ) / 2
    assert pre["JS"] == pytest.approx(js)
    assert pre["LP"] == pytest.approx(math.sqrt((P_A[0] - P_D[0]) ** 2 + (P_A[1] - P_D[1]) ** 2))
    assert pre["TVD"] == pytest.approx((abs(P_A[0] - P_D[0]) + abs(P_A[1] - P_D[1])) / 2)
    assert pre["KS"] == pytest.approx(max(abs(P_A[0] - P_D[0]), abs(P_A[1] - P_D[1])))
    # group x: rows 0 1 4 6 (a 1 1 0, d 1): DD = n_d(0)/n(0) - n_d(1)/n(1) = 0/1 - 1/3
    # group y: rows 2 3 5 7 8 9 (a 1 1 0, d 0 0 0): DD = 3/4 - 0/2
    assert pre["CDDL"] == pytest.approx((4 * (0 / 1 - 1 / 3) + 6 * (3 / 4 - 0 / 2)) / 10)
    assert report.post == {}


def test_posttraining_metrics_follow_their_formulas() -> None:
    report = posttraining_bias(LABEL, PREDICTED, FACET, SEX)

    post = report.post
    assert list(post) == list(POST_TRAINING)
    assert post["DPPL"] == pytest.approx(4 / 6 - 3 / 4)  # q̂_a - q̂_d
    assert post["DI"] == pytest.approx((3 / 4) / (4 / 6))  # q̂_d / q̂_a
    assert post["DCA"] == pytest.approx(4 / 4 - 1 / 3)  # n_a(1)/n̂_a(1) - n_d(1)/n̂_d(1)
    assert post["DCR"] == pytest.approx(3 / 1 - 2 / 2)  # n_d(0)/n̂_d(0) - n_a(0)/n̂_a(0)
    assert post["RD"] == pytest.approx(3 / (3 + 1) - 1 / (1 + 0))  # recall_a - recall_d
    assert post["DAR"] == pytest.approx(3 / (3 + 1) - 1 / (1 + 2))  # precision_a - precision_d
    assert post["DRR"] == pytest.approx(1 / (1 + 0) - 1 / (1 + 1))  # TN_d/n̂_d(0) - TN_a/n̂_a(0)
    assert post["AD"] == pytest.approx((3 + 1) / 6 - (1 + 1) / 4)  # accuracy_a - accuracy_d
    assert post["TE"] == pytest.approx(0 / 2 - 1 / 1)  # FN_d/FP_d - FN_a/FP_a
    assert post["FT"] is None  # no features and no model
    assert report.pre == pretraining_bias(LABEL, FACET, SEX).pre


def test_a_facet_disadvantaged_in_labels_and_predictions_has_positive_dpl_and_dppl() -> None:
    label = [1, 1, 1, 1, 0, 1, 0, 0, 0, 0]
    report = posttraining_bias(label, label, FACET, SEX)

    assert report.pre["DPL"] is not None and report.pre["DPL"] > 0  # 5/6 - 0/4
    assert report.post["DPPL"] is not None and report.post["DPPL"] > 0
    assert report.post["DI"] == 0.0  # facet d is never predicted positive
    # the other facet as d reverses the signs
    reverse = posttraining_bias(label, label, FACET, Facet("sex", sensitive=("M",)))
    assert reverse.pre["DPL"] == pytest.approx(-report.pre["DPL"])
    assert reverse.pre["CI"] == pytest.approx(-report.pre["CI"])


def test_multi_valued_labels_keep_their_distribution() -> None:
    # Clarify's KS example: facet a rejected/waitlisted/accepted 40%/40%/20%, facet d 20%/10%/70%
    label = ["rejected"] * 4 + ["waitlisted"] * 4 + ["accepted"] * 2 + ["rejected"] * 2 + ["waitlisted"] + ["accepted"] * 7
    facet = ["a"] * 10 + ["d"] * 10

    pre = pretraining_bias(label, facet, Facet("applicant", sensitive=("d",)), positive_label="accepted").pre

    assert pre["KS"] == pytest.approx(max(abs(0.4 - 0.2), abs(0.4 - 0.1), abs(0.2 - 0.7)))
    assert pre["TVD"] == pytest.approx((0.2 + 0.3 + 0.5) / 2)
    assert pre["LP"] == pytest.approx(math.sqrt(0.2**2 + 0.3**2 + 0.5**2))
    assert pre["KL"] == pytest.approx(0.4 * math.log(0.4 / 0.2) + 0.4 * math.log(0.4 / 0.1) + 0.2 * math.log(0.2 / 0.7))
    assert pre["DPL"] == pytest.approx(0.2 - 0.7)  # positive_label picks "accepted" for the binary metrics


def test_kl_is_infinite_when_facet_d_lacks_a_label_of_facet_a() -> None:
    report = pretraining_bias([1, 0, 1, 1], ["M", "M", "F", "F"], SEX)

    assert report.pre["KL"] == math.inf  # P_a(0) = 1/2 but P_d(0) = 0
    assert report.pre["JS"] is not None and math.isfinite(report.pre["JS"])
    assert report.to_dict()["pre"]["KL"] is None


def test_cddl_leaves_out_a_group_without_rejections() -> None:
    # group z accepts everyone: its DD = n_d(0)/0 - ... is undefined and it carries no weight
    group = ["z" if g == "x" else g for g in GROUP]
    group[4] = "y"  # move the one rejection of x into y so that z has none
    report = pretraining_bias(LABEL, FACET, SEX, group=group)

    # y: rows 2 3 4 5 7 8 9 (a 1 1 0 0, d 0 0 0): DD = 3/5 - 0/2; z (rows 0 1 6) left out
    assert report.pre["CDDL"] == pytest.approx(7 * (3 / 5 - 0 / 2) / 7)
    assert pretraining_bias(LABEL, FACET, SEX).pre["CDDL"] is None


def test_empty_facets_give_none() -> None:
    absent = posttraining_bias(LABEL, PREDICTED, FACET, Facet("sex", sensitive=("X",)))

    assert (absent.n_d, absent.n_a) == (0, 10)
    assert absent.pre["CI"] == 1.0  # (10 - 0) / 10: facet d is missing entirely
    assert all(absent.pre[code] is None for code in PRE_TRAINING if code != "CI")
    assert all(value is None for value in absent.post.values())
    everyone = posttraining_bias(LABEL, PREDICTED, FACET, Facet("sex", sensitive=("F", "M")))
    assert everyone.pre["CI"] == -1.0
    assert everyone.pre["DPL"] is None and everyone.post["DI"] is None


def test_zero_denominators_give_none() -> None:
    # facet a never predicted positive: DI = q̂_d / 0, DCA = n_a(1) / 0, DAR = TP_a / 0; no false positive: TE
    report = posttraining_bias([1, 0, 1, 0], [0, 0, 1, 0], ["M", "M", "F", "F"], SEX)

    assert report.post["DI"] is None
    assert report.post["DCA"] is None
    assert report.post["DAR"] is None
    assert report.post["TE"] is None
    assert report.post["DPPL"] == pytest.approx(0 / 2 - 1 / 2)


def test_numeric_facet_with_a_threshold() -> None:
    age = [25, 30, 35, 38, 40, 33, 41, 55, 60, 70]  # above 40: rows 6-9, the same split as FACET

    report = posttraining_bias(LABEL, PREDICTED, age, Facet("age", threshold=40))

    assert (report.n_a, report.n_d) == (6, 4)
    assert report.post == posttraining_bias(LABEL, PREDICTED, FACET, SEX).post


def test_sensitive_values_match_as_text() -> None:
    report = pretraining_bias(LABEL, [0, 0, 0, 0, 0, 0, 1.0, 1.0, 1.0, 1.0], Facet("flag", sensitive=("1",)))

    assert report.n_d == 4


def test_flip_test_with_nearest_neighbours_by_hand() -> None:
    # facet a at x = 1 2 3 6 7 8, the model predicts positive above 5: 0 0 0 1 1 1
    # facet d at x = 1.2 2.4 6.4 7.6, predicted 1 1 1 0; nearest a: 1 (0), 2 (0), 6 (1), 8 (1)
    # F+ (d negative, neighbour positive) = 1 (x 7.6); F- (d positive, neighbour negative) = 2 (x 1.2, 2.4)
    x = np.array([[1], [2], [3], [6], [7], [8], [1.2], [2.4], [6.4], [7.6]])

    def above_five(rows: np.ndarray) -> np.ndarray:
        return (rows[:, 0] > 5).astype(int)

    nearest = posttraining_bias(LABEL, PREDICTED, FACET, SEX, features=x, predict=above_five, flip_neighbors=1)
    assert nearest.post["FT"] == pytest.approx((1 - 2) / 4)
    # five neighbours: the majority of 1 2 3 6 7 (0) for x 1.2 and 2.4, of 8 7 6 3 2 (1) for x 7.6: the same flips
    five = posttraining_bias(LABEL, PREDICTED, FACET, SEX, features=x, predict=above_five, flip_neighbors=5)
    assert five.post["FT"] == pytest.approx((1 - 2) / 4)
    # all six neighbours split 3 to 3: a tie is neither F+ nor F-
    tie = posttraining_bias(LABEL, PREDICTED, FACET, SEX, features=x, predict=above_five, flip_neighbors=6)
    assert tie.post["FT"] == 0.0


def test_flip_test_of_a_model_that_ignores_the_facet_is_zero() -> None:
    rng = np.random.default_rng(0)
    features = rng.normal(size=(40, 3))
    label = (features[:, 0] + features[:, 1] > 0).astype(int)
    model = DecisionTreeClassifier(random_state=0).fit(features, label)
    # facet d rows are exact copies of facet a rows: each one's nearest neighbour is its twin
    both = np.vstack([features, features])
    facet = ["a"] * 40 + ["d"] * 40

    report = posttraining_bias(
        np.concatenate([label, label]),
        model.predict(both),
        facet,
        Facet("group", sensitive=("d",)),
        features=both,
        predict=model.predict,
        flip_neighbors=1,
    )

    assert report.post["FT"] == 0.0
    assert report.post["DPPL"] == 0.0


def test_pandas_series_name_the_label_and_report_is_strict_json() -> None:
    label = pd.Series(LABEL, name="approved")

    report = posttraining_bias(label, pd.Series(PREDICTED), pd.Series(FACET), SEX, group=pd.Series(GROUP))

    data = report.to_dict()
    assert data["label"] == "approved" and data["facet"] == "sex"
    assert json.loads(json.dumps(data, allow_nan=False)) == data
    assert all(value is None or type(value) is float for value in [*data["pre"].values(), *data["post"].values()])


def test_every_metric_is_described() -> None:
    assert list(BIAS_METRICS) == [*PRE_TRAINING, *POST_TRAINING]
    assert all(BIAS_METRICS.values())


@pytest.mark.parametrize(
    ("facet", "facet_values", "kwargs", "message"),
    [
        (Facet("sex", sensitive=("F",), threshold=1.0), FACET, {}, "not both"),
        (Facet("sex"), FACET, {}, "name the sensitive values"),
        (Facet("sex", threshold=40), FACET, {}, "non-numeric values"),
        (SEX, FACET[:9], {}, "facet column 'sex' has 9 rows but the labels have 10"),
        (SEX, FACET, {"group": GROUP[:3]}, "group column has 3 rows"),
        (SEX, FACET, {"positive_label": "yes"}, "positive label 'yes' is not one of"),
    ],
)
def test_bad_input_is_one_clear_error(facet: Facet, facet_values: list[object], kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(BastionError, match=message):
        pretraining_bias(LABEL, facet_values, facet, **kwargs)


def test_bad_flip_test_input_is_one_clear_error() -> None:
    def never(rows: np.ndarray) -> np.ndarray:
        return np.zeros(len(rows), dtype=int)

    with pytest.raises(BastionError, match="numeric features"):
        posttraining_bias(LABEL, PREDICTED, FACET, SEX, features=[["a"]] * 10, predict=never)
    with pytest.raises(BastionError, match="one row per label"):
        posttraining_bias(LABEL, PREDICTED, FACET, SEX, features=np.zeros((9, 2)), predict=never)
    with pytest.raises(BastionError, match="missing or infinite"):
        posttraining_bias(LABEL, PREDICTED, FACET, SEX, features=np.full((10, 2), np.nan), predict=never)
    with pytest.raises(BastionError, match="needs the model's predicted labels"):
        posttraining_bias(LABEL, None, FACET, SEX)
    with pytest.raises(BastionError, match="predicted labels has 3 rows"):
        posttraining_bias(LABEL, PREDICTED[:3], FACET, SEX)
