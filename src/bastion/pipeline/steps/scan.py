"""scan: every scanner on every project input (datasets with the target column, code, notebooks, requirements,
pretrained models), as ``bastion scan`` does."""

from __future__ import annotations

import datetime as dt
import functools
import os
import sqlite3
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bastion.core import Finding, Report
from bastion.pipeline.interface import Step, StepContext, StepResult
from bastion.pipeline.spec import PipelineSpec
from bastion.pipeline.steps._project import input_files, relative_name, relative_report, write_scan_report


class ScanStep(Step):
    """Findings of all scanners; the scan report (``report``) tells the gate which files were not scanned completely."""

    name = "scan"
    needs = ("ingest",)

    def params(self, spec: PipelineSpec) -> Mapping[str, Any]:
        scan = spec.steps.scan
        return {
            "scanners": scan.scanners,
            "offline": scan.offline,
            "target": spec.inputs.target,
            "advisories": _advisories_as_of(scan.offline),
        }

    def inputs(self, context: StepContext) -> Mapping[str, Path]:
        return input_files(context.spec, context.project)

    def run(self, context: StepContext) -> StepResult:
        from bastion.scanners import ScanOptions, load_scanners, scan_paths

        settings = context.spec.steps.scan
        root = Path(os.path.abspath(context.project))
        table = relative_name(context.project, context.spec.inputs.datasets[0])
        others = [str(root / name) for name in self.inputs(context) if name != table]
        scanners = load_scanners(list(settings.scanners) if settings.scanners is not None else None)
        # Only the training table has the target column its poisoning and label checks read.
        parts = [
            ("training table", [str(root / table)], ScanOptions(target=context.spec.inputs.target, offline=settings.offline))
        ]
        if others:
            parts.append(("other inputs", others, ScanOptions(offline=settings.offline)))
        reports = [
            scan_paths(
                paths,
                scanners=scanners,
                options=options,
                jobs=1,  # steps of other branches run beside this one
                progress=functools.partial(_progress, context, part),
            )
            for part, paths, options in parts
        ]
        report = Report(
            scanned=tuple(a for r in reports for a in r.scanned),
            findings=tuple(sorted((f for r in reports for f in r.findings), key=Finding.sort_key)),
        )
        report = relative_report(report, root)
        output = write_scan_report(report, context.workdir / "scan.json")
        severities = Counter(f.severity.value for f in report.findings)
        incomplete = len(report.incomplete)
        summary = ", ".join(f"{count} {severity}" for severity, count in sorted(severities.items())) or "no findings"
        note = f"; {incomplete} file(s) not scanned completely" if incomplete else ""
        return StepResult(
            status="passed",
            outputs={"report": output},
            findings=report.findings,
            message=f"scanned {len(report.scanned)} file(s): {summary}{note}",
        )


def _advisories_as_of(offline: bool) -> str | None:
    """When the vulnerability advisories the scan matches were taken: the offline mirror's snapshot (None without
    one), or today for the online service. Part of the cache key, so that a mirror update or a new day's advisories
    rescan the requirements instead of reusing a result that predates them."""
    if not offline:
        return _today().isoformat()
    from bastion.scanners.code.advisories import SourceError, default_database, read_meta

    try:
        return read_meta(default_database()).get("snapshot")
    except (SourceError, sqlite3.Error, OSError):
        return None  # the scan reports the requirements as not scanned completely, and the gate fails them


def _today() -> dt.date:
    return dt.date.today()


def _progress(context: StepContext, part: str, done: int, total: int) -> None:
    context.progress(done / max(total, 1), f"{part}: {done}/{total} files")
