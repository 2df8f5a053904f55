"""bias-pre: pre-training bias of the anonymized training table for each sensitive facet (SageMaker Clarify's
CI, DPL, KL, JS, LP, TVD, KS, CDDL), as metrics a pre-training policy may put thresholds on."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bastion.pipeline.interface import Step, StepContext, StepError, StepResult
from bastion.pipeline.spec import PipelineSpec
from bastion.pipeline.steps._facets import bias_metrics, facet
from bastion.pipeline.steps._privacy import training_table
from bastion.pipeline.steps._project import column, read_table


class PreTrainingBiasStep(Step):
    """Details ``bias``: one report per facet; metrics ``CODE[facet]``."""

    name = "bias-pre"
    needs = ("anonymize",)

    def params(self, spec: PipelineSpec) -> Mapping[str, Any]:
        facets = [{"column": f.column, "sensitive": list(f.sensitive), "threshold": f.threshold} for f in spec.inputs.facets]
        return {"facets": facets, "target": spec.inputs.target, "positive_label": spec.inputs.positive_label}

    def run(self, context: StepContext) -> StepResult:
        from bastion.ml.bias import pretraining_bias

        inputs = context.spec.inputs
        if not inputs.facets:
            return StepResult(status="passed", message="no sensitive facets (inputs.facets): no bias measured")
        table = read_table(context.output("anonymize", "table"))
        where = f"{training_table(context)} (anonymized)"
        columns = table.column_names
        if inputs.target not in columns:
            raise StepError(
                f"{where}: no target column {inputs.target!r}; its columns are {', '.join(columns)} (fix inputs.target)"
            )
        reports = [
            pretraining_bias(
                column(table, inputs.target),
                column(table, spec.column),
                facet(spec, columns, where),
                positive_label=inputs.positive_label,
                label_name=inputs.target,
            )
            for spec in inputs.facets
        ]
        return StepResult(
            status="passed",
            metrics=bias_metrics(reports, post=False),
            details={"bias": [report.to_dict() for report in reports]},
            message=f"pre-training bias measured for {', '.join(r.facet for r in reports)}",
        )
