"""The pipeline's steps, one module each, and the graph they form.

    ingest → scan ─────────────┐
           → anonymize → bias-pre → gate-pre → split → train → evaluate ─┐
           → profile                                        → model-tests → gate-post → package → sign → register

``profile`` and ``bias-pre`` run beside ``scan``; a pipeline without ``steps.train`` stops at the pre-training gate.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bastion.pipeline.steps.anonymize import AnonymizeStep
from bastion.pipeline.steps.bias import PreTrainingBiasStep
from bastion.pipeline.steps.evaluate import EvaluateStep
from bastion.pipeline.steps.gate import DEFAULT_POST_TRAINING_THRESHOLDS, Gate, PostTrainingGate, PreTrainingGate
from bastion.pipeline.steps.ingest import IngestStep
from bastion.pipeline.steps.model_tests import ModelTestsStep
from bastion.pipeline.steps.package import PackageStep
from bastion.pipeline.steps.profile import ProfileStep
from bastion.pipeline.steps.register import RegisterStep
from bastion.pipeline.steps.scan import ScanStep
from bastion.pipeline.steps.sign import SignStep
from bastion.pipeline.steps.split import SplitStep
from bastion.pipeline.steps.train import TrainStep

if TYPE_CHECKING:
    from bastion.pipeline.interface import Step
    from bastion.pipeline.spec import PipelineSpec


def default_steps(spec: PipelineSpec) -> tuple[Step, ...]:
    """The steps of ``spec``'s pipeline, each after the steps it needs."""
    checks: tuple[Step, ...] = (
        IngestStep(),
        ScanStep(),
        AnonymizeStep(),
        ProfileStep(),
        PreTrainingBiasStep(),
        PreTrainingGate(),
    )
    if spec.steps.train is None:
        return checks
    return (
        *checks,
        SplitStep(),
        TrainStep(),
        EvaluateStep(),
        ModelTestsStep(),
        PostTrainingGate(),
        PackageStep(),
        SignStep(),
        RegisterStep(),
    )


__all__ = [
    "DEFAULT_POST_TRAINING_THRESHOLDS",
    "AnonymizeStep",
    "EvaluateStep",
    "Gate",
    "IngestStep",
    "ModelTestsStep",
    "PackageStep",
    "PostTrainingGate",
    "PreTrainingBiasStep",
    "PreTrainingGate",
    "ProfileStep",
    "RegisterStep",
    "ScanStep",
    "SignStep",
    "SplitStep",
    "TrainStep",
    "default_steps",
]
