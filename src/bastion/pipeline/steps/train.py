"""train: the project's estimator fitted on the training split by the training harness, in a sandboxed child
process (scrubbed environment, resource limits, no network where the platform allows it)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bastion.core import BastionError
from bastion.pipeline.interface import Step, StepContext, StepError, StepResult
from bastion.pipeline.spec import PipelineSpec
from bastion.pipeline.steps._project import code_directories, input_files, read_features

if TYPE_CHECKING:
    from bastion.ml.sandbox import Isolation
    from bastion.pipeline.spec import IsolationSpec, TrainStepSpec


class TrainStep(Step):
    """Outputs the fitted ``model`` (skops); details ``cv`` (per-fold scores) and ``isolation`` (what was applied)."""

    name = "train"
    needs = ("split",)

    def params(self, spec: PipelineSpec) -> Mapping[str, Any]:
        train = _settings(spec)
        isolation = train.isolation
        return {
            "estimator": train.estimator,
            "params": train.params,
            "folds": train.folds,
            "seed": train.seed,
            "early_stopping": train.early_stopping,
            "target": spec.inputs.target,
            "isolation": {
                "network": isolation.network,
                "require": isolation.require,
                "memory_mb": isolation.memory_mb,
                "cpu_seconds": isolation.cpu_seconds,
                "timeout_seconds": isolation.timeout_seconds,
            },
        }

    def inputs(self, context: StepContext) -> Mapping[str, Path]:
        return input_files(context.spec, context.project, ("code",))

    def run(self, context: StepContext) -> StepResult:
        from bastion.ml.train import TrainConfig, train
        from bastion.pipeline._records import runs_directory

        settings = _settings(context.spec)
        config = TrainConfig(
            estimator=settings.estimator,
            params=dict(settings.params),
            code_paths=code_directories(context.spec, context.project),
            folds=settings.folds,
            seed=settings.seed,
            early_stopping=settings.early_stopping,
        )
        features = read_features(context.output("split", "features"))
        context.progress(0.0, f"fitting {settings.estimator}")
        try:
            trained = train(
                config,
                context.output("split", "train"),
                context.spec.inputs.target,
                features,
                context.workdir,
                isolation=_isolation(settings.isolation),
                # The workdir goes with the run's work area: the child's output on failure stays with the run record.
                failure_log=runs_directory(context.home) / context.run_id / "train.log",
            )
        except BastionError as exc:  # the user's function raised, the model cannot be kept safely, the sandbox refused
            raise StepError(f"training {settings.estimator} failed: {exc}") from None
        report = trained.isolation
        if report.network_isolated:
            isolation = "without network"
        elif settings.isolation.network:
            isolation = "with network access (steps.train.isolation.network: true)"
        else:
            isolation = f"WITHOUT network isolation, which this platform refused ({report.reason})"
        metric = "roc_auc" if trained.cv.get("roc_auc") else "accuracy"
        scores = trained.cv.get(metric, ())
        cv = f"; {len(scores)}-fold CV {metric} {_mean(scores):.3f}" if scores else ""
        return StepResult(
            status="passed",
            outputs={"model": trained.model.path},
            metrics={f"cv_{name}": _mean(values) for name, values in trained.cv.items() if values},
            details={
                "cv": {name: list(values) for name, values in trained.cv.items()},
                "isolation": report.to_dict(),
                "model": trained.to_dict(),
            },
            message=f"trained {trained.estimator_class} on {len(features)} feature(s) {isolation}{cv}",
        )


def _settings(spec: PipelineSpec) -> TrainStepSpec:
    if spec.steps.train is None:
        raise StepError(
            "bastion.yaml: steps.train is missing; name the estimator function (steps.train.estimator: train:build_model)"
        )
    return spec.steps.train


def _isolation(spec: IsolationSpec) -> Isolation:
    from bastion.ml.sandbox import Isolation

    return Isolation(
        network=spec.network,
        memory_bytes=spec.memory_mb * 2**20 if spec.memory_mb is not None else None,
        cpu_seconds=spec.cpu_seconds,
        timeout_seconds=spec.timeout_seconds,
        require_network_isolation=spec.require,
    )


def _mean(values: tuple[float, ...] | list[float]) -> float:
    return sum(values) / len(values)
