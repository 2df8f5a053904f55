"""Monitoring schedules: checks of captured traffic on a cron expression, run by ``bastion monitor run-schedules``.

A schedule is a JSON file in ``BASTION_HOME/monitor/schedules/<name>.json`` (mode 0600: alert URLs carry tokens).
When its cron expression (croniter's syntax, UTC) fires at time T, the window [T - window, T) of the model's
captured traffic is checked: against the data baseline (Model Monitor's constraint checks and drift per column,
``bastion.monitor.check_sketch``) and, when the schedule has one, against the quality baseline
(``bastion.monitor.quality``). The findings are written to ``BASTION_HOME/monitor/runs/<name>/<T>/`` (with a SARIF
file for DefectDojo), sent to the schedule's alert targets, set on the Prometheus gauges, and handed to the
retraining trigger (a ``bastion run`` it starts is waited for); each run is recorded in the audit log. A schedule
that missed several firings (the runner was not running) runs once, for the latest.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bastion.core import BastionError, Finding, bastion_home
from bastion.monitor.errors import MonitorError

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from bastion.monitor.alerts import Delivery, DriftGauges
    from bastion.monitor.checks import CheckResult
    from bastion.monitor.quality import QualityResult
    from bastion.monitor.retrain import RetrainOutcome

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


@dataclass(frozen=True)
class Schedule:
    """One registered schedule, as its JSON file holds it."""

    name: str
    cron: str
    """A five-field cron expression, evaluated in UTC."""
    model: str
    capture: str
    """The directory or URL serving captures into (it holds ``capture/`` and ``feedback/``)."""
    baseline: str
    """The data baseline directory (statistics.json and constraints.json)."""
    window: str = "1h"
    """The length of traffic each run checks, ending at the firing time."""
    quality_baseline: str | None = None
    """A model package or metrics JSON for quality, bias and attribution drift; None checks data only."""
    facets: tuple[str, ...] = ()
    """Bias facets as ``column=value[,value]``."""
    gate_policy: str | None = None
    """A gate policy whose metric thresholds every window must meet."""
    alerts: tuple[str, ...] = ()
    """Alert targets (``bastion.monitor.alerts``)."""
    allow_networks: tuple[str, ...] = ()
    """Non-public networks alert targets may be in."""
    retrain_policy: str | None = None
    created: str = ""
    """When it was registered (ISO 8601, UTC): the cron expression's starting point."""
    last_run: str | None = None
    """The firing time of its latest run."""

    def next_run(self) -> dt.datetime:
        """The first firing time after the latest run (or the registration)."""
        from croniter import croniter

        start = dt.datetime.fromisoformat(self.last_run or self.created)
        return croniter(self.cron, start).get_next(dt.datetime)


@dataclass(frozen=True)
class ScheduleRun:
    """One run of a schedule."""

    schedule: str
    model: str
    start: dt.datetime
    end: dt.datetime
    rows: int = 0
    """Captured rows in the window."""
    findings: tuple[Finding, ...] = ()
    output: str | None = None
    """The directory the results were written to."""
    deliveries: tuple[Delivery, ...] = ()
    retrain: RetrainOutcome | None = None
    error: str | None = None
    """Why the run could not check the window; None when it did."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "schedule": self.schedule,
            "model": self.model,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "rows": self.rows,
            "findings": [finding.to_dict() for finding in self.findings],
            "output": self.output,
            "alerts": [asdict(delivery) for delivery in self.deliveries],
            "retrain": self.retrain.to_dict() if self.retrain else None,
            "error": self.error,
        }


def schedules_directory(home: Path | None = None) -> Path:
    return (home or bastion_home()) / "monitor" / "schedules"


def add_schedule(schedule: Schedule, *, home: Path | None = None, now: dt.datetime | None = None) -> Schedule:
    """Check ``schedule`` (cron expression, window, alert targets, policies, facets) and save it; a schedule of the
    same name is replaced. Returns it as saved."""
    from croniter import croniter

    from bastion.monitor.alerts import AlertTarget, parse_networks
    from bastion.monitor.capture import parse_duration

    if not _NAME.match(schedule.name):
        raise MonitorError(f"schedule name {schedule.name!r}: use letters, digits, '.', '_' and '-' (at most 100)")
    if len(schedule.cron.split()) != 5 or not croniter.is_valid(schedule.cron):
        raise MonitorError(f"--cron {schedule.cron!r}: not a five-field cron expression (minute hour day month weekday)")
    parse_duration(schedule.window, what="--window")
    for target in schedule.alerts:
        AlertTarget.parse(target)
    parse_networks(schedule.allow_networks)
    _facets(schedule.facets)
    for path, what in ((schedule.baseline, "--baseline"), (schedule.quality_baseline, "--quality-baseline")):
        if path is not None and not Path(path).exists():
            raise MonitorError(f"{path}: no such file or directory (given as {what})")
    if schedule.retrain_policy is not None:
        from bastion.monitor.retrain import load_retrain_policy

        load_retrain_policy(Path(schedule.retrain_policy))
    if schedule.gate_policy is not None:
        from bastion.gate import load_policy

        load_policy(schedule.gate_policy)
    created = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).isoformat()
    saved = Schedule(**{**asdict(schedule), "created": created, "last_run": None})
    _save(saved, home)
    return saved


def list_schedules(home: Path | None = None) -> list[Schedule]:
    directory = schedules_directory(home)
    return [_load(path) for path in sorted(directory.glob("*.json"))] if directory.is_dir() else []


def run_due(
    now: dt.datetime, *, home: Path | None = None, gauges: DriftGauges | None = None, names: Sequence[str] = ()
) -> list[ScheduleRun]:
    """Run every schedule (or those in ``names``) whose next firing time is at or before ``now``."""
    runs = []
    for schedule in list_schedules(home):
        if names and schedule.name not in names:
            continue
        fired = _latest_firing(schedule, now)
        if fired is None:
            continue
        runs.append(run_schedule(schedule, fired, home=home, gauges=gauges))
        _save(Schedule(**{**asdict(schedule), "last_run": fired.isoformat()}), home)
    return runs


def next_due(home: Path | None = None) -> dt.datetime | None:
    """The earliest next firing time over all schedules."""
    return min((schedule.next_run() for schedule in list_schedules(home)), default=None)


def run_schedule(
    schedule: Schedule, fired: dt.datetime, *, home: Path | None = None, gauges: DriftGauges | None = None
) -> ScheduleRun:
    """Check the window ending at ``fired``; alert, set gauges, trigger retraining and audit the run.

    A window that cannot be checked (an unreadable file, a baseline gone) is a run with an ``error``, audited too.
    """
    from bastion.audit import record
    from bastion.monitor.capture import parse_duration

    start = fired - parse_duration(schedule.window, what="window")
    try:
        run = _checked(schedule, start, fired, home, gauges)
    except BastionError as exc:  # one schedule's broken input must not stop the runner's other schedules
        run = ScheduleRun(schedule.name, schedule.model, start, fired, error=str(exc))
    outcome = "error" if run.error else "fail" if run.findings else "ok"
    details = {key: value for key, value in run.to_dict().items() if key != "findings"}
    details["findings"] = len(run.findings)
    record("monitor.schedule.run", target=schedule.name, outcome=outcome, details=details)
    return run


def _checked(
    schedule: Schedule, start: dt.datetime, end: dt.datetime, home: Path | None, gauges: DriftGauges | None
) -> ScheduleRun:
    from bastion.monitor.alerts import AlertTarget, parse_networks, send_alerts, write_sarif
    from bastion.monitor.baseline import write_json
    from bastion.monitor.capture import read_window

    source = f"{schedule.model}@{start.isoformat()}/{end.isoformat()}"
    captured = read_window(f"{schedule.capture.rstrip('/')}/capture", schedule.model, start, end)
    data = _data_check(schedule, captured, source)
    quality = _quality_check(schedule, start, end)
    findings = tuple((data.findings() if data else []) + (quality.findings() if quality else []))
    output = (home or bastion_home()) / "monitor" / "runs" / schedule.name / end.strftime("%Y%m%dT%H%M%SZ")
    output.mkdir(parents=True, exist_ok=True)
    if data is not None:
        write_json(output / "constraint_violations.json", data.violations_document())
        write_json(output / "drift.json", data.drift_document())
    if quality is not None:
        write_json(output / "quality.json", quality.to_dict())
    write_sarif(findings, output / "findings.sarif")
    if gauges is not None:
        if data is not None:
            gauges.record_data(schedule.model, data)
        if quality is not None:
            gauges.record_quality(schedule.model, quality)
    deliveries = send_alerts(
        [AlertTarget.parse(target) for target in schedule.alerts],
        findings,
        title=f"bastion monitor {schedule.name}: {schedule.model} drifted",
        source=source,
        allowed_networks=parse_networks(schedule.allow_networks),
    )
    retrain = None
    if schedule.retrain_policy is not None and (data is not None or quality is not None):
        from bastion.monitor.retrain import evidence_of, load_retrain_policy, trigger

        retrain = trigger(
            load_retrain_policy(Path(schedule.retrain_policy)), schedule.model, evidence_of(data, quality), home=home
        )
    return ScheduleRun(
        schedule.name, schedule.model, start, end, captured.num_rows, findings, str(output), tuple(deliveries), retrain
    )


def _data_check(schedule: Schedule, captured: Any, source: str) -> CheckResult | None:
    """The window's inputs against the data baseline; None for an empty window (nothing to compare)."""
    from bastion.monitor.capture import model_inputs
    from bastion.monitor.checks import check_sketch, load_baseline
    from bastion.monitor.sketch import sketch_batches

    if captured.num_rows == 0:
        return None
    return check_sketch(load_baseline(Path(schedule.baseline)), source, sketch_batches(model_inputs(captured).to_batches()))


def _quality_check(schedule: Schedule, start: dt.datetime, end: dt.datetime) -> QualityResult | None:
    if schedule.quality_baseline is None:
        return None
    from bastion.monitor.quality import QualityOptions, check_quality, load_quality_baseline

    thresholds: tuple[Any, ...] = ()
    if schedule.gate_policy is not None:
        from bastion.gate import load_policy

        thresholds = load_policy(schedule.gate_policy).metrics
    options = QualityOptions(facets=_facets(schedule.facets), thresholds=thresholds)
    baseline = load_quality_baseline(Path(schedule.quality_baseline))
    return check_quality(schedule.capture, schedule.model, start, end, baseline, options)


def _latest_firing(schedule: Schedule, now: dt.datetime) -> dt.datetime | None:
    """The latest firing time in (last run, now], or None when the schedule is not due."""
    from croniter import croniter

    if schedule.next_run() > now:
        return None
    fired: dt.datetime = croniter(schedule.cron, now + dt.timedelta(microseconds=1)).get_prev(dt.datetime)
    return fired


def _facets(texts: Sequence[str]) -> tuple[Any, ...]:
    from bastion.ml.bias import Facet

    facets = []
    for text in texts:
        column, _, values = text.partition("=")
        if not column or not values:
            raise MonitorError(f"--facet {text!r}: write it as COLUMN=VALUE[,VALUE…], e.g. sex=F")
        facets.append(Facet(column, tuple(values.split(","))))
    return tuple(facets)


def _save(schedule: Schedule, home: Path | None) -> None:
    from bastion.core import atomic_write

    directory = schedules_directory(home)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    atomic_write(directory / f"{schedule.name}.json", (json.dumps(asdict(schedule), indent=2) + "\n").encode(), mode=0o600)


def _load(path: Path) -> Schedule:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        return Schedule(**{**document, **{key: tuple(document.get(key) or ()) for key in _TUPLES}})
    except (OSError, ValueError, TypeError) as exc:
        raise MonitorError(f"{path}: unreadable schedule ({exc}); register it again with 'bastion monitor schedule'") from None


_TUPLES = ("facets", "alerts", "allow_networks")


def new_registry() -> tuple[CollectorRegistry, DriftGauges]:
    """A collector registry holding the monitor's gauges, for ``--textfile``."""
    from prometheus_client import CollectorRegistry

    from bastion.monitor.alerts import register_drift_gauges

    registry = CollectorRegistry()
    return registry, register_drift_gauges(registry)
