"""``bastion scan``: scan files and directories, apply the gate, and report."""

from __future__ import annotations

import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from bastion.cli.app import app
from bastion.cli.output import emit
from bastion.core import BastionError, Report, Severity


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    sarif = "sarif"


@app.command()
def scan(
    paths: Annotated[list[str], typer.Argument(metavar="PATH...", help="Files and directories to scan.", show_default=False)],
    output_format: Annotated[OutputFormat, typer.Option("--format", "-f", help="table, json or sarif.")] = OutputFormat.table,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the report to this file.")] = None,
    fail_on: Annotated[
        str | None,
        typer.Option(
            "--fail-on", metavar="SEVERITY", help="Lowest severity that fails: info, low, medium, high (default), critical."
        ),
    ] = None,
    policy: Annotated[Path | None, typer.Option("--policy", help="Policy file with thresholds and waivers.")] = None,
    target: Annotated[str | None, typer.Option("--target", metavar="COLUMN", help="Label column of datasets.")] = None,
    no_digest: Annotated[bool, typer.Option("--no-digest", help="Skip SHA-256 digests (sha256: null).")] = False,
    jobs: Annotated[int | None, typer.Option("--jobs", "-j", min=1, help="Worker processes (default: one per core).")] = None,
) -> None:
    """Scan model files, datasets, notebooks, dependency manifests and code.

    Exit status: 0 when the gate passes, 1 when a finding (at or above --fail-on) or a policy
    rule fails it, 2 on a usage error or when a file could not be scanned completely.
    """
    from bastion.gate import Policy, evaluate, load_policy
    from bastion.scanners import ScanOptions, load_scanners, scan_paths

    threshold = _severity(fail_on) if fail_on is not None else None
    gate_policy = load_policy(policy) if policy is not None else Policy()
    if threshold is not None:
        gate_policy = gate_policy.model_copy(update={"fail_on": threshold})

    with _Progress(enabled=output_format is OutputFormat.table or output is not None) as progress:
        report = scan_paths(
            paths,
            scanners=load_scanners(),
            options=ScanOptions(target=target),
            digest=not no_digest,
            jobs=jobs,
            progress=progress.update,
        )
    gate = evaluate(gate_policy, findings=report.findings, scanned=report.scanned)
    report = Report(scanned=report.scanned, findings=report.findings, gate=gate)
    emit(_render(report, output_format, color=output is None and sys.stdout.isatty()), output)
    if gate.violations:
        raise typer.Exit(1)
    if gate.incomplete:
        raise typer.Exit(2)


def _severity(name: str) -> Severity:
    try:
        return Severity.parse(name)
    except ValueError as exc:
        raise BastionError(f"--fail-on: {exc}") from None


def _render(report: Report, output_format: OutputFormat, *, color: bool) -> str:
    from bastion.core.formats import FORMATS, TableFormatter

    if output_format is OutputFormat.table:
        return TableFormatter(color=color).format(report)
    return FORMATS[output_format.value]().format(report)


class _Progress:
    """A Rich progress bar on stderr, shown only once a scan has taken more than a moment."""

    DELAY = 0.7

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self.started = time.monotonic()
        self._bar: object | None = None
        self._task: object | None = None

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()  # type: ignore[attr-defined]

    def update(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self._bar is None:
            if time.monotonic() - self.started < self.DELAY or done >= total:
                return
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = bar = Progress(
                TextColumn("scanning"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            bar.start()
            self._task = bar.add_task("scan", total=total)
        self._bar.update(self._task, completed=done)  # type: ignore[attr-defined]
