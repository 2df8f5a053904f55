"""The report.json document of a run, assembled from its record and the steps' ``details``."""

from __future__ import annotations

from typing import Any

from bastion.pipeline._records import RunRecord
from bastion.pipeline.lineage import step_edges


def report_data(record: RunRecord) -> dict[str, Any]:
    """Sections come from the steps' ``details`` in graph order: a later step's mapping section adds to an earlier
    one's (evaluate's metric values, then gate-post's thresholds), any other section replaces it."""
    sections: dict[str, Any] = {}
    gates: list[Any] = []
    findings: list[dict[str, Any]] = []
    values: dict[str, float | None] = {}
    for step in record.steps:
        values.update(step.metrics)
        findings.extend({"stage": step.name, **finding} for finding in step.findings)
        for key, value in step.details.items():
            if key == "gate":
                gates.append(value)
            elif isinstance(value, dict) and isinstance(sections.get(key), dict):
                sections[key] = {**sections[key], **value}
            else:
                sections[key] = value
    if values:
        sections["metrics"] = {"values": values, **sections.get("metrics", {})}
    return {
        **sections,
        "run": {
            "id": record.id,
            "pipeline": record.pipeline,
            "status": record.status,
            "started": record.started,
            "finished": record.finished,
            "duration_s": record.duration_s,
            "environment": dict(record.environment),
        },
        "steps": [
            {
                "name": step.name,
                "status": step.status,
                "started": step.started,
                "duration_s": step.duration_s,
                "inputs": {**step.inputs, **step.upstream},
                "outputs": dict(step.outputs),
                "params": dict(step.params),
                "findings": len(step.findings),
                "message": step.message,
            }
            for step in record.steps
        ],
        "gates": gates,
        "findings": findings,
        "lineage": [step_edges(step) for step in record.steps if step.status != "skipped"],
    }
