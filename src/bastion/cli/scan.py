"""``bastion scan``: scan files and directories, apply the gate, and report."""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path
from typing import Any

from bastion.cli._arguments import rules_file
from bastion.cli.output import emit
from bastion.core import BastionError, Report, Severity

FORMATS = ("table", "json", "sarif")


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "scan",
        help="scan model files, datasets, notebooks, dependency manifests and code",
        description=(
            "Scan model files, datasets, notebooks, dependency manifests and code. Exit status: 0 when the gate "
            "passes, 1 when a finding (at or above --fail-on) or a policy rule fails it, 2 on a usage error or when "
            "a file could not be scanned completely."
        ),
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="files and directories to scan")
    parser.add_argument("-f", "--format", dest="output_format", choices=FORMATS, default="table", help="output format")
    parser.add_argument("-o", "--output", type=Path, help="write the report to this file")
    parser.add_argument(
        "--fail-on", metavar="SEVERITY", help="lowest severity that fails: info, low, medium, high (default), critical"
    )
    parser.add_argument("--policy", type=Path, help="policy file with thresholds, rule lists, waivers")
    parser.add_argument("--target", metavar="COLUMN", help="label column of datasets (poisoning and label checks)")
    parser.add_argument(
        "--rules", type=rules_file, metavar="FILE", help="integrity rules of datasets: a YAML list of SQL boolean expressions"
    )
    parser.add_argument(
        "--offline",
        action="store_true",
        help="match dependencies against the offline advisory mirror (`bastion vulndb update`), not the OSV API",
    )
    parser.add_argument(
        "--trusted", type=Path, metavar="FILE", help="trusted packages and denied licences of dependencies (YAML)"
    )
    parser.add_argument(
        "--secret-rules",
        type=_secret_rules_file,
        metavar="FILE",
        help=(
            "secret rules in gitleaks' TOML format (e.g. .gitleaks.toml); [extend] useDefault = true keeps Bastion's own. "
            "Never read from the scanned tree on its own, so scanned content cannot switch its own scan off"
        ),
    )
    parser.add_argument(
        "--scanners",
        type=_names,
        metavar="NAME,...",
        help="run only these scanners (e.g. secrets,models); the default runs every installed one",
    )
    parser.add_argument("--no-digest", action="store_true", help="skip SHA-256 digests (sha256: null)")
    parser.add_argument("-j", "--jobs", type=_positive, help="worker processes (default: one per core)")
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run on a Dask cluster: its scheduler's tcp://HOST:PORT, or 'local' for one on this machine (needs the dask extra)",
    )
    parser.add_argument(
        "--partition-rows",
        type=_positive,
        metavar="N",
        help="with --scheduler: split datasets of more rows into partitions of N rows (default: 500000)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from bastion.gate import Policy, evaluate, load_policy
    from bastion.scanners import ScanOptions, load_scanners, scan_paths

    policy = load_policy(args.policy) if args.policy is not None else Policy()
    if args.fail_on is not None:
        policy = policy.with_fail_on(_severity(args.fail_on))

    if args.trusted is not None:
        from bastion.scanners.code.dependencies.trust import load_trust_policy

        load_trust_policy(args.trusted)  # a mistake in it is one line now, not an error on every manifest
    if args.partition_rows is not None and args.scheduler is None:
        raise BastionError("--partition-rows splits datasets over a Dask cluster: give --scheduler too")
    with contextlib.ExitStack() as stack:
        executor, partition_rows = None, None
        if args.scheduler is not None:
            from bastion.scanners.cluster import PARTITION_ROWS, cluster_executor

            executor = stack.enter_context(cluster_executor(args.scheduler))
            partition_rows = args.partition_rows or PARTITION_ROWS
        progress = stack.enter_context(_Progress(enabled=args.output_format == "table" or args.output is not None))
        report = scan_paths(
            args.paths,
            scanners=load_scanners(args.scanners),
            options=ScanOptions(
                target=args.target,
                rules=args.rules,
                partition_rows=partition_rows,
                offline=args.offline,
                trusted=args.trusted,
                secret_rules=args.secret_rules,
            ),
            digest=not args.no_digest,
            jobs=args.jobs,
            progress=progress.update,
            executor=executor,
        )
    gate = evaluate(policy, findings=report.findings, scanned=report.scanned)
    report = Report(scanned=report.scanned, findings=report.findings, gate=gate)
    emit(_render(report, args.output_format, color=args.output is None and sys.stdout.isatty()), args.output)
    _record(args.paths, report)
    if gate.violations:
        return 1
    return 2 if gate.incomplete else 0


def _record(paths: list[str], report: Report) -> None:
    """The scan and the gate's decision in the audit log, when this is an initialised instance."""
    from bastion.audit import record

    summary = report.summary()
    assert report.gate is not None
    details = {
        "files": len(report.scanned),
        "findings": summary["by_severity"],
        "violations": report.gate.violations,
        "incomplete": len(report.gate.incomplete),
        "digests": {a.path: a.sha256 for a in report.scanned[:100] if a.sha256},
    }
    record("scan", target=" ".join(paths)[:1000], outcome=report.gate.decision, details=details)


def _secret_rules_file(text: str) -> Path:
    """An argparse type for ``--secret-rules``: the config is read before any file is scanned (one line per mistake)."""
    from bastion.scanners.code.gitleaks_config import GitleaksConfigError, load_gitleaks_config

    try:
        load_gitleaks_config(text)
    except GitleaksConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return Path(text).resolve()


def _names(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError("give at least one scanner name")
    return names


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _severity(name: str) -> Severity:
    try:
        return Severity.parse(name)
    except ValueError as exc:
        raise BastionError(f"--fail-on: {exc}") from None


def _render(report: Report, output_format: str, *, color: bool) -> str:
    from bastion.core.formats import FORMATS as FORMATTERS
    from bastion.core.formats import TableFormatter

    if output_format == "table":
        return TableFormatter(color=color).format(report)
    return FORMATTERS[output_format]().format(report)


class _Progress:
    """A Rich progress bar on stderr, shown only once a scan has taken more than a moment."""

    DELAY = 0.7

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self.started = time.monotonic()
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def update(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self._bar is None:
            if time.monotonic() - self.started < self.DELAY or done >= total:
                return
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(
                TextColumn("scanning"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._bar.start()
            self._task = self._bar.add_task("scan", total=total)
        self._bar.update(self._task, completed=done)
