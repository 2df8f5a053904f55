"""Run records: ``BASTION_HOME/runs/RUN_ID/run.json``, what a run did step by step, written atomically."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

from bastion.core.errors import BastionError
from bastion.core.finding import Category, Finding, Location, Severity

RecordedStatus = Literal["passed", "failed", "cached", "skipped"]
RunStatus = Literal["running", "passed", "failed", "interrupted"]
RECORD_FILE = "run.json"


@dataclass(frozen=True)
class StepRecord:
    """One step of a run as it happened."""

    name: str
    status: RecordedStatus
    """``cached``: the result of an earlier run with the same fingerprint was reused; ``skipped``: it did not run."""
    started: str | None = None
    """UTC, ISO 8601; None when the step did not run."""
    duration_s: float | None = None
    needs: tuple[str, ...] = ()
    """The steps it read from: the edges of the lineage graph."""
    fingerprint: str | None = None
    """The cache key (step, version, params, digests of its inputs, Bastion's version)."""
    inputs: Mapping[str, str] = field(default_factory=dict)
    """Digests (hex SHA-256) of the project files the step read directly, by the step's name for them."""
    upstream: Mapping[str, str] = field(default_factory=dict)
    """Digests of the upstream outputs it read, as ``step/output``."""
    outputs: Mapping[str, str] = field(default_factory=dict)
    """Digests of the outputs it stored, by output name."""
    params: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, float | None] = field(default_factory=dict)
    findings: tuple[Mapping[str, Any], ...] = ()
    """The findings, as in the scan JSON contract."""
    details: Mapping[str, Any] = field(default_factory=dict)
    message: str | None = None
    environment: Mapping[str, Any] = field(default_factory=dict)
    """Python, platform and package versions where the step's body ran."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "started": self.started,
            "duration_s": self.duration_s,
            "needs": list(self.needs),
            "fingerprint": self.fingerprint,
            "inputs": dict(self.inputs),
            "upstream": dict(self.upstream),
            "outputs": dict(self.outputs),
            "params": dict(self.params),
            "metrics": dict(self.metrics),
            "findings": [dict(f) for f in self.findings],
            "details": dict(self.details),
            "message": self.message,
            "environment": dict(self.environment),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StepRecord:
        known = _known(cls, data)
        return cls(**{**known, "needs": tuple(known.get("needs", ())), "findings": tuple(known.get("findings", ()))})


@dataclass(frozen=True)
class RunRecord:
    """A whole run."""

    id: str
    pipeline: str
    spec: str
    """The ``bastion.yaml`` it ran."""
    status: RunStatus
    started: str
    finished: str | None = None
    duration_s: float | None = None
    environment: Mapping[str, Any] = field(default_factory=dict)
    steps: tuple[StepRecord, ...] = ()
    """In the order of the step graph."""
    error: str | None = None
    """The one line a step stopped the run with (a ``StepError``), if any."""
    report: str | None = None
    """The run's report.json."""

    def step(self, name: str) -> StepRecord | None:
        return next((s for s in self.steps if s.name == name), None)

    def with_step(self, record: StepRecord, order: tuple[str, ...]) -> RunRecord:
        """This run with ``record`` added or replaced, the steps kept in ``order``."""
        steps = {s.name: s for s in self.steps} | {record.name: record}
        return replace(self, steps=tuple(steps[n] for n in order if n in steps))

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "pipeline": self.pipeline,
            "spec": self.spec,
            "status": self.status,
            "started": self.started,
            "finished": self.finished,
            "duration_s": self.duration_s,
            "environment": dict(self.environment),
            "steps": [s.to_dict() for s in self.steps],
            "error": self.error,
            "report": self.report,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunRecord:
        steps = tuple(StepRecord.from_dict(s) for s in data.get("steps", ()))
        return cls(**{**_known(cls, data), "steps": steps})


def _known(record: type, data: Mapping[str, Any]) -> dict[str, Any]:
    """The fields ``record`` has: a record written by a later Bastion, with more fields, still reads."""
    names = {f.name for f in fields(record)}
    return {key: value for key, value in data.items() if key in names}


def runs_directory(home: Path) -> Path:
    return home / "runs"


def new_run_id() -> str:
    """Sortable by start time, unique without coordination: ``20261122T111500Z-3f9a1c``."""
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + os.urandom(3).hex()


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def write_record(home: Path, record: RunRecord) -> Path:
    from bastion.core.atomic import atomic_write

    directory = runs_directory(home) / record.id
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = directory / RECORD_FILE
    atomic_write(path, json.dumps(record.to_dict(), indent=2, sort_keys=False).encode("utf-8"), 0o600)
    return path


def read_record(home: Path, run_id: str) -> RunRecord:
    """The record of ``run_id``; an unknown or damaged one is a ``BastionError`` saying what to do."""
    if not run_id or "/" in run_id or run_id.startswith("."):
        raise BastionError(f"{run_id!r} is not a run id; see `bastion runs list`")
    path = runs_directory(home) / run_id / RECORD_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return RunRecord.from_dict(data)
    except FileNotFoundError:
        raise BastionError(f"no run {run_id} in {runs_directory(home)}; see `bastion runs list`") from None
    except (OSError, ValueError, TypeError, AttributeError, KeyError) as exc:  # JSON of another shape: AttributeError
        raise BastionError(f"{path}: not a readable run record ({exc}); it was changed outside Bastion") from None


def list_records(home: Path) -> list[RunRecord]:
    """Every recorded run, newest first."""
    directory = runs_directory(home)
    if not directory.is_dir():
        return []
    names = sorted((p.name for p in directory.iterdir() if (p / RECORD_FILE).is_file()), reverse=True)
    return [read_record(home, name) for name in names]


def finding_from_dict(data: Mapping[str, Any]) -> Finding:
    """A finding back from its JSON (a cached step's findings)."""
    known = {"rule_id", "category", "severity", "message", "location", "entity", "count", "confidence", "evidence", "remediation"}
    return Finding(
        rule_id=data["rule_id"],
        category=Category(data["category"]),
        severity=Severity(data["severity"]),
        message=data["message"],
        location=Location(**data["location"]),
        entity=data.get("entity"),
        count=data.get("count"),
        confidence=data.get("confidence"),
        evidence=data.get("evidence"),
        remediation=data.get("remediation"),
        extra={k: v for k, v in data.items() if k not in known},
    )
