"""ingest: every project input into the artifact store (content-addressed, encrypted at rest)."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path

from bastion.pipeline.interface import Step, StepContext, StepError, StepResult
from bastion.pipeline.steps._project import input_files, relative_name


class IngestStep(Step):
    """Stores each input file by digest and hands the training table on; any change to an input invalidates the run."""

    name = "ingest"

    def inputs(self, context: StepContext) -> Mapping[str, Path]:
        return input_files(context.spec, context.project)

    def run(self, context: StepContext) -> StepResult:
        files = self.inputs(context)
        digests: dict[str, str] = {}
        for number, (name, path) in enumerate(files.items()):
            context.progress(number / max(len(files), 1), name)
            try:
                with path.open("rb") as handle:
                    digests[name] = context.store.put(handle).removeprefix("sha256:")
            except OSError as exc:
                raise StepError(f"{path}: cannot read the input: {exc.strerror or exc}") from None
        table_name = relative_name(context.project, context.spec.inputs.datasets[0])
        if table_name not in files:
            raise StepError(f"{table_name}: the training table (the first of inputs.datasets) must be one file, not a directory")
        table = context.workdir / Path(table_name).name
        shutil.copyfile(files[table_name], table)
        return StepResult(
            status="passed",
            outputs={"table": table},
            details={"inputs": digests},  # hex SHA-256 of each file: its address in the store
            message=f"stored {len(digests)} input file(s) in {context.store.location}",
        )
