"""profile: the per-column profile of the raw training table for the report, and the Model Monitor baseline
(statistics and suggested constraints) that monitoring starts from."""

from __future__ import annotations

from bastion.pipeline.interface import Step, StepContext, StepError, StepResult
from bastion.pipeline.steps._privacy import training_table
from bastion.pipeline.steps._project import write_json


class ProfileStep(Step):
    """Outputs ``statistics`` and ``constraints`` (SageMaker Model Monitor's shapes); details ``data_profile``."""

    name = "profile"
    needs = ("ingest",)

    def run(self, context: StepContext) -> StepResult:
        from bastion.privacy._tables import table_format
        from bastion.scanners import ScanError
        from bastion.scanners.data.constraints import suggest_constraints
        from bastion.scanners.data.dataset import Dataset
        from bastion.scanners.data.profile import profile_dataset

        table = context.output("ingest", "table")
        shown = training_table(context)
        try:
            with Dataset(str(table), shown, table_format(table).name) as dataset:
                profile = profile_dataset(dataset)
        except ScanError as exc:
            raise StepError(f"{shown}: cannot profile the training table: {exc}") from None
        document = profile.to_dict()
        document["path"] = shown
        return StepResult(
            status="passed",
            outputs={
                "statistics": write_json(context.workdir / "statistics.json", profile.statistics()),
                "constraints": write_json(context.workdir / "constraints.json", suggest_constraints(profile)),
            },
            details={"data_profile": document},
            message=f"profiled {len(profile.columns)} column(s) of {profile.rows} row(s)",
        )
