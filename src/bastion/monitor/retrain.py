"""The retraining trigger: a policy decides when a monitoring check's violations start ``bastion run``.

```yaml
retrain:
  when:                                   # any condition that holds starts a run
    drift_share: ">= 0.3"                 # the data check's share of drifted columns
    any_check: [baseline_drift_check, feature_attribution_drift_check]  # a violation of one of these types
    quality: {f1: "< 0.85"}               # a window's quality or bias metric (f1, roc_auc, DPPL[sex], ...)
  pipeline: ../project/bastion.yaml       # relative to this file
  cooldown: 24h                           # no second run this soon after one started
```

The run is ``bastion run PIPELINE --format json`` in a child process, in the pipeline's directory: the new version
goes through every scan, gate, signature and approval like any other. Each decision that starts a run, or is held
back by the cooldown, is recorded in the audit log, and so is the run's outcome. The time of the last start is
kept in ``BASTION_HOME/monitor/retrain/<model>.json``.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from bastion.core import bastion_home
from bastion.monitor.errors import MonitorError

if TYPE_CHECKING:
    from bastion.gate import MetricThreshold
    from bastion.monitor.checks import CheckResult
    from bastion.monitor.quality import QualityResult


class RetrainPolicyError(MonitorError):
    """The retraining policy file is missing, not YAML, or not a valid policy."""


@dataclass(frozen=True)
class RetrainConditions:
    """When to retrain: any condition that holds is enough."""

    __pydantic_config__: ClassVar[dict[str, Any]] = {"extra": "forbid"}

    drift_share: str | None = None
    """A comparison with the data check's share of drifted columns: ``">= 0.3"``."""
    any_check: tuple[str, ...] = ()
    """Violation types (``baseline_drift_check``, ``LessThanThreshold``, ``bias_drift_check``, …); one is enough."""
    quality: Mapping[str, str] = field(default_factory=dict)
    """Comparisons with a window's metrics by name: ``{f1: "< 0.85"}``."""


@dataclass(frozen=True)
class RetrainPolicy:
    """A parsed retraining policy."""

    source: str
    """The policy file."""
    thresholds: tuple[MetricThreshold, ...]
    """``drift_share`` and the ``quality`` conditions, as metric thresholds that *trigger* when they hold."""
    any_check: frozenset[str]
    pipeline: Path
    """The pipeline's bastion.yaml (absolute)."""
    cooldown: dt.timedelta


@dataclass(frozen=True)
class Evidence:
    """What one monitoring run found, as the policy looks at it."""

    drift_share: float | None = None
    """The data check's share of drifted columns; None without a data check."""
    checks: frozenset[str] = frozenset()
    """The types of the violations found (and ``column_drift``/``dataset_drift`` for drift)."""
    metrics: Mapping[str, float | None] = field(default_factory=dict)
    """The window's quality and bias metrics."""


@dataclass(frozen=True)
class RetrainOutcome:
    """What the trigger decided, and the run it started."""

    model: str
    decision: Literal["not-needed", "cooldown", "started"]
    reasons: tuple[str, ...]
    """The conditions that held."""
    exit_status: int | None = None
    """``bastion run``'s exit status (0 passed, 1 a gate failed, 2 a problem); None when no run started."""
    run: Mapping[str, Any] | None = None
    """``bastion run``'s JSON result (run id, status, gates, registry version), when it printed one."""
    next_allowed: dt.datetime | None = None
    """When the cooldown ends."""

    def to_dict(self) -> dict[str, Any]:
        run = self.run or {}
        return {
            "model": self.model,
            "decision": self.decision,
            "reasons": list(self.reasons),
            "exit_status": self.exit_status,
            "run": {key: run.get(key) for key in ("run", "status", "registry")} if run else None,
            "next_allowed": self.next_allowed.isoformat() if self.next_allowed else None,
        }


def load_retrain_policy(path: Path) -> RetrainPolicy:
    """Read and validate a retraining policy; errors name the file and line."""
    from bastion.core.yaml_document import read_yaml, validate
    from bastion.gate import MetricThreshold
    from bastion.monitor.capture import parse_duration

    document = read_yaml(path, what="retraining policy", error=RetrainPolicyError)
    data = document.data
    if not isinstance(data, dict) or set(data) != {"retrain"} or not isinstance(data["retrain"], dict):
        raise RetrainPolicyError(f"{path}:1: a retraining policy is a mapping with one key, retrain (when, pipeline, cooldown)")
    settings = data["retrain"]
    unknown = set(settings) - {"when", "pipeline", "cooldown"}
    if unknown or "pipeline" not in settings or "when" not in settings:
        problem = f"unknown setting {sorted(unknown)[0]!r}" if unknown else "needs when and pipeline"
        raise RetrainPolicyError(document.message(("retrain",), f"{problem}; see bastion.monitor.retrain"))
    when = validate(
        document, RetrainConditions, settings["when"], error=RetrainPolicyError, adjust_loc=lambda loc: ("retrain", "when", *loc)
    )
    conditions = [f"drift_share {when.drift_share}"] if when.drift_share is not None else []
    conditions += [f"{name} {condition}" for name, condition in when.quality.items()]
    try:
        thresholds = tuple(MetricThreshold.parse(text) for text in conditions)
    except ValueError as exc:
        raise RetrainPolicyError(document.message(("retrain", "when"), str(exc))) from None
    try:
        cooldown = parse_duration(str(settings.get("cooldown", "24h")), what="cooldown")
    except MonitorError as exc:
        raise RetrainPolicyError(document.message(("retrain", "cooldown"), str(exc))) from None
    pipeline = (path.parent / str(settings["pipeline"])).resolve()
    if not pipeline.is_file():
        raise RetrainPolicyError(document.message(("retrain", "pipeline"), f"{pipeline}: no such pipeline file"))
    return RetrainPolicy(str(path), thresholds, frozenset(when.any_check), pipeline, cooldown)


def evidence_of(data: CheckResult | None = None, quality: QualityResult | None = None) -> Evidence:
    """The evidence in a data check's and a quality check's results."""
    checks = set()
    if data is not None:
        checks |= {violation.constraint_check_type for violation in data.violations}
        checks |= {"column_drift"} if data.drifted else set()
        checks |= {"dataset_drift"} if data.dataset_drift else set()
    if quality is not None:
        checks |= {violation.constraint_check_type for violation in quality.violations}
    return Evidence(
        drift_share=data.drift_share if data is not None else None,
        checks=frozenset(checks),
        metrics=dict(quality.metrics) if quality is not None and quality.judged else {},
    )


def reasons_to_retrain(policy: RetrainPolicy, evidence: Evidence) -> tuple[str, ...]:
    """The conditions of ``policy`` that ``evidence`` meets; retraining is due when there is one."""
    reasons = [f"violation {check}" for check in sorted(evidence.checks & policy.any_check)]
    measured = {**evidence.metrics, "drift_share": evidence.drift_share}
    for threshold in policy.thresholds:
        value = measured.get(threshold.metric)
        if value is not None and threshold.holds(value):
            reasons.append(f"{threshold.metric} = {value:.4g} ({threshold})")
    return tuple(reasons)


def trigger(
    policy: RetrainPolicy, model: str, evidence: Evidence, *, now: dt.datetime | None = None, home: Path | None = None
) -> RetrainOutcome:
    """Start ``bastion run`` for ``policy``'s pipeline when the evidence calls for it and the cooldown allows."""
    from bastion.audit import record

    now = now or dt.datetime.now(dt.UTC)
    reasons = reasons_to_retrain(policy, evidence)
    if not reasons:
        return RetrainOutcome(model, "not-needed", ())
    state = (home or bastion_home()) / "monitor" / "retrain" / f"{model}.json"
    last = _last_start(state)
    details = {"pipeline": str(policy.pipeline), "policy": policy.source, "reasons": list(reasons)}
    if last is not None and now < last + policy.cooldown:
        outcome = RetrainOutcome(model, "cooldown", reasons, next_allowed=last + policy.cooldown)
        record(
            "monitor.retrain",
            target=model,
            outcome="skip",
            details={**details, "next_allowed": outcome.to_dict()["next_allowed"]},
        )
        return outcome
    _write_state(state, now)  # before the run: a crash mid-run still counts against the cooldown
    record("monitor.retrain.start", target=model, details=details)
    done = subprocess.run(
        [sys.executable, "-m", "bastion", "run", str(policy.pipeline), "--format", "json"],
        cwd=policy.pipeline.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        run = json.loads(done.stdout) if done.stdout.strip() else None
    except json.JSONDecodeError:
        run = None
    outcome = RetrainOutcome(model, "started", reasons, done.returncode, run, now + policy.cooldown)
    error = done.stderr.strip().splitlines()[-1:] if done.returncode else []
    record(
        "monitor.retrain",
        target=model,
        outcome="ok" if done.returncode == 0 else "fail",
        details={**details, **outcome.to_dict(), "error": error[0] if error else None},
    )
    return outcome


def _last_start(state: Path) -> dt.datetime | None:
    try:
        document = json.loads(state.read_text(encoding="utf-8"))
        return dt.datetime.fromisoformat(document["started"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise MonitorError(f"{state}: unreadable retraining state ({exc}); delete it to allow the next run") from None


def _write_state(state: Path, started: dt.datetime) -> None:
    from bastion.core import atomic_write

    state.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(state, json.dumps({"started": started.isoformat()}).encode(), mode=0o600)
