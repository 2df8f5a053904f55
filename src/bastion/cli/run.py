"""``bastion run``: the pipeline of a ``bastion.yaml``, step by step, to a signed, registered model and its report."""

from __future__ import annotations

import argparse
import json
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bastion.cli.output import emit

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from bastion.pipeline.runner import RunOutcome, StepEvent

FORMATS = ("table", "json", "sarif")


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "run",
        help="run the pipeline of a bastion.yaml: scan, gate, train, evaluate, test, gate, package, sign, register",
        description=(
            "Run the pipeline of a bastion.yaml. Steps whose inputs did not change since an earlier run are restored "
            "from the cache. Exit status: 0 when the run passed, 1 when a gate failed (nothing after it ran), 2 on a "
            "problem in the project (a bad bastion.yaml, a missing column, a training function that raised), "
            "130 when interrupted (the next run resumes from the cache)."
        ),
    )
    parser.add_argument("spec", nargs="?", type=Path, default=Path("bastion.yaml"), metavar="BASTION_YAML")
    parser.add_argument("-f", "--format", dest="output_format", choices=FORMATS, default="table", help="output format")
    parser.add_argument("-o", "--output", type=Path, help="write the result (the SARIF file, say) to this file")
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run the steps on a Dask cluster: its scheduler's tcp://HOST:PORT, or 'local' (needs the dask extra)",
    )
    parser.add_argument("--no-cache", action="store_true", help="run every step, even those with a cached result")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from bastion.pipeline.load import load_spec
    from bastion.pipeline.runner import run_pipeline

    spec = load_spec(args.spec)
    with StepProgress(sys.stderr.isatty()) as progress:
        outcome = run_pipeline(spec, args.spec, use_cache=not args.no_cache, scheduler=args.scheduler, on_event=progress.update)
    emit(_render(outcome, args.output_format), args.output)
    if args.output_format != "table":
        for gate in _failed_gates(outcome):
            sys.stderr.write(f"bastion: gate {gate['name']} failed: {'; '.join(gate.get('reasons', ()))}\n")
    return outcome.exit_status


def _render(outcome: RunOutcome, output_format: str) -> str:
    from bastion.pipeline._report_data import report_data

    record = outcome.record
    if output_format == "sarif":
        from bastion.core.formats import SarifFormatter
        from bastion.core.report import Report
        from bastion.pipeline._records import finding_from_dict

        findings = tuple(finding_from_dict(f) for step in record.steps for f in step.findings)
        return SarifFormatter().format(Report(scanned=(), findings=findings))
    data = report_data(record)
    if output_format == "json":
        document = {
            "run": record.id,
            "status": record.status,
            "gates": data["gates"],
            "steps": data["steps"],
            "report": str(outcome.report),
            "package": data.get("package"),
            "signature": data.get("signature"),
            "registry": data.get("registry"),
        }
        return json.dumps(document, indent=2) + "\n"
    lines = [f"Run {record.id} of {record.pipeline}: {record.status}"]
    for step in data["steps"]:
        duration = "" if step["duration_s"] is None else f"{step['duration_s']:.1f} s"
        lines.append(f"  {step['name']:<12} {step['status']:<8} {duration:>8}  {step['message'] or ''}".rstrip())
    for gate in data["gates"]:
        lines.append(f"Gate {gate['name']}: {gate['decision']}")
        lines.extend(f"  - {reason}" for reason in gate.get("reasons", ()))
    lines.append(f"Report: {outcome.report} (and report.html beside it)")
    return "\n".join(lines) + "\n"


def _failed_gates(outcome: RunOutcome) -> list[dict[str, Any]]:
    from bastion.pipeline._report_data import report_data

    return [gate for gate in report_data(outcome.record)["gates"] if gate.get("decision") == "fail"]


class StepProgress:
    """A Rich progress bar per step on a terminal; one plain line per finished step otherwise."""

    def __init__(self, terminal: bool) -> None:
        self._terminal = terminal
        self._bar: Progress | None = None
        self._tasks: dict[str, TaskID] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> StepProgress:
        if self._terminal:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(
                TextColumn("{task.description:<12}", markup=False),
                BarColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.fields[status]}", markup=False),  # messages quote user data
                console=Console(stderr=True),
            )
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def update(self, event: StepEvent) -> None:
        with self._lock:  # events come from the threads that run the steps
            if self._bar is None:
                if event.kind == "finished":
                    sys.stderr.write(f"{event.step}: {event.status}{f' ({event.message})' if event.message else ''}\n")
                    sys.stderr.flush()
                return
            if event.step not in self._tasks:
                self._tasks[event.step] = self._bar.add_task(event.step, total=1.0, status="running")
            task = self._tasks[event.step]
            status = event.status if event.kind == "finished" else (event.message or "running")
            self._bar.update(task, completed=event.fraction, status=status)
