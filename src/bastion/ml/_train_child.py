"""The child that runs a user's training function: ``python -m bastion.ml._train_child JOB.json``.

``bastion.ml.train`` starts it in the sandbox, in an empty working directory holding ``JOB.json``. It reads
the Parquet table, builds the estimator with the user's function, cross-validates it, fits it on all rows
and leaves ``model.skops`` and ``result.json`` (plain JSON: the parent never unpickles anything from here).
On failure its last line of output is the one-line error the parent reports, after any traceback of the
user's code (which stays in the log).
"""

from __future__ import annotations

import importlib
import json
import resource
import sys
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bastion.core.atomic import atomic_write
from bastion.core.errors import BastionError

MODEL_NAME = "model"
RESULT = "result.json"
EARLY_STOPPING_ROUNDS = 10
"""``n_iter_no_change`` given to estimators whose early stopping is off until it is set (gradient boosting)."""


def main(argv: Sequence[str]) -> int:
    job = json.loads(Path(argv[0]).read_text())
    try:
        result = _train(job)
    except BastionError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except MemoryError:
        limit = resource.getrlimit(resource.RLIMIT_AS)[0]
        shown = "no limit" if limit == resource.RLIM_INFINITY else f"the limit of {limit / 2**20:.0f} MiB"
        print(f"training ran out of memory ({shown}); raise the memory limit or train on fewer rows", file=sys.stderr)
        return 1
    atomic_write(RESULT, json.dumps(result, indent=2).encode())
    return 0


def _train(job: Mapping[str, Any]) -> dict[str, Any]:
    from bastion.ml._labels import label_text, label_texts, sorted_labels
    from bastion.ml.persist import save_model

    features, target = list(job["features"]), str(job["target"])
    X, y = _read_table(Path(job["table"]), features, target)
    y_text = label_texts(y, f"target column {target!r}")
    classes = sorted_labels(y_text)
    positive = label_text(job["positive_label"]) if job["positive_label"] is not None else classes[-1]
    _check_classes(y_text, classes, positive, target, int(job["folds"]))
    estimator = _build(job["estimator"], job["params"], [Path(p) for p in job["code_paths"]])
    settings = _configure(estimator, int(job["seed"]), bool(job["early_stopping"]))
    cv = _user_code(job["estimator"], "failed in cross-validation with", _cross_validate, estimator, X, y, positive, job)
    _user_code(job["estimator"], "failed to fit with", estimator.fit, X, y)
    save_model(estimator, Path.cwd(), name=MODEL_NAME, extra_trusted=job["extra_trusted"])
    kind = type(estimator)
    return {
        "features": features,
        "target": target,
        "classes": list(classes),
        "positive_label": positive,
        "estimator_class": f"{kind.__module__}.{kind.__qualname__}",
        "cv": cv,
        "settings": settings,
        "rows": len(y),
    }


def _read_table(path: Path, features: list[str], target: str) -> tuple[Any, Any]:
    """The features as a float matrix (missing values as NaN) and the target as it is stored."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
    except (OSError, pa.ArrowException) as exc:
        raise BastionError(f"{path}: not a readable Parquet file ({exc}); write the training table as Parquet") from None
    for name in [*features, target]:
        if name not in schema.names:
            raise BastionError(f"{path}: no column {name!r}; the table has {', '.join(schema.names[:20])}")
    for name in features:
        kind = schema.field(name).type
        if not (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)):
            raise BastionError(
                f"{path}: feature column {name!r} holds {kind}, not numbers; encode it or leave it out of the features"
            )
    table = pq.read_table(path, columns=[*features, target])
    labels = table.column(target)
    if labels.null_count:
        raise BastionError(f"{path}: target column {target!r} has {labels.null_count} empty values; drop or label those rows")
    columns = [pc.cast(table.column(name), pa.float64()).to_numpy(zero_copy_only=False) for name in features]
    X = np.column_stack(columns) if columns else np.empty((table.num_rows, 0))
    return X, labels.to_numpy(zero_copy_only=False)


def _check_classes(y_text: Any, classes: tuple[str, ...], positive: str, target: str, folds: int) -> None:
    import numpy as np

    if len(classes) < 2:
        raise BastionError(f"target column {target!r} has only one class ({classes[0] if classes else 'none'}); nothing to learn")
    if positive not in classes:
        raise BastionError(f"positive label {positive!r} is not a class of {target!r} ({', '.join(classes[:10])})")
    counts = {label: int(np.count_nonzero(y_text == label)) for label in classes}
    rarest = min(counts, key=counts.__getitem__)
    if counts[rarest] < folds:
        raise BastionError(
            f"class {rarest!r} of {target!r} has {counts[rarest]} rows, fewer than the {folds} folds of cross-validation; "
            "lower folds or add rows"
        )


def _build(spec: str, params: Mapping[str, Any], code_paths: list[Path]) -> Any:
    """The user's estimator: ``module:function`` called with ``params``."""
    module_name, _, function_name = spec.partition(":")
    sys.path[:0] = [str(p) for p in code_paths]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module_name.startswith(exc.name):
            raise BastionError(f"training function {spec}: no module {module_name!r} in {_listing(code_paths)}") from None
        traceback.print_exc()
        raise BastionError(f"training function {spec}: importing {module_name!r} failed: {_exception(exc)}") from None
    except Exception as exc:
        traceback.print_exc()
        raise BastionError(f"training function {spec}: importing {module_name!r} failed: {_exception(exc)}") from None
    function = getattr(module, function_name, None)
    if not callable(function):
        raise BastionError(f"training function {spec}: module {module_name!r} has no function {function_name!r}")
    estimator = _user_code(spec, "raised", function, **params)
    if not callable(getattr(estimator, "fit", None)) or not callable(getattr(estimator, "predict", None)):
        raise BastionError(
            f"training function {spec} returned {type(estimator).__name__}, not an estimator with fit() and predict(); "
            "return an unfitted scikit-learn-compatible estimator"
        )
    return estimator


def _configure(estimator: Any, seed: int, early_stopping: bool) -> dict[str, Any]:
    """Fix the seeds left unset and turn on early stopping where the estimator (or a step of it) has it."""
    get_params = getattr(estimator, "get_params", None)
    if not callable(get_params):
        return {}
    changes: dict[str, Any] = {}
    for name, value in get_params(deep=True).items():
        parameter = name.rpartition("__")[2]
        if parameter == "random_state" and value is None:
            changes[name] = seed
        elif early_stopping and parameter == "early_stopping" and value is not True:
            changes[name] = True
        elif early_stopping and parameter == "n_iter_no_change" and value is None:
            changes[name] = EARLY_STOPPING_ROUNDS
    if changes:
        estimator.set_params(**changes)
    return changes


def _cross_validate(estimator: Any, X: Any, y: Any, positive: str, job: Mapping[str, Any]) -> dict[str, list[float]]:
    """Accuracy, F1 and (with scores) ROC AUC of each fold of stratified K-fold cross-validation."""
    import numpy as np
    from sklearn.base import clone
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    from bastion.ml._labels import label_texts

    y_text = label_texts(y, "target")
    binary = len(np.unique(y_text)) == 2
    scores: dict[str, list[float]] = {"accuracy": [], "f1": [], "roc_auc": []}
    folds = StratifiedKFold(int(job["folds"]), shuffle=True, random_state=int(job["seed"]))
    for train_rows, test_rows in folds.split(X, y_text):
        model = clone(estimator).fit(X[train_rows], y[train_rows])
        truth, predicted = y_text[test_rows], label_texts(model.predict(X[test_rows]), "predictions")
        scores["accuracy"].append(float(accuracy_score(truth, predicted)))
        if binary:
            scores["f1"].append(float(f1_score(truth == positive, predicted == positive, zero_division=0)))
        else:
            scores["f1"].append(float(f1_score(truth, predicted, average="macro", zero_division=0)))
        auc = _roc_auc(model, X[test_rows], truth, positive, binary, roc_auc_score)
        if auc is not None:
            scores["roc_auc"].append(auc)
    return {name: values for name, values in scores.items() if values}


def _roc_auc(model: Any, X: Any, truth: Any, positive: str, binary: bool, roc_auc_score: Any) -> float | None:
    import numpy as np

    from bastion.ml._labels import label_texts

    order = label_texts(getattr(model, "classes_", []), "classes")
    if hasattr(model, "predict_proba"):
        scores = np.asarray(model.predict_proba(X))
    elif binary and hasattr(model, "decision_function"):
        scores = np.asarray(model.decision_function(X))
        # A binary decision function scores the second class of classes_.
        return float(roc_auc_score(truth == positive, scores if order[1] == positive else -scores))
    else:
        return None
    if binary:
        return float(roc_auc_score(truth == positive, scores[:, list(order).index(positive)]))
    index = {label: i for i, label in enumerate(order)}
    return float(roc_auc_score([index[t] for t in truth], scores, multi_class="ovr", average="macro", labels=range(len(order))))


def _user_code(spec: str, failed: str, call: Any, *args: Any, **kwargs: Any) -> Any:
    """``call(*args, **kwargs)``: user code, whose exception becomes one line (its traceback goes to the log)."""
    try:
        return call(*args, **kwargs)
    except (BastionError, MemoryError):
        raise
    except Exception as exc:
        traceback.print_exc()
        raise BastionError(f"training function {spec} {failed} {_exception(exc)}") from None


def _exception(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__


def _listing(paths: list[Path]) -> str:
    return "the code paths " + ", ".join(str(p) for p in paths) if paths else "the Python path (no code_paths given)"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
