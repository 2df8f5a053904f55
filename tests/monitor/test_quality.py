"""Model quality, bias and feature-attribution drift of captured traffic against a real model's evaluation.

The model is a scikit-learn logistic regression saved as a package directory the way the pipeline writes one
(model.skops, Kitfile, reports/metrics.json and reports/evaluate.json, measured by bastion.ml); the traffic is that
model's predictions on fresh rows, written as serving writes capture and feedback files (capture.md's layout).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bastion.gate import MetricThreshold
from bastion.ml.bias import Facet
from bastion.monitor import MonitorError
from bastion.monitor.quality import (
    QualityOptions,
    attribution_ndcg,
    check_quality,
    load_quality_baseline,
)

FEATURES = ("age", "x1", "x2", "group")
FACET = Facet("group", ("1",))
START = dt.datetime(2026, 11, 22, 9, 0, tzinfo=dt.UTC)
END = START + dt.timedelta(hours=2)


def population(rows: int, seed: int, *, x1_scale: float = 1.0, x2_scale: float = 1.0, flip: float = 0.0) -> dict[str, Any]:
    """Features and a label learnable from x1 and x2; ``flip`` of the labels inverted (concept drift)."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(0, x1_scale, rows), rng.normal(0, x2_scale, rows)
    group = rng.integers(0, 2, rows)
    age = rng.integers(20, 80, rows)
    label = (2.0 * x1 - 0.8 * x2 + 0.01 * (age - 50) + rng.normal(0, 0.4, rows) > 0).astype(int)
    flipped = rng.random(rows) < flip
    label[flipped] = 1 - label[flipped]
    return {"age": age, "x1": x1.round(4), "x2": x2.round(4), "group": group, "label": label}


def matrix(data: dict[str, Any]) -> np.ndarray:
    return np.column_stack([np.asarray(data[name], dtype=float) for name in FEATURES])


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An unpacked package of a real model with its evaluation reports, as the pipeline's package step writes them."""
    from sklearn.linear_model import LogisticRegression

    from bastion.ml.bias import posttraining_bias
    from bastion.ml.explain import explain
    from bastion.ml.metrics import classification_metrics
    from bastion.ml.persist import save_model
    from bastion.signing import Kitfile, kitfile_yaml
    from bastion.signing.kitfile import Docs, Model, Package

    directory = tmp_path_factory.mktemp("package")
    train, test = population(2000, seed=1), population(1000, seed=2)
    model = LogisticRegression(max_iter=1000).fit(matrix(train), train["label"])
    saved = save_model(model, directory, name="model")
    X, y = matrix(test), test["label"]
    predicted = model.predict(X)
    measured = classification_metrics(y, predicted, model.predict_proba(X)[:, 1], positive_label=1)
    bias = posttraining_bias(y, predicted, test["group"], FACET, positive_label=1, label_name="label")
    attributions = explain(model, X, y, FEATURES, positive_label=1)
    metrics = {name: value for name, value in measured.values.items() if value is not None}
    metrics |= {f"{code}[group]": value for code, value in bias.post.items() if value is not None}
    (directory / "reports").mkdir()
    (directory / "reports" / "metrics.json").write_text(json.dumps(metrics))
    (directory / "reports" / "evaluate.json").write_text(json.dumps({"attributions": attributions.to_dict()}))
    kitfile = Kitfile(
        package=Package(name="risk"),
        model=Model(name="risk", path=saved.path.name, framework="scikit-learn", format="skops"),
        docs=(Docs(path="reports", description="evaluation reports"),),
    )
    (directory / "Kitfile").write_text(kitfile_yaml(kitfile), encoding="utf-8")
    return directory


def serve_traffic(root: Path, package: Path, data: dict[str, Any], *, labelled: float = 1.0, seed: int = 0) -> None:
    """The model's predictions on ``data`` captured over the window (one flush per hour and per kind, in the hour
    directories serving writes), and the true labels of a ``labelled`` share sent as feedback a minute later."""
    from bastion.ml.persist import load_model

    model = load_model(package / "model.skops")
    X = matrix(data)
    predictions, scores = model.predict(X), model.predict_proba(X)[:, 1]
    rows = len(predictions)
    rng = np.random.default_rng(seed)
    moments = [START + dt.timedelta(seconds=float(s)) for s in np.sort(rng.uniform(0, (END - START).total_seconds() - 120, rows))]
    requests = [str(uuid.uuid4()) for _ in range(rows)]
    labelled_rows = rng.random(rows) < labelled
    for hour in (START, START + dt.timedelta(hours=1)):
        inside = [i for i in range(rows) if hour <= moments[i] < hour + dt.timedelta(hours=1)]
        capture = {
            "request_id": pa.array([requests[i] for i in inside], pa.string()),
            "time": pa.array([moments[i] for i in inside], pa.timestamp("us", tz="UTC")),
            "model": pa.array(["risk"] * len(inside)),
            "version": pa.array([1] * len(inside), pa.int64()),
            "variant": pa.array(["main"] * len(inside)),
            "age": pa.array([int(data["age"][i]) for i in inside], pa.int64()),
            "x1": pa.array([float(data["x1"][i]) for i in inside]),
            "x2": pa.array([float(data["x2"][i]) for i in inside]),
            "group": pa.array([int(data["group"][i]) for i in inside], pa.int64()),
            "prediction": pa.array([str(predictions[i]) for i in inside]),
            "score": pa.array([float(scores[i]) for i in inside], pa.float64()),
        }
        _write(root / "capture" / "risk" / f"{hour:%Y/%m/%d/%H}", pa.table(capture))
        sent = [i for i in inside if labelled_rows[i]]
        feedback = {
            "request_id": pa.array([requests[i] for i in sent], pa.string()),
            "time": pa.array([moments[i] + dt.timedelta(minutes=1) for i in sent], pa.timestamp("us", tz="UTC")),
            "label": pa.array([str(data["label"][i]) for i in sent], pa.string()),
            "reward": pa.array([None] * len(sent), pa.float64()),
        }
        _write(root / "feedback" / "risk" / f"{hour:%Y/%m/%d/%H}", pa.table(feedback))


def _write(directory: Path, table: pa.Table) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, directory / f"{uuid.uuid4().hex}.parquet")


def test_the_package_baseline_holds_metrics_attributions_and_the_model(package: Path) -> None:
    baseline = load_quality_baseline(package)

    assert set(baseline.metrics) >= {"accuracy", "precision", "recall", "f1", "roc_auc", "DPPL[group]"}
    assert list(baseline.attributions) == list(FEATURES)
    assert baseline.attributions["x1"] > baseline.attributions["x2"] > baseline.attributions["age"]
    assert baseline.model is not None and list(baseline.model.classes_) == [0, 1]


def test_a_packed_model_kit_is_a_baseline_too(tmp_path: Path, package: Path) -> None:
    from bastion.signing import build_package

    packed = build_package(package, tmp_path / "package").path

    baseline = load_quality_baseline(packed)

    assert (packed / "oci-layout").is_file() and baseline.source == str(packed)
    assert baseline.metrics == load_quality_baseline(package).metrics
    assert baseline.attributions == load_quality_baseline(package).attributions and baseline.model is not None


def test_traffic_like_the_test_split_raises_nothing(tmp_path: Path, package: Path) -> None:
    serve_traffic(tmp_path, package, population(1500, seed=3), labelled=0.8)

    result = check_quality(str(tmp_path), "risk", START, END, load_quality_baseline(package), QualityOptions(facets=(FACET,)))

    assert result.captured == 1500 and 1100 < result.labelled < 1300  # about 80 % labelled
    assert result.judged and result.violations == () and result.findings() == []
    baseline = load_quality_baseline(package).metrics
    assert abs(result.metrics["f1"] - baseline["f1"]) < 0.05  # type: ignore[operator]
    assert result.ndcg is not None and result.ndcg > 0.99
    assert [report.facet for report in result.bias] == ["group"] and "DPPL[group]" in result.metrics


def test_labels_that_stopped_following_the_model_are_quality_drift(tmp_path: Path, package: Path) -> None:
    serve_traffic(tmp_path, package, population(1500, seed=4, flip=0.3))

    result = check_quality(str(tmp_path), "risk", START, END, load_quality_baseline(package))

    kinds = {(v.metric_name, v.constraint_check_type) for v in result.violations}
    assert {("accuracy", "LessThanThreshold"), ("f1", "LessThanThreshold")} <= kinds
    findings = result.findings()
    assert {f.category.value for f in findings} == {"drift"}
    assert {f.rule_id for f in findings} == {"monitor.model-quality-check"}
    f1 = next(f for f in findings if f.location.field == "f1")
    assert f1.location.path == f"risk@{START.isoformat()}/{END.isoformat()}" and "LessThanThreshold" in f1.message
    assert result.violations_document()["violations"][0].keys() == {"metric_name", "constraint_check_type", "description"}


def test_a_changed_ranking_of_attributions_is_attribution_drift(tmp_path: Path, package: Path) -> None:
    # x1 barely varies any more and x2 varies four times as much: x2 now drives the predictions
    serve_traffic(tmp_path, package, population(1500, seed=5, x1_scale=0.1, x2_scale=4.0))

    result = check_quality(str(tmp_path), "risk", START, END, load_quality_baseline(package))

    assert result.ndcg is not None and result.ndcg < 0.9
    assert max(result.attributions, key=result.attributions.__getitem__) == "x2"
    (drift,) = [v for v in result.violations if v.constraint_check_type == "feature_attribution_drift_check"]
    assert drift.to_dict() == {
        "label": "label0",
        "metric_name": "shap",
        "constraint_check_type": "feature_attribution_drift_check",
        "description": f"Feature attribution drift {result.ndcg:.4g} exceeds threshold 0.9",
    }


def test_a_facet_treated_differently_is_bias_drift(tmp_path: Path, package: Path) -> None:
    data = population(1500, seed=6)
    data["x1"] = np.where(data["group"] == 1, data["x1"] - 1.0, data["x1"])  # group 1 now predicted negative far more
    serve_traffic(tmp_path, package, data)

    result = check_quality(str(tmp_path), "risk", START, END, load_quality_baseline(package), QualityOptions(facets=(FACET,)))

    bias = [v for v in result.violations if v.constraint_check_type == "bias_drift_check"]
    assert "DPPL" in {v.metric_name for v in bias} and {v.facet for v in bias} == {"group"}
    dppl = next(v for v in bias if v.metric_name == "DPPL").to_dict()
    assert list(dppl) == ["facet", "facet_value", "metric_name", "constraint_check_type", "description"]  # Clarify's shape
    assert (dppl["facet_value"], dppl["description"][:6]) == ("1", "Value ")
    assert result.metrics["DPPL[group]"] > load_quality_baseline(package).metrics["DPPL[group]"] + 0.1  # type: ignore[operator]
    assert all(f.location.field == "group" for f in result.findings() if f.rule_id == "monitor.bias-drift-check")


def test_the_gate_thresholds_apply_to_each_window(tmp_path: Path, package: Path) -> None:
    serve_traffic(tmp_path, package, population(600, seed=7))
    thresholds = (MetricThreshold.parse("f1 >= 0.99"), MetricThreshold.parse("abs(DPPL[group]) <= 0.5"))

    result = check_quality(
        str(tmp_path), "risk", START, END, load_quality_baseline(package), QualityOptions(facets=(FACET,), thresholds=thresholds)
    )

    (gate,) = [v for v in result.violations if v.constraint_check_type == "gate_metric_check"]
    assert gate.metric_name == "f1" and "fails the gate's f1 >= 0.99" in gate.description
    assert [f.severity.value for f in result.findings() if f.rule_id == "monitor.gate-metric-check"] == ["high"]


def test_small_or_unlabelled_windows_are_measured_but_not_judged(tmp_path: Path, package: Path) -> None:
    serve_traffic(tmp_path, package, population(200, seed=8, flip=0.5), labelled=0.1)
    baseline = load_quality_baseline(package)

    small = check_quality(str(tmp_path), "risk", START, END, baseline)
    empty = check_quality(str(tmp_path), "risk", END, END + dt.timedelta(hours=1), baseline)

    assert 0 < small.labelled < 30 and not small.judged and small.violations == () and "f1" in small.metrics
    assert (empty.captured, empty.labelled, empty.judged, empty.violations) == (0, 0, False, ())


def test_a_metrics_file_is_a_baseline_without_attributions(tmp_path: Path, package: Path) -> None:
    serve_traffic(tmp_path / "traffic", package, population(500, seed=9))
    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps({"f1": 1.0, "accuracy": 1.0, "DPPL[group]": 0.0}))  # a perfect model's values

    result = check_quality(
        str(tmp_path / "traffic"), "risk", START, END, load_quality_baseline(metrics), QualityOptions(tolerance=0.01)
    )

    assert result.ndcg is None and result.attributions == {}
    assert {v.metric_name for v in result.violations} == {"f1", "accuracy"}


def test_clarify_ndcg_of_the_documented_admissions_example() -> None:
    training = {"sat": 0.70, "gpa": 0.50, "rank": 0.05}
    live = {"sat": 0.10, "gpa": 0.20, "rank": 0.70}
    # ranking by live attribution: rank, gpa, sat; gains are the training attributions
    dcg = 0.05 / np.log2(2) + 0.50 / np.log2(3) + 0.70 / np.log2(4)
    idcg = 0.70 / np.log2(2) + 0.50 / np.log2(3) + 0.05 / np.log2(4)

    assert attribution_ndcg(training, live) == pytest.approx(dcg / idcg)
    assert attribution_ndcg(training, {"sat": 3, "gpa": 2, "rank": 1}) == pytest.approx(1.0)
    assert attribution_ndcg(training, {"gpa": 0.5, "sat": 0.4, "rank": 0.1}) < 1.0


def test_bad_baselines_and_missing_facets_are_one_clear_error(tmp_path: Path, package: Path) -> None:
    with pytest.raises(MonitorError, match="not a quality baseline"):
        load_quality_baseline(tmp_path)
    broken = tmp_path / "metrics.json"
    broken.write_text("{not json")
    with pytest.raises(MonitorError, match=r"metrics\.json: not JSON"):
        load_quality_baseline(broken)
    serve_traffic(tmp_path / "traffic", package, population(100, seed=10))
    with pytest.raises(MonitorError, match="no column 'sex'"):
        check_quality(
            str(tmp_path / "traffic"),
            "risk",
            START,
            END,
            load_quality_baseline(package),
            QualityOptions(facets=(Facet("sex", ("F",)),)),
        )


def test_quality_drift_on_traffic_captured_by_a_real_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`bastion serve`'s app on uvicorn (127.0.0.1) answers single-row requests; the client sends the true labels to
    /v1/feedback; the server's capture sink writes both. Honest labels leave the model's quality as evaluated; labels
    that no longer follow the features (a changed world) are quality drift."""
    import shutil

    import httpx

    from bastion.ml.explain import explain
    from bastion.ml.metrics import classification_metrics
    from bastion.ml.persist import load_model
    from bastion.serve.capture import ParquetCapture
    from bastion.serve.config import ModelReference, Rate, ServeConfig
    from tests.serve.conftest import FEATURES as SERVED_FEATURES
    from tests.serve.conftest import model_directory, new_instance, running_server, training_table

    source = model_directory(tmp_path / "models", 0)
    model = load_model(source / "model.skops")
    test, labels = training_table(seed=11, rows=600)
    X = np.column_stack([test.column(name).to_numpy().astype(float) for name in SERVED_FEATURES])
    measured = classification_metrics(labels, model.predict(X), model.predict_proba(X)[:, 1], positive_label=1)
    (source / "reports").mkdir()
    (source / "reports" / "metrics.json").write_text(json.dumps({k: v for k, v in measured.values.items() if v is not None}))
    attributions = explain(model, X, labels, SERVED_FEATURES, positive_label=1).to_dict()
    (source / "reports" / "evaluate.json").write_text(json.dumps({"attributions": attributions}))
    baseline = load_quality_baseline(source)
    traffic, truth = training_table(seed=12, rows=240)
    records = [{name: row[name] for name in SERVED_FEATURES} for row in traffic.to_pylist()]

    capture = ParquetCapture(tmp_path / "served", flush_seconds=3600)
    with new_instance(tmp_path, monkeypatch) as instance:
        instance.publish("churn", source)
        config = ServeConfig(models=(ModelReference.parse("churn@prod"),), rate=Rate(100_000.0))
        with running_server(config, capture=capture) as server, httpx.Client(base_url=server.url) as client:
            client.headers["Authorization"] = f"Bearer {instance.tokens['client']}"

            def serve(rows: range, *, honest: bool) -> tuple[dt.datetime, dt.datetime]:
                start = dt.datetime.now(dt.UTC)
                for i in rows:
                    answered = client.post("/v1/models/churn/predict", json={"records": [records[i]]})
                    assert answered.status_code == 200, answered.text
                    label = str(truth[i]) if honest else str(1 - truth[i]) if i % 2 else str(truth[i])
                    sent = client.post("/v1/feedback", json={"request_id": answered.json()["request_id"], "label": label})
                    assert sent.status_code == 202, sent.text
                capture.flush()
                return start, dt.datetime.now(dt.UTC) + dt.timedelta(microseconds=1)

            honest_window = serve(range(0, 120), honest=True)
            drifted_window = serve(range(120, 240), honest=False)
    capture.close()
    shutil.rmtree(tmp_path / "models")  # the baseline was read: nothing below relies on the source any more

    over_60 = Facet("age", threshold=60)  # an input the server captured, as the bias facet
    options = QualityOptions(tolerance=0.1, facets=(over_60,))  # 120 rows a window: room for their sampling noise
    honest = check_quality(str(tmp_path / "served"), "churn", *honest_window, baseline, options)
    drifted = check_quality(str(tmp_path / "served"), "churn", *drifted_window, baseline, options)

    assert (honest.captured, honest.labelled) == (120, 120) and (drifted.captured, drifted.labelled) == (120, 120)
    assert not [v for v in honest.violations if v.constraint_check_type == "LessThanThreshold"]
    assert honest.ndcg is not None and honest.ndcg >= 0.9
    assert {"accuracy", "f1"} <= {v.metric_name for v in drifted.violations if v.constraint_check_type == "LessThanThreshold"}
    assert drifted.metrics["accuracy"] < baseline.metrics["accuracy"] - 0.2  # type: ignore[operator]
    for window in (honest, drifted):  # Clarify's post-training bias of the captured predictions, per window
        (report,) = window.bias
        assert (report.facet, report.n_d + report.n_a) == ("age", 120)
        assert window.metrics["DPPL[age]"] is not None and window.metrics["DI[age]"] is not None
