"""The two quality gates: before training ("PASS = Security AND Compliance") and after the model tests
("PASS = Security"). One class; each gate names its policy setting, its default policy and what it judges."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from bastion.core import Category, Severity
from bastion.gate import MetricThreshold, Policy
from bastion.pipeline.interface import Step, StepContext, StepResult
from bastion.pipeline.spec import PipelineSpec
from bastion.pipeline.steps._privacy import findings_after_anonymization
from bastion.pipeline.steps._project import read_scanned

if TYPE_CHECKING:
    from bastion.core import Artifact, Finding, GateResult

DEFAULT_POST_TRAINING_THRESHOLDS = tuple(
    MetricThreshold.parse(text)
    for text in (
        "mia_auc <= 0.6",  # a membership-inference attack barely better than a coin: the model did not memorize its rows
        "pii_features <= 0",  # no column found to hold PII is a feature
        "roc_auc >= 0.7",  # the model is worth shipping at all
        "robustness_flip_rate <= 0.2",  # noise of 5% of a feature's spread changes few predictions
    )
)
"""The post-training gate's metric thresholds when the project names no policy file (``gates.post_training``)."""

DEFAULT_PRE_TRAINING_POLICY = Policy(categories={Category.PII: Severity.MEDIUM})
"""Without ``gates.pre_training``: findings of high severity fail, and so does personal data (medium and up) in what
training would read: "PASS = Security AND Compliance"."""


class Gate(Step):
    """Judges the findings and metrics of the steps it needs under a policy file, or the gate's default policy.

    A gate that says no is a failed result with the policy's reasons, not an error: the run stops after it.
    """

    gate: ClassVar[str]
    """The gate's name in the report: ``pre-training`` or ``post-training``."""
    policy_setting: ClassVar[str]
    """The ``gates`` setting of ``bastion.yaml`` that names its policy file."""
    default_policy: ClassVar[Policy]
    """The policy without a policy file."""

    def policy_file(self, spec: PipelineSpec) -> str | None:
        value: str | None = getattr(spec.gates, self.policy_setting)
        return value

    def params(self, spec: PipelineSpec) -> Mapping[str, Any]:
        # A change of the default policies bumps ``version``. The day is part of the key: a waiver that expired
        # since the cached judgement must fail the gate again, not be let through by the cache.
        return {"policy": self.policy_file(spec), "date": _today().isoformat()}

    def inputs(self, context: StepContext) -> Mapping[str, Path]:
        policy = self.policy_file(context.spec)
        return {} if policy is None else {"policy": context.project / policy}

    def run(self, context: StepContext) -> StepResult:
        from bastion.gate import evaluate, load_policy

        policy_file = self.policy_file(context.spec)
        policy = self.default_policy if policy_file is None else load_policy(context.project / policy_file)
        metrics = {
            name: value for step in self.needs for name, value in context.upstream[step].metrics.items() if value is not None
        }
        result = evaluate(
            policy, findings=self._findings(context), metrics=metrics, scanned=self._scanned(context), today=_today()
        )
        details: dict[str, Any] = {"gate": {"name": self.gate, **result.to_dict()}}
        if policy.metrics:
            details["metrics"] = {"values": metrics, "thresholds": [_threshold(t, metrics) for t in policy.metrics]}
        return StepResult(
            status="passed" if result.passed else "failed",
            details=details,
            message=_message(self.gate, result, policy_file),
        )

    def _findings(self, context: StepContext) -> tuple[Finding, ...]:
        """What the gate judges: PII in the training table as it stands after anonymization, when that is upstream."""
        if "anonymize" in self.needs:
            others = tuple(f for step in self.needs if step not in ("scan", "anonymize") for f in context.upstream[step].findings)
            return findings_after_anonymization(context) + others
        return tuple(f for step in self.needs for f in context.upstream[step].findings)

    def _scanned(self, context: StepContext) -> tuple[Artifact, ...]:
        """The files the upstream scans covered: an incomplete one never passes."""
        reports = (context.upstream[step].outputs.get("report") for step in self.needs)
        return tuple(artifact for report in reports if report is not None for artifact in read_scanned(report))


class PreTrainingGate(Gate):
    name = "gate-pre"
    needs = ("scan", "anonymize", "bias-pre")
    gate = "pre-training"
    policy_setting = "pre_training"
    default_policy = DEFAULT_PRE_TRAINING_POLICY


class PostTrainingGate(Gate):
    name = "gate-post"
    needs = ("evaluate", "model-tests")
    gate = "post-training"
    policy_setting = "post_training"
    default_policy = Policy(metrics=DEFAULT_POST_TRAINING_THRESHOLDS)


def _today() -> dt.date:
    """The day waivers are judged on (``evaluate``'s default, one place to change it)."""
    return dt.date.today()


def _threshold(threshold: MetricThreshold, metrics: Mapping[str, float]) -> dict[str, Any]:
    measured = metrics.get(threshold.metric)
    return {
        "metric": threshold.metric,
        "op": threshold.op,
        "value": threshold.value,
        "absolute": threshold.absolute,
        "measured": measured,
        "passed": measured is not None and threshold.holds(measured),
    }


def _message(gate: str, result: GateResult, policy_file: str | None) -> str:
    policy = policy_file or "the default policy"
    if result.passed:
        waived = f", {len(result.waived)} finding(s) waived" if result.waived else ""
        return f"{gate} gate passed under {policy}{waived}"
    return f"{gate} gate failed under {policy}: " + "; ".join(result.reasons)
