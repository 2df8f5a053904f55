"""anonymize: the training table transformed column by column by the project's anonymization policy, then scanned
again for PII, so that the pre-training gate judges what training will actually see."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bastion.core import Category, Report
from bastion.pipeline.interface import Step, StepContext, StepError, StepResult
from bastion.pipeline.spec import PipelineSpec
from bastion.pipeline.steps._privacy import training_table
from bastion.pipeline.steps._project import relative_findings, write_scan_report


class AnonymizeStep(Step):
    """Outputs the anonymized ``table`` (the raw one when there is no policy) and the PII still found in it."""

    name = "anonymize"
    needs = ("ingest",)

    def params(self, spec: PipelineSpec) -> Mapping[str, Any]:
        return {"policy": spec.steps.anonymize.policy}

    def inputs(self, context: StepContext) -> Mapping[str, Path]:
        policy = context.spec.steps.anonymize.policy
        return {} if policy is None else {"policy": context.project / policy}

    def run(self, context: StepContext) -> StepResult:
        from bastion.privacy import anonymize, load_anon_policy

        raw = context.output("ingest", "table")
        table = context.workdir / raw.name
        policy_file = context.spec.steps.anonymize.policy
        if policy_file is None:
            shutil.copyfile(raw, table)
            return StepResult(
                status="passed",
                outputs={"table": table},
                message="no anonymization policy (steps.anonymize.policy): the training table passes unchanged",
            )
        report = anonymize(raw, table, load_anon_policy(context.project / policy_file))
        if not report.written:
            assert report.k_after is not None  # only a missed k target stops the write
            raise StepError(
                f"{policy_file}: the anonymized table would have k = {report.k_after.k}, below the policy's target "
                f"{report.k_after.target}; generalize the quasi-identifiers further"
            )
        outputs = {"table": table}
        if report.data_key_file is not None:
            outputs["data_key"] = Path(report.data_key_file)
        remaining = self._remaining_pii(context, table)
        outputs["report"] = write_scan_report(remaining, context.workdir / "pii-after.json")
        changed = [c.column for c in report.columns if c.action != "keep"]
        return StepResult(
            status="passed",
            outputs=outputs,
            findings=remaining.findings,
            details={"anonymize": {"policy": policy_file, **_without_paths(report.to_dict())}},
            message=(
                f"anonymized {len(changed)} column(s) ({', '.join(changed) or 'none'}) of {report.rows} row(s); "
                f"PII still found in {len({f.location.field for f in remaining.findings})} column(s)"
            ),
        )

    def _remaining_pii(self, context: StepContext, table: Path) -> Report:
        """The data scanner's PII findings in the anonymized table, reported at the training table's path."""
        from bastion.scanners import load_scanners, scan_paths

        scanned = scan_paths([str(table)], scanners=load_scanners(["data"]), jobs=1)
        shown = training_table(context)
        findings = tuple(f for f in scanned.findings if f.category is Category.PII)
        artifacts = tuple(dataclasses.replace(a, path=shown) for a in scanned.scanned)
        prefix = str(table)
        return Report(scanned=artifacts, findings=relative_findings(findings, prefix, shown))


def _without_paths(document: dict[str, Any]) -> dict[str, Any]:
    """The anonymization report without its file paths, which lie in the run's temporary work area."""
    return {key: value for key, value in document.items() if key not in ("input", "output", "data_key_file")}
