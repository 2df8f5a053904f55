"""A table for people, drawn with Rich."""

from __future__ import annotations

import io

from bastion.core.artifact import ScanStatus
from bastion.core.finding import Severity
from bastion.core.formats.interface import Formatter
from bastion.core.report import Report

_STYLE = {
    Severity.CRITICAL: "bold red",
    Severity.HIGH: "red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}


class TableFormatter(Formatter):
    name = "table"

    def __init__(self, *, color: bool = False, width: int | None = None) -> None:
        self.color = color
        self.width = width

    def format(self, report: Report) -> str:
        from rich.console import Console
        from rich.table import Table

        buffer = io.StringIO()
        console = Console(
            file=buffer,
            force_terminal=self.color,
            no_color=not self.color,
            width=self.width or (None if self.color else 120),  # a terminal's own width; 120 in files
            highlight=False,
        )
        if report.findings:
            table = Table(title=f"{len(report.findings)} finding(s)", title_justify="left", expand=False)
            table.add_column("Severity")
            table.add_column("Rule")
            table.add_column("Location", overflow="fold")
            table.add_column("Message", overflow="fold")
            for finding in sorted(report.findings, key=lambda f: (-f.severity.rank, f.sort_key())):
                table.add_row(
                    f"[{_STYLE[finding.severity]}]{finding.severity.value}[/]",
                    finding.rule_id,
                    str(finding.location),
                    finding.message + (f"\n[dim]{finding.evidence}[/]" if finding.evidence else ""),
                )
            console.print(table)
        else:
            console.print("No findings.")

        incomplete = [a for a in report.scanned if a.status is not ScanStatus.COMPLETE]
        for artifact in incomplete:
            console.print(f"[red]not fully scanned[/] {artifact.path}: {artifact.error or artifact.status.value}")
        kinds: dict[str, int] = {}
        for artifact in report.scanned:
            kinds[artifact.kind.value] = kinds.get(artifact.kind.value, 0) + 1
        breakdown = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
        console.print(f"Scanned {len(report.scanned)} file(s){f' ({breakdown})' if breakdown else ''}.")
        if report.gate is not None:
            style = "green" if report.gate.passed else "bold red"
            console.print(f"Gate: [{style}]{report.gate.decision.upper()}[/]")
            for reason in report.gate.reasons:
                console.print(f"  - {reason}", markup=False)
            for waived in report.gate.waived:
                console.print(
                    f"  waived {waived.rule_id} at {waived.path}: {waived.reason} ({waived.owner}, until {waived.expires})",
                    markup=False,
                )
        return buffer.getvalue()
