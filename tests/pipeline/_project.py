"""A small pipeline of real steps that read and write real files."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bastion.pipeline.interface import Step, StepContext, StepError, StepResult
from bastion.pipeline.spec import PipelineSpec

SPEC = """\
name: toy
inputs:
  datasets: [data.csv]
  target: y
steps: {}
"""


def write_project(directory: Path, *, limit: int = 100) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "data.csv").write_text("x,y\n1,0\n2,1\n3,0\n")
    (directory / "side.txt").write_text("side branch\n")
    (directory / "limit.txt").write_text(f"{limit}\n")
    spec = directory / "bastion.yaml"
    spec.write_text(SPEC)
    return spec


class Ingest(Step):
    name = "ingest"

    def inputs(self, context: StepContext) -> Mapping[str, Path]:
        return {"data.csv": context.project / "data.csv"}

    def run(self, context: StepContext) -> StepResult:
        raw = context.workdir / "raw.csv"
        raw.write_bytes((context.project / "data.csv").read_bytes())
        return StepResult("passed", outputs={"raw": raw}, message="copied")


class Total(Step):
    """Sums column x."""

    name = "total"
    needs = ("ingest",)

    def run(self, context: StepContext) -> StepResult:
        lines = context.output("ingest", "raw").read_text().splitlines()[1:]
        total = sum(int(line.split(",")[0]) for line in lines)
        out = context.workdir / "total.json"
        out.write_text(json.dumps({"total": total}))
        context.progress(1.0, "summed")
        return StepResult("passed", outputs={"total": out}, metrics={"total": float(total)})


class Side(Step):
    """A branch independent of ``total``."""

    name = "side"
    needs = ("ingest",)

    def inputs(self, context: StepContext) -> Mapping[str, Path]:
        return {"side.txt": context.project / "side.txt"}

    def run(self, context: StepContext) -> StepResult:
        out = context.workdir / "side.txt"
        out.write_text((context.project / "side.txt").read_text().upper())
        return StepResult("passed", outputs={"side": out})


class Gate(Step):
    """Fails when the total exceeds the limit in limit.txt."""

    name = "gate"
    needs = ("total",)

    def inputs(self, context: StepContext) -> Mapping[str, Path]:
        return {"limit.txt": context.project / "limit.txt"}

    def run(self, context: StepContext) -> StepResult:
        total = json.loads(context.output("total", "total").read_text())["total"]
        limit = int((context.project / "limit.txt").read_text())
        passed = total <= limit
        reasons = [] if passed else [f"total {total} > {limit}"]
        gate = {"name": "toy-gate", "decision": "pass" if passed else "fail", "reasons": reasons}
        return StepResult(
            "passed" if passed else "failed",
            metrics={"limit": float(limit)},
            details={"gate": gate},
            message="; ".join(reasons) or None,
        )


class Publish(Step):
    """Writes a directory; raises KeyboardInterrupt (Ctrl-C) while ``interrupt.flag`` exists in the project."""

    name = "publish"
    needs = ("gate", "side")

    def run(self, context: StepContext) -> StepResult:
        bundle = context.workdir / "bundle"
        (bundle / "nested").mkdir(parents=True)
        (bundle / "side.txt").write_bytes(context.output("side", "side").read_bytes())
        (bundle / "nested" / "note.txt").write_text("published\n")
        if (context.project / "interrupt.flag").exists():
            raise KeyboardInterrupt
        return StepResult("passed", outputs={"package": bundle}, details={"package": {"path": "bundle", "digest": None}})


class Broken(Step):
    """A step that finds a problem in the project."""

    name = "total"
    needs = ("ingest",)

    def run(self, context: StepContext) -> StepResult:
        raise StepError(f"{context.project / 'data.csv'}: no column 'z'; its columns are x, y (fix inputs.target)")


class Rendezvous(Step):
    """Marks its arrival in the project, then waits for its twin's: completes only if both run at the same time."""

    name = "left"
    twin = "right"
    needs = ("ingest",)

    def run(self, context: StepContext) -> StepResult:
        import time

        (context.project / f"{self.name}.arrived").write_text("")
        for _ in range(600):
            if (context.project / f"{self.twin}.arrived").exists():
                out = context.workdir / "met"
                out.write_text(self.name)
                return StepResult("passed", outputs={"met": out})
            time.sleep(0.1)
        raise StepError(f"{self.name} waited a minute for {self.twin}: the branches did not run at the same time")


class RendezvousTwin(Rendezvous):
    name = "right"
    twin = "left"


def toy_steps() -> tuple[Step, ...]:
    return (Ingest(), Total(), Side(), Gate(), Publish())


def spec_of(path: Path) -> PipelineSpec:
    from bastion.pipeline.load import load_spec

    return load_spec(path)


class Recorder:
    """Collects the runner's progress events."""

    def __init__(self) -> None:
        self.events: list[Any] = []

    def __call__(self, event: Any) -> None:
        self.events.append(event)


class Killed(Step):
    """A step whose process dies under it, as when the kernel's out-of-memory killer picks it."""

    name = "total"
    needs = ("ingest",)

    def run(self, context: StepContext) -> StepResult:
        import os
        import signal

        os.kill(os.getpid(), signal.SIGKILL)
        raise AssertionError("unreachable")


class NotANumber(Step):
    """A step whose metric is not a number JSON can hold."""

    name = "total"
    needs = ("ingest",)

    def run(self, context: StepContext) -> StepResult:
        return StepResult("passed", metrics={"total": float("nan")})
