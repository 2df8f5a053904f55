"""Monitoring: SageMaker-compatible baselines, constraint violations and statistical drift of data.

``sketch_table`` summarises a table in one pass (in parallel over its parts) into mergeable sketches;
``write_baseline`` turns a sketch into statistics.json and constraints.json; ``check`` compares a
dataset with a baseline (Model Monitor's constraint checks and per-column drift) and its result
gives constraint_violations.json, findings and an HTML report. ``read_window`` reads captured traffic;
``check_quality`` measures its quality, bias and attribution drift against the model's evaluation. Alerts
(``send_alerts``, ``write_sarif``, ``register_drift_gauges``), schedules (``add_schedule``, ``run_due``) and the
retraining trigger (``load_retrain_policy``, ``trigger``) act on the findings.
The public names load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bastion.core.lazy import lazy_attributes

if TYPE_CHECKING:
    from bastion.monitor._parallel import sketch_table
    from bastion.monitor.alerts import AlertError, AlertTarget, register_drift_gauges, send_alerts, write_sarif
    from bastion.monitor.baseline import constraints_document, statistics_document, write_baseline
    from bastion.monitor.capture import read_window
    from bastion.monitor.checks import Baseline, CheckResult, check, check_sketch, load_baseline
    from bastion.monitor.drift import ColumnDrift, DriftError, DriftOptions
    from bastion.monitor.errors import MonitorError
    from bastion.monitor.quality import QualityOptions, QualityResult, check_quality, load_quality_baseline
    from bastion.monitor.report import render_report
    from bastion.monitor.retrain import RetrainPolicy, load_retrain_policy, trigger
    from bastion.monitor.schedule import Schedule, add_schedule, run_due
    from bastion.monitor.sketch import ColumnSketch, TableSketch
    from bastion.monitor.violations import Violation

_PUBLIC = {
    "AlertError": "bastion.monitor.alerts",
    "AlertTarget": "bastion.monitor.alerts",
    "Baseline": "bastion.monitor.checks",
    "CheckResult": "bastion.monitor.checks",
    "ColumnDrift": "bastion.monitor.drift",
    "ColumnSketch": "bastion.monitor.sketch",
    "DriftError": "bastion.monitor.drift",
    "DriftOptions": "bastion.monitor.drift",
    "MonitorError": "bastion.monitor.errors",
    "QualityOptions": "bastion.monitor.quality",
    "QualityResult": "bastion.monitor.quality",
    "RetrainPolicy": "bastion.monitor.retrain",
    "Schedule": "bastion.monitor.schedule",
    "TableSketch": "bastion.monitor.sketch",
    "Violation": "bastion.monitor.violations",
    "add_schedule": "bastion.monitor.schedule",
    "check": "bastion.monitor.checks",
    "check_quality": "bastion.monitor.quality",
    "check_sketch": "bastion.monitor.checks",
    "constraints_document": "bastion.monitor.baseline",
    "load_baseline": "bastion.monitor.checks",
    "load_quality_baseline": "bastion.monitor.quality",
    "load_retrain_policy": "bastion.monitor.retrain",
    "read_window": "bastion.monitor.capture",
    "register_drift_gauges": "bastion.monitor.alerts",
    "render_report": "bastion.monitor.report",
    "run_due": "bastion.monitor.schedule",
    "send_alerts": "bastion.monitor.alerts",
    "sketch_table": "bastion.monitor._parallel",
    "statistics_document": "bastion.monitor.baseline",
    "trigger": "bastion.monitor.retrain",
    "write_baseline": "bastion.monitor.baseline",
    "write_sarif": "bastion.monitor.alerts",
}

__getattr__ = lazy_attributes(__name__, _PUBLIC)

__all__ = [
    "AlertError",
    "AlertTarget",
    "Baseline",
    "CheckResult",
    "ColumnDrift",
    "ColumnSketch",
    "DriftError",
    "DriftOptions",
    "MonitorError",
    "QualityOptions",
    "QualityResult",
    "RetrainPolicy",
    "Schedule",
    "TableSketch",
    "Violation",
    "add_schedule",
    "check",
    "check_quality",
    "check_sketch",
    "constraints_document",
    "load_baseline",
    "load_quality_baseline",
    "load_retrain_policy",
    "read_window",
    "register_drift_gauges",
    "render_report",
    "run_due",
    "send_alerts",
    "sketch_table",
    "statistics_document",
    "trigger",
    "write_baseline",
    "write_sarif",
]
