"""Training a user's estimator in the sandbox: stratified K-fold cross-validation, a final fit, a model in skops format.

The user's function runs only in the child (``bastion.ml._train_child``), confined by ``bastion.ml.sandbox``.
What comes back is plain JSON and a skops file, which is loaded here with ``load_model``'s type check: a
subverted child can make training fail, but it cannot make this process run its code.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bastion.core.errors import BastionError
from bastion.ml._train_child import MODEL_NAME, RESULT
from bastion.ml.persist import FORMAT, SavedModel, load_model
from bastion.ml.sandbox import Isolation, IsolationReport, SandboxError, run_sandboxed

ESTIMATOR_PATTERN = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*:[A-Za-z_]\w*")
"""``module:function``: where the function that builds the estimator is."""
_JOB = "job.json"
_LOG = "train.log"
_MAX_RESULT = 16 * 2**20


@dataclass(frozen=True)
class TrainConfig:
    """What to train and how."""

    estimator: str
    """``module:function`` returning an unfitted scikit-learn-compatible estimator."""
    params: Mapping[str, Any] = field(default_factory=dict)
    """Keyword arguments for that function (JSON values)."""
    code_paths: tuple[Path, ...] = ()
    """Directories put on the child's ``sys.path`` (the project's code)."""
    folds: int = 5
    """Folds of stratified cross-validation."""
    seed: int = 0
    """Seed of the fold split, and ``random_state`` of every estimator (or step) that leaves it unset."""
    early_stopping: bool = True
    """Turn on early stopping where the estimator has it (``early_stopping``, ``n_iter_no_change``)."""
    positive_label: str | int | None = None
    """The class whose F1 and ROC AUC are scored for a binary target; default: the last of the sorted classes."""
    trusted_types: tuple[str, ...] = ()
    """Types beyond scikit-learn, numpy and scipy that the saved model may hold (``load_model``'s ``extra_trusted``)."""


@dataclass(frozen=True)
class TrainedModel:
    """A model trained by ``train``."""

    model: SavedModel
    """The fitted model in a safe format, written by the child."""
    features: tuple[str, ...]
    """The feature columns, in the order the model takes them."""
    target: str
    """The target column."""
    classes: tuple[str, ...]
    """The target's classes as text, sorted (numbers numerically)."""
    estimator_class: str
    """The fitted estimator's class, e.g. ``sklearn.ensemble.HistGradientBoostingClassifier``."""
    cv: Mapping[str, tuple[float, ...]]
    """Per-fold scores: ``accuracy``, ``f1`` and, for estimators that give scores, ``roc_auc``."""
    isolation: IsolationReport
    """How the training code was confined."""
    positive_label: str = ""
    """The class F1 and ROC AUC were scored for (binary targets)."""
    settings: Mapping[str, Any] = field(default_factory=dict)
    """Parameters Bastion set on the estimator: seeds left unset, early stopping (``step__name`` for pipelines)."""
    rows: int = 0
    """Rows the final model was fitted on."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.to_dict(),
            "features": list(self.features),
            "target": self.target,
            "classes": list(self.classes),
            "positive_label": self.positive_label,
            "estimator_class": self.estimator_class,
            "cv": {name: list(scores) for name, scores in self.cv.items()},
            "settings": dict(self.settings),
            "rows": self.rows,
            "isolation": self.isolation.to_dict(),
        }


def train(
    config: TrainConfig,
    train_table: Path,
    target: str,
    features: Sequence[str],
    out_dir: Path,
    *,
    isolation: Isolation = Isolation(),  # noqa: B008 - frozen, so one shared default is safe
    failure_log: Path | None = None,
) -> TrainedModel:
    """Train ``config.estimator`` on the Parquet file ``train_table`` in the sandbox; the model lands in ``out_dir``.

    ``out_dir`` appears whole (``model.skops``, ``result.json``, ``job.json``, ``train.log``) or not at all: the
    child works in a temporary directory beside it, renamed into place once the model has passed
    ``load_model``. A failure is one ``BastionError`` line; the child's full output is then kept in
    ``failure_log`` (default ``OUT_DIR.log`` beside ``out_dir``; a caller whose ``out_dir`` is temporary names a
    place that outlasts it).
    """
    features = tuple(features)
    job = _job(config, train_table, target, features)
    out_dir = out_dir.absolute()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    failure_log = (failure_log or out_dir.with_name(f"{out_dir.name}.log")).absolute()
    work = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        work.chmod(0o755)  # mkdtemp's 0700 would become out_dir's
        (work / _JOB).write_text(json.dumps(job, indent=2))
        argv = [sys.executable, "-B", "-m", "bastion.ml._train_child", _JOB]
        try:
            report = run_sandboxed(argv, isolation, cwd=work, log=work / _LOG)
        except SandboxError as exc:
            with contextlib.suppress(OSError):
                failure_log.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(work / _LOG, failure_log)
            raise SandboxError(f"{exc} (full output: {failure_log})") from None
        result = _result(work, config)
        _replace(out_dir, work)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    with contextlib.suppress(FileNotFoundError):
        failure_log.unlink()  # an earlier failure's log no longer describes out_dir
    return TrainedModel(
        model=SavedModel(path=out_dir / f"{MODEL_NAME}.{FORMAT}", format=FORMAT),
        isolation=report,
        **result,
    )


def _job(config: TrainConfig, train_table: Path, target: str, features: tuple[str, ...]) -> dict[str, Any]:
    """What the child is asked to do, after the checks that need no data."""
    if not ESTIMATOR_PATTERN.fullmatch(config.estimator):
        raise BastionError(f"{config.estimator!r} is not module:function; name the function that builds the estimator")
    if config.folds < 2:
        raise BastionError(f"folds must be at least 2 for cross-validation, got {config.folds}")
    if not train_table.is_file():
        raise BastionError(f"{train_table}: no such training table")
    if not features:
        raise BastionError("no feature columns given; name the columns the model learns from")
    if target in features:
        raise BastionError(f"the target column {target!r} is also listed as a feature; remove it from the features")
    for directory in config.code_paths:
        if not directory.is_dir():
            raise BastionError(f"{directory}: code path is not a directory")
    job = {
        "table": str(train_table.absolute()),
        "target": target,
        "features": list(features),
        "estimator": config.estimator,
        "params": dict(config.params),
        "code_paths": [str(p.absolute()) for p in config.code_paths],
        "folds": config.folds,
        "seed": config.seed,
        "early_stopping": config.early_stopping,
        "positive_label": config.positive_label,
        "extra_trusted": list(config.trusted_types),
    }
    try:
        json.dumps(job, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise BastionError(f"params of {config.estimator} must be JSON values (text, numbers, lists, mappings): {exc}") from None
    return job


def _result(work: Path, config: TrainConfig) -> dict[str, Any]:
    """The child's ``result.json``, checked, and its model loaded back through the type check."""
    path, model_path = work / RESULT, work / f"{MODEL_NAME}.{FORMAT}"
    for written in (path, model_path):
        # A symbolic link could point anywhere, and reading a FIFO would block here for good.
        if written.is_symlink() or (written.exists() and not written.is_file()):
            raise BastionError(
                f"training with {config.estimator} left {written.name} as something other than a file; it was not trusted"
            )
    try:
        if path.stat().st_size > _MAX_RESULT:
            raise BastionError(f"training with {config.estimator} wrote an oversized {RESULT}; it was not trusted")
        raw = json.loads(path.read_bytes())
        cv = {str(name): tuple(_score(s) for s in scores) for name, scores in raw["cv"].items()}
        result: dict[str, Any] = {
            "features": tuple(str(f) for f in raw["features"]),
            "target": str(raw["target"]),
            "classes": tuple(str(c) for c in raw["classes"]),
            "positive_label": str(raw["positive_label"]),
            "estimator_class": str(raw["estimator_class"]),
            "cv": cv,
            "settings": {str(k): v for k, v in raw["settings"].items()},
            "rows": int(raw["rows"]),
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise BastionError(f"training with {config.estimator} left no readable {RESULT} ({type(exc).__name__}: {exc})") from None
    model = load_model(model_path, extra_trusted=config.trusted_types)
    loaded = f"{type(model).__module__}.{type(model).__qualname__}"
    if loaded != result["estimator_class"]:
        raise BastionError(f"training with {config.estimator} saved a {loaded}, but reported a {result['estimator_class']}")
    return result


def _score(value: object) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise ValueError(f"score {value!r} is not a finite number")
    return float(value)


def _replace(out_dir: Path, work: Path) -> None:
    """Put ``work`` where ``out_dir`` is, replacing an earlier result only once the new one is complete."""
    if not out_dir.exists():
        os.replace(work, out_dir)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old.", dir=out_dir.parent))
    os.replace(out_dir, old / out_dir.name)
    os.replace(work, out_dir)
    shutil.rmtree(old, ignore_errors=True)
