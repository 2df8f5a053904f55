"""Training in the sandbox on real Parquet tables with real user code: results, settings and every kind of bad input."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.datasets import load_breast_cancer, load_iris

from bastion.core.errors import BastionError
from bastion.ml.persist import load_model
from bastion.ml.sandbox import Isolation, run_sandboxed
from bastion.ml.train import TrainConfig, train

USER_CODE = """
import socket

from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler


def scaled_logistic(C=1.0):
    return Pipeline([("scale", StandardScaler()), ("model", LogisticRegression(C=C))])


def sgd():
    return Pipeline([("scale", StandardScaler()), ("model", SGDClassifier(loss="log_loss", max_iter=200))])


def raises():
    raise ValueError("C must be positive, got -1")


def not_an_estimator():
    return {"C": 1.0}


def with_lambda():
    return Pipeline([("double", FunctionTransformer(func=lambda X: X * 2)), ("model", LogisticRegression())])


def phones_home(port):
    socket.create_connection(("127.0.0.1", port), timeout=10)
    return LogisticRegression()
"""


@pytest.fixture(scope="module")
def code(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("code")
    (directory / "model.py").write_text(USER_CODE)
    (directory / "broken.py").write_text("RATE = 1 / 0\n")
    return directory


@pytest.fixture(scope="module")
def cancer(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """scikit-learn's breast-cancer table as Parquet: 30 numeric features and a 0/1 diagnosis."""
    data = load_breast_cancer()
    features = [f"f{i}" for i in range(data.data.shape[1])]
    columns: dict[str, Any] = {name: data.data[:, i] for i, name in enumerate(features)}
    columns["diagnosis"] = data.target
    columns["patient"] = [f"patient {i}" for i in range(len(data.target))]
    path = tmp_path_factory.mktemp("data") / "cancer.parquet"
    pq.write_table(pa.table(columns), path)
    return path, features


def _run(code: Path, cancer: tuple[Path, list[str]], out: Path, estimator: str, **params: Any) -> Any:
    table, features = cancer
    config = TrainConfig(estimator, params, (code,), folds=3)
    return train(config, table, "diagnosis", features, out)


def test_a_real_training_run(code: Path, cancer: tuple[Path, list[str]], tmp_path: Path) -> None:
    out = tmp_path / "model"
    trained = _run(code, cancer, out, "model:scaled_logistic", C=0.5)
    assert sorted(p.name for p in out.iterdir()) == ["job.json", "model.skops", "result.json", "train.log"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # nothing temporary left beside it
    assert trained.model.path == out / "model.skops" and trained.model.format == "skops"
    assert trained.features == tuple(cancer[1]) and trained.target == "diagnosis"
    assert trained.classes == ("0", "1") and trained.positive_label == "1"
    assert trained.estimator_class == "sklearn.pipeline.Pipeline"
    assert set(trained.cv) == {"accuracy", "f1", "roc_auc"}
    assert all(len(scores) == 3 for scores in trained.cv.values())
    assert min(trained.cv["accuracy"]) > 0.9 and min(trained.cv["roc_auc"]) > 0.95
    assert trained.settings == {"model__random_state": 0}  # the unset seed was fixed; SGD-style early stopping is absent
    assert trained.rows == 569
    model = load_model(trained.model.path)
    assert model.get_params()["model__C"] == 0.5
    X = pq.read_table(cancer[0], columns=cancer[1]).to_pandas().to_numpy()
    assert (model.predict(X) == pq.read_table(cancer[0]).column("diagnosis").to_numpy()).mean() > 0.95
    report = json.loads(json.dumps(trained.to_dict(), allow_nan=False))
    assert report["cv"]["accuracy"] == list(trained.cv["accuracy"])
    assert report["isolation"]["network_isolated"] == trained.isolation.network_isolated
    # The same seed gives the same folds and the same model: a rerun reproduces every score.
    again = _run(code, cancer, tmp_path / "again", "model:scaled_logistic", C=0.5)
    assert again.cv == trained.cv


def test_early_stopping_and_seed_on_a_multiclass_text_target(code: Path, tmp_path: Path) -> None:
    iris = load_iris()
    columns: dict[str, Any] = {name: iris.data[:, i] for i, name in enumerate(iris.feature_names)}
    columns["species"] = [str(iris.target_names[t]) for t in iris.target]
    table = tmp_path / "iris.parquet"
    pq.write_table(pa.table(columns), table)
    trained = train(
        TrainConfig("model:sgd", code_paths=(code,), folds=4, seed=7), table, "species", iris.feature_names, tmp_path / "m"
    )
    assert trained.classes == ("setosa", "versicolor", "virginica")
    assert trained.settings == {"model__early_stopping": True, "model__random_state": 7}
    assert all(len(scores) == 4 for scores in trained.cv.values()) and set(trained.cv) == {"accuracy", "f1", "roc_auc"}
    model = load_model(trained.model.path)
    assert model.named_steps["model"].early_stopping is True and model.named_steps["model"].random_state == 7


@pytest.mark.parametrize(
    ("estimator", "message"),
    [
        ("nosuch:build", r"^training function nosuch:build: no module 'nosuch' in the code paths .*code"),
        ("model:missing", r"^training function model:missing: module 'model' has no function 'missing'"),
        ("broken:build", r"^training function broken:build: importing 'broken' failed: ZeroDivisionError: division by zero"),
        ("model:raises", r"^training function model:raises raised ValueError: C must be positive, got -1 \(full output: "),
        ("model:not_an_estimator", r"^training function model:not_an_estimator returned dict, not an estimator with fit\(\)"),
        ("model:with_lambda", r"^sklearn\.pipeline\.Pipeline holds type .*<lambda>, which a safe load would have to trust"),
    ],
)
def test_bad_training_code_is_one_line_and_leaves_nothing(
    estimator: str, message: str, code: Path, cancer: tuple[Path, list[str]], tmp_path: Path
) -> None:
    out = tmp_path / "model"
    with pytest.raises(BastionError, match=message) as error:
        _run(code, cancer, out, estimator)
    assert "\n" not in str(error.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.log"]  # the child's output, for debugging; no out_dir
    if estimator == "model:raises":
        assert "Traceback (most recent call last)" in (tmp_path / "model.log").read_text()


def test_a_failed_run_keeps_the_previous_model_and_a_good_one_replaces_it(
    code: Path, cancer: tuple[Path, list[str]], tmp_path: Path
) -> None:
    out = tmp_path / "model"
    out.mkdir()
    (out / "model.skops").write_text("the previous model")
    with pytest.raises(BastionError):
        _run(code, cancer, out, "model:raises")
    assert (out / "model.skops").read_text() == "the previous model"
    _run(code, cancer, out, "model:scaled_logistic")
    assert load_model(out / "model.skops") is not None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # the failure's log went with the failure


def test_a_model_file_swapped_for_a_link_after_training_is_not_trusted(cancer: tuple[Path, list[str]], tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.skops"
    swapping = tmp_path / "swapping"
    swapping.mkdir()
    (swapping / "swap.py").write_text(
        "import atexit, os, shutil\n"
        "from sklearn.linear_model import LogisticRegression\n"
        "def _swap():\n"
        f"    shutil.copy('model.skops', {str(elsewhere)!r})\n"
        "    os.remove('model.skops')\n"
        f"    os.symlink({str(elsewhere)!r}, 'model.skops')\n"
        "def build():\n"
        "    atexit.register(_swap)\n"
        "    return LogisticRegression(max_iter=50)\n"
    )
    with pytest.raises(BastionError, match=r"left model\.skops as something other than a file"):
        _run(swapping, cancer, tmp_path / "model", "swap:build")
    assert not (tmp_path / "model").exists()


def test_bad_tables_and_columns(code: Path, cancer: tuple[Path, list[str]], tmp_path: Path) -> None:
    table, features = cancer
    config = TrainConfig("model:scaled_logistic", code_paths=(code,), folds=3)
    with pytest.raises(BastionError, match=r"cancer\.parquet: no column 'f99'; the table has f0, f1"):
        train(config, table, "diagnosis", [*features, "f99"], tmp_path / "a")
    with pytest.raises(BastionError, match=r"feature column 'patient' holds string, not numbers"):
        train(config, table, "diagnosis", [*features, "patient"], tmp_path / "b")
    text = tmp_path / "notes.parquet"
    text.write_text("diagnosis,f0\n1,2\n")
    with pytest.raises(BastionError, match=r"notes\.parquet: not a readable Parquet file"):
        train(config, text, "diagnosis", ["f0"], tmp_path / "c")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.log", "b.log", "c.log", "notes.parquet"]


def test_mistakes_caught_before_any_child_starts(code: Path, cancer: tuple[Path, list[str]], tmp_path: Path) -> None:
    table, features = cancer
    cases: list[tuple[TrainConfig, Path, str, list[str], str]] = [
        (TrainConfig("model.build"), table, "diagnosis", features, r"'model\.build' is not module:function"),
        (TrainConfig("model:sgd", folds=1), table, "diagnosis", features, r"folds must be at least 2"),
        (
            TrainConfig("model:sgd"),
            tmp_path / "absent.parquet",
            "diagnosis",
            features,
            r"absent\.parquet: no such training table",
        ),
        (TrainConfig("model:sgd"), table, "diagnosis", [*features, "diagnosis"], r"target column 'diagnosis' is also listed"),
        (TrainConfig("model:sgd"), table, "diagnosis", [], r"no feature columns given"),
        (TrainConfig("model:sgd", code_paths=(tmp_path / "nocode",)), table, "diagnosis", features, r"nocode: code path is not"),
        (TrainConfig("model:sgd", {"C": np.float32}), table, "diagnosis", features, r"params of model:sgd must be JSON values"),
    ]
    for config, path, target, columns, message in cases:
        with pytest.raises(BastionError, match=message):
            train(config, path, target, columns, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_too_few_rows_of_a_class_for_the_folds(code: Path, tmp_path: Path) -> None:
    table = tmp_path / "tiny.parquet"
    pq.write_table(pa.table({"x": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6], "y": [0, 0, 0, 0, 1, 1]}), table)
    with pytest.raises(BastionError, match=r"class '1' of 'y' has 2 rows, fewer than the 3 folds"):
        train(TrainConfig("model:scaled_logistic", code_paths=(code,), folds=3), table, "y", ["x"], tmp_path / "out")


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    yield server
    server.close()


def test_a_training_function_that_opens_a_socket_fails_under_isolation(
    code: Path, cancer: tuple[Path, list[str]], listener: socket.socket, tmp_path: Path
) -> None:
    probe = run_sandboxed(["true"], Isolation(), cwd=tmp_path)
    if not probe.network_isolated:
        pytest.skip(f"no network namespace on this machine: {probe.reason}")
    table, features = cancer
    config = TrainConfig("model:phones_home", {"port": listener.getsockname()[1]}, (code,), folds=3)
    with pytest.raises(BastionError, match=r"model:phones_home raised OSError: \[Errno 101\] Network is unreachable"):
        train(config, table, "diagnosis", features, tmp_path / "out")
    trained = train(config, table, "diagnosis", features, tmp_path / "allowed", isolation=Isolation(network=True))
    assert trained.isolation.network_isolated is False
    assert trained.isolation.reason == "network allowed by the configuration"
