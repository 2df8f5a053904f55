"""Models saved with skops and loaded back through the trusted-type check, on real estimators and real files."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import skops.io as sio
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, PolynomialFeatures, StandardScaler

from bastion.core.errors import BastionError
from bastion.ml.persist import SavedModel, UnsafeModelError, load_model, save_model


class Doubler:
    """A class outside scikit-learn, numpy and scipy: loading it would run this module's code."""

    def __call__(self, X: Any) -> Any:
        return X * 2


@pytest.fixture(scope="module")
def data() -> tuple[Any, Any]:
    X, y = load_breast_cancer(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)  # standardized, so that logistic regression converges at once
    return X[:200], y[:200]


ESTIMATORS = {
    "logistic-regression": lambda: LogisticRegression(),
    "random-forest": lambda: RandomForestClassifier(n_estimators=5, random_state=0),
    "hist-gradient-boosting": lambda: HistGradientBoostingClassifier(max_iter=10, random_state=0),
    "pipeline": lambda: Pipeline([("scale", StandardScaler()), ("model", LogisticRegression())]),
    # The forest sees 465 columns made from 30: its trees are checked against its own width, not the pipeline's.
    "widening-pipeline": lambda: Pipeline([("square", PolynomialFeatures(2)), ("model", RandomForestClassifier(n_estimators=3))]),
    "gradient-boosting": lambda: GradientBoostingClassifier(n_estimators=5, random_state=0),
}


@pytest.mark.parametrize("kind", sorted(ESTIMATORS))
def test_round_trip_predicts_the_same(kind: str, data: tuple[Any, Any], tmp_path: Path) -> None:
    X, y = data
    model = ESTIMATORS[kind]().fit(X, y)
    saved = save_model(model, tmp_path / "models", name="classifier")
    assert saved == SavedModel(path=tmp_path / "models" / "classifier.skops", format="skops")
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["classifier.skops"]  # no temporary file left
    loaded = load_model(saved.path)
    assert type(loaded) is type(model)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert saved.to_dict() == {"path": str(saved.path), "format": "skops"}


def test_a_file_carrying_an_untrusted_function_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "hostile.skops"
    sio.dump(FunctionTransformer(func=os.system), path)  # what an attacker would hand in: it runs on transform()
    with pytest.raises(UnsafeModelError, match=r"refusing to load type posix\.system: outside scikit-learn, numpy and scipy"):
        load_model(path)


def test_a_class_outside_the_allow_list_loads_only_when_trusted_explicitly(tmp_path: Path) -> None:
    path = tmp_path / "custom.skops"
    sio.dump(FunctionTransformer(func=Doubler()), path)
    name = f"{__name__}.Doubler"
    with pytest.raises(UnsafeModelError, match=rf"refusing to load type {name}"):
        load_model(path)
    loaded = load_model(path, extra_trusted=[name])
    np.testing.assert_array_equal(loaded.fit_transform(np.ones((2, 2))), np.full((2, 2), 2.0))


def test_functions_of_numpy_outside_skops_trusted_set_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "testing.skops"
    sio.dump(FunctionTransformer(func=np.testing.assert_equal), path)
    with pytest.raises(UnsafeModelError, match=r"numpy\.testing\._private\.utils\.assert_equal"):
        load_model(path)


def test_an_excluded_class_named_through_its_implementation_module_is_refused(tmp_path: Path) -> None:
    import io
    import json

    honest = sio.dumps(FunctionTransformer(func=np.lib.npyio.DataSource))  # DataSource opens files and URLs
    with zipfile.ZipFile(io.BytesIO(honest)) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    schema = json.loads(members["schema.json"])
    assert schema["content"]["content"]["func"]["__module__"] == "numpy.lib.npyio"
    schema["content"]["content"]["func"]["__module__"] = "numpy.lib._npyio_impl"  # the same class, by the module defining it
    members["schema.json"] = json.dumps(schema).encode()
    path = tmp_path / "aliased.skops"
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    with pytest.raises(UnsafeModelError, match=r"refusing to load type numpy\.lib\._npyio_impl\.DataSource"):
        load_model(path)


def test_saving_a_model_that_only_an_unsafe_load_could_read_is_refused(tmp_path: Path) -> None:
    model = Pipeline([("double", FunctionTransformer(func=lambda X: X * 2)), ("model", LogisticRegression())])
    with pytest.raises(
        UnsafeModelError, match=r"sklearn\.pipeline\.Pipeline holds type .*<lambda>.*which a safe load would have to trust"
    ):
        save_model(model, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_truncated_file_is_a_clear_error(data: tuple[Any, Any], tmp_path: Path) -> None:
    X, y = data
    saved = save_model(LogisticRegression().fit(X, y), tmp_path)
    content = saved.path.read_bytes()
    saved.path.write_bytes(content[: len(content) // 2])
    with pytest.raises(BastionError, match=r"model\.skops: not a readable skops model \(not a zip archive, or a truncated one\)"):
        load_model(saved.path)


def test_a_zip_without_a_skops_schema_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "other.skops"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "not a model")
    with pytest.raises(BastionError, match=r"other\.skops: not a readable skops model \(KeyError"):
        load_model(path)


def test_a_damaged_array_inside_a_valid_archive_is_a_clear_error(data: tuple[Any, Any], tmp_path: Path) -> None:
    X, y = data
    saved = save_model(LogisticRegression().fit(X, y), tmp_path)
    damaged = tmp_path / "damaged.skops"
    with zipfile.ZipFile(saved.path) as source, zipfile.ZipFile(damaged, "w") as target:
        for member in source.infolist():
            content = source.read(member)
            target.writestr(member, content[:10] if member.filename.endswith(".npy") else content)
    with pytest.raises(BastionError, match=r"damaged\.skops: not a readable skops model") as error:
        load_model(damaged)
    assert not isinstance(error.value, UnsafeModelError)


def test_a_missing_file_and_a_bad_name_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(BastionError, match=r"absent\.skops: cannot read the model file \(No such file or directory\)"):
        load_model(tmp_path / "absent.skops")
    with pytest.raises(BastionError, match=r"must be a plain file name"):
        save_model(LogisticRegression(), tmp_path, name="../escape")


def _forest_tree(model: Any) -> dict[str, Any]:
    tree = model.estimators_[1].tree_  # its arrays are views of the tree's own nodes
    return {name: getattr(tree, name) for name in ("children_left", "children_right", "feature")}


def _boosting_nodes(model: Any) -> Any:
    return model._predictors[2][0].nodes


# (estimator, where its split arrays are, the array, the value written into the root's entry, the message)
TAMPERING = {
    "forest-left-child-beyond-the-tree": (
        "random-forest",
        _forest_tree,
        "children_left",
        10**6,
        r"sends node 0 to left child 1000000",
    ),
    "forest-right-child-loops-back": (
        "random-forest",
        _forest_tree,
        "children_right",
        0,
        r"sends node 0 to right child 0, outside nodes 1\.\.",
    ),
    "forest-feature-beyond-the-input": (
        "random-forest",
        _forest_tree,
        "feature",
        30,
        r"tests feature 30 at node 0, but the input has 30",
    ),
    "boosting-left-child-beyond-the-tree": (
        "hist-gradient-boosting",
        _boosting_nodes,
        "left",
        4000,
        r"sends node 0 to left child 4000, outside nodes 1\.\.14",
    ),
    "boosting-feature-beyond-the-input": (
        "hist-gradient-boosting",
        _boosting_nodes,
        "feature_idx",
        31,
        r"tests feature 31 at node 0, but the input has 30 features",
    ),
}


@pytest.mark.parametrize("case", sorted(TAMPERING))
def test_trees_pointing_outside_themselves_are_refused(case: str, data: tuple[Any, Any], tmp_path: Path) -> None:
    kind, arrays, field, value, message = TAMPERING[case]
    X, y = data
    model = ESTIMATORS[kind]().fit(X, y)
    saved = save_model(model, tmp_path)
    load_model(saved.path)  # intact, it loads
    arrays(model)[field][0] = value  # what a crafted file would hold; predict() would read out of bounds
    sio.dump(model, saved.path)
    with pytest.raises(UnsafeModelError, match=rf"model\.skops: a decision tree in the model {message}.*crafted, do not use it"):
        load_model(saved.path)
