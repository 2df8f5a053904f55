"""Lineage: the chain of steps behind a run's result, back to the digests of the raw project files."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bastion.pipeline._records import RunRecord, StepRecord


@dataclass(frozen=True)
class Lineage:
    """The steps one result of a run depends on, in the order they ran."""

    run: str
    target: str
    """The step whose ancestry this is (default: the last step of the run that ran)."""
    chain: tuple[StepRecord, ...]
    raw_inputs: tuple[dict[str, str], ...]
    """The project files read along the chain (the raw data among them): ``{"step", "name", "sha256"}``."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "target": self.target,
            "chain": [step_edges(step) for step in self.chain],
            "raw_inputs": list(self.raw_inputs),
        }


def step_edges(step: StepRecord) -> dict[str, Any]:
    """A step as a node of the lineage graph: what it read (project files and ``step/output``s) and wrote."""
    return {"step": step.name, "status": step.status, "inputs": {**step.inputs, **step.upstream}, "outputs": dict(step.outputs)}


def trace(record: RunRecord, target: str | None = None) -> Lineage:
    """The ancestry of ``target`` in ``record``."""
    ran = [step for step in record.steps if step.status != "skipped"]
    if target is None:
        if not ran:
            return Lineage(record.id, "", (), ())
        target = ran[-1].name
    wanted = {target}
    for step in reversed(record.steps):
        if step.name in wanted:
            wanted.update(step.needs)
    chain = tuple(step for step in ran if step.name in wanted)
    raw = tuple({"step": step.name, "name": name, "sha256": digest} for step in chain for name, digest in step.inputs.items())
    return Lineage(record.id, target, chain, raw)
