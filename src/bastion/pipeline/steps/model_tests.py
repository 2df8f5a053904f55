"""model-tests: the model security tests of the pipeline's stage 7: the model file through the model scanner,
a membership-inference attack, robustness to small input perturbations, and no PII column among the features."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bastion.core import Category, Finding, Location, Severity
from bastion.pipeline.interface import Step, StepContext, StepResult
from bastion.pipeline.spec import PipelineSpec
from bastion.pipeline.steps._model import load_fitted
from bastion.pipeline.steps._privacy import findings_after_anonymization, pii_columns, training_table
from bastion.pipeline.steps._project import relative_findings, write_scan_report


class ModelTestsStep(Step):
    """Metrics ``mia_auc``, ``mia_advantage``, ``robustness_flip_rate``, ``pii_features``; findings of the model scan
    and one per PII feature; details ``membership_inference`` and ``robustness``."""

    name = "model-tests"
    needs = ("train", "split", "scan", "anonymize")

    def params(self, spec: PipelineSpec) -> Mapping[str, Any]:
        tests = spec.steps.model_tests
        return {
            "membership_inference": tests.membership_inference,
            "robustness_noise": tests.robustness_noise,
            "seed": spec.steps.split.seed,
            "target": spec.inputs.target,
        }

    def run(self, context: StepContext) -> StepResult:
        from bastion.ml.attacks import membership_inference, perturbation_robustness, pii_feature_leaks

        settings, seed = context.spec.steps.model_tests, context.spec.steps.split.seed
        context.progress(0.0, "scanning the model file")
        scan, report_path = self._scan_model(context)
        fitted = load_fitted(context)
        metrics: dict[str, float | None] = {}
        details: dict[str, Any] = {}
        if settings.membership_inference:
            context.progress(0.3, "membership inference")
            attack = membership_inference(fitted.model, fitted.train.X, fitted.train.y, fitted.test.X, fitted.test.y, seed=seed)
            metrics.update(mia_auc=attack.auc, mia_advantage=attack.advantage)
            details["membership_inference"] = attack.to_dict()
        context.progress(0.6, "robustness")
        robustness = perturbation_robustness(fitted.model, fitted.test.X, noise_scale=settings.robustness_noise, seed=seed)
        metrics["robustness_flip_rate"] = robustness.flip_rate
        details["robustness"] = robustness.to_dict()
        table = training_table(context)
        leaks = pii_feature_leaks(fitted.features, pii_columns(findings_after_anonymization(context), table))
        metrics["pii_features"] = float(len(leaks))
        findings = scan + tuple(_pii_feature(table, column) for column in leaks)
        attack_text = f"membership-inference AUC {metrics['mia_auc']:.3f}, " if metrics.get("mia_auc") is not None else ""
        return StepResult(
            status="passed",
            outputs={"report": report_path},
            metrics=metrics,
            findings=findings,
            details=details,
            message=(
                f"{attack_text}{robustness.flip_rate:.1%} of predictions flip under noise, "
                f"{len(leaks)} PII feature(s), {len(scan)} model-file finding(s)"
            ),
        )

    def _scan_model(self, context: StepContext) -> tuple[tuple[Finding, ...], Path]:
        """The model scanner on the model file, its paths shown as the file's name."""
        from bastion.core import Report
        from bastion.scanners import load_scanners, scan_paths

        model = context.output("train", "model")
        report = scan_paths([str(model)], scanners=load_scanners(["models"]), jobs=1)
        findings = relative_findings(report.findings, str(model), model.name)
        scanned = tuple(dataclasses.replace(a, path=model.name) for a in report.scanned)
        return findings, write_scan_report(Report(scanned=scanned, findings=findings), context.workdir / "model-scan.json")


def _pii_feature(table: str, column: str) -> Finding:
    return Finding(
        rule_id="model.pii-feature",
        category=Category.PII,
        severity=Severity.HIGH,
        message=f"the model's features include {column!r}, a column of {table} in which PII was found",
        location=Location(path=table, field=column),
        remediation="Drop or pseudonymize the column in the anonymization policy, or leave it out of inputs.features.",
    )
