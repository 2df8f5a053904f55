"""split: the anonymized training table into a stratified training and test split (Parquet), after checking
that the target and feature columns exist."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bastion.pipeline.interface import Step, StepContext, StepError, StepResult
from bastion.pipeline.spec import PipelineSpec
from bastion.pipeline.steps._privacy import training_table
from bastion.pipeline.steps._project import column, model_features, read_table, write_json


class SplitStep(Step):
    """Outputs ``train`` and ``test`` (the features, the target and the facet columns) and the ``features`` list."""

    name = "split"
    needs = ("gate-pre", "anonymize")

    def params(self, spec: PipelineSpec) -> Mapping[str, Any]:
        split = spec.steps.split
        return {
            "test_size": split.test_size,
            "seed": split.seed,
            "stratify": split.stratify,
            "target": spec.inputs.target,
            "features": spec.inputs.features,
            "facets": [f.column for f in spec.inputs.facets],
        }

    def run(self, context: StepContext) -> StepResult:
        import numpy as np
        import pyarrow.parquet as pq
        from sklearn.model_selection import train_test_split

        settings, target = context.spec.steps.split, context.spec.inputs.target
        where = f"{training_table(context)} (anonymized)"
        table = read_table(context.output("anonymize", "table"))
        features = model_features(context.spec, table.column_names, where)
        facets = [f.column for f in context.spec.inputs.facets if f.column in table.column_names]
        table = table.select(list(dict.fromkeys([*features, *facets, target])))
        unlabelled = table.column(target).null_count
        if unlabelled:
            raise StepError(f"{where}: {unlabelled} row(s) have no value in the target column {target!r}; label or remove them")
        labels = column(table, target).astype(str)
        try:
            train_rows, test_rows = train_test_split(
                np.arange(table.num_rows),
                test_size=settings.test_size,
                random_state=settings.seed,
                stratify=labels if settings.stratify else None,
            )
        except ValueError as exc:
            raise StepError(f"{where}: cannot split {table.num_rows} row(s) by {target!r}: {exc} (see steps.split)") from None
        train_path, test_path = context.workdir / "train.parquet", context.workdir / "test.parquet"
        pq.write_table(table.take(np.sort(train_rows)), train_path)
        pq.write_table(table.take(np.sort(test_rows)), test_path)
        names, counts = np.unique(labels, return_counts=True)
        return StepResult(
            status="passed",
            outputs={"train": train_path, "test": test_path, "features": write_json(context.workdir / "features.json", features)},
            details={
                "split": {
                    "train_rows": len(train_rows),
                    "test_rows": len(test_rows),
                    "features": features,
                    "classes": {str(name): int(count) for name, count in zip(names, counts, strict=True)},
                }
            },
            message=f"{len(train_rows)} training and {len(test_rows)} test row(s), {len(features)} feature(s)",
        )
