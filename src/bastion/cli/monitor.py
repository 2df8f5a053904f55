"""``bastion monitor``: baselines in SageMaker Model Monitor's shapes (``baseline``) and checks of data against them
(``check``: constraint violations, per-column drift, an HTML report)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bastion.core import BastionError

if TYPE_CHECKING:
    from bastion.monitor import CheckResult

FORMATS = ("table", "json")
CHECK_FORMATS = ("table", "json", "sarif")


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "monitor",
        help="baselines (SageMaker statistics/constraints) and drift checks of data against them",
        description="Create baselines of data and check new data (captured traffic, a batch) against them.",
    )
    subcommands = parser.add_subparsers(
        title="subcommands", metavar="SUBCOMMAND", dest="subcommand", required=True, parser_class=type(parser)
    )
    baseline = subcommands.add_parser(
        "baseline",
        help="write statistics.json and constraints.json of a dataset",
        description=(
            "Summarise DATA (a Parquet, CSV, TSV or JSON Lines file, or a directory of Parquet files; a path or an "
            "fsspec URL) in one pass into DIR/statistics.json and DIR/constraints.json, in SageMaker Model Monitor's "
            "shapes. Exit status: 0 on success, 2 when the data cannot be read."
        ),
    )
    baseline.add_argument("data", metavar="DATA", help="the baseline dataset (usually the training data)")
    baseline.add_argument("-o", "--output", type=Path, required=True, metavar="DIR", help="directory to write the baseline to")
    baseline.add_argument(
        "--comparison-method",
        choices=("Simple", "Robust"),
        default="Robust",
        help="monitoring_config's distribution comparison: Robust allows for small samples (default: Robust)",
    )
    _add_scale_options(baseline)
    baseline.add_argument("-f", "--format", dest="output_format", choices=FORMATS, default="table", help="output format")
    baseline.set_defaults(run=run_baseline)

    check = subcommands.add_parser(
        "check",
        help="check a dataset against a baseline: violations, drift per column, HTML report",
        description=(
            "Check DATA against the baseline in DIR (written by 'bastion monitor baseline' or by SageMaker Model "
            "Monitor) and write OUT/constraint_violations.json, OUT/statistics.json (of DATA), OUT/drift.json and "
            "OUT/report.html. Drift per column: KS (numbers), chi-squared (categories) or the two-proportion z-test "
            "(two values) when the smaller sample has at most --small-sample values; normed Wasserstein (numbers) or "
            "Jensen-Shannon (categories) above it. Exit status: 0 when nothing is found, 1 on violations or drift, "
            "2 on an error."
        ),
    )
    check.add_argument("data", metavar="DATA", help="the dataset to check: a file, or a directory of Parquet files")
    check.add_argument("--baseline", type=Path, required=True, metavar="DIR", help="directory holding the baseline")
    check.add_argument("-o", "--output", type=Path, required=True, metavar="OUT", help="directory to write the results to")
    check.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="COLUMN",
        help="leave COLUMN out (repeatable), e.g. a capture's request_id, time, model, version, variant",
    )
    check.add_argument("--numeric-method", choices=("ks", "wasserstein", "psi", "jensenshannon"), help="drift method for numbers")
    check.add_argument(
        "--categorical-method", choices=("chisquare", "z", "jensenshannon", "psi"), help="drift method for categories"
    )
    check.add_argument("--numeric-threshold", type=float, metavar="X", help="threshold of the numeric method")
    check.add_argument("--categorical-threshold", type=float, metavar="X", help="threshold of the categorical method")
    check.add_argument(
        "--small-sample", type=int, default=1000, metavar="N", help="samples up to N values get the tests (default: 1000)"
    )
    check.add_argument(
        "--drift-share", type=float, default=0.5, metavar="X", help="dataset drift when this share of columns drift (0.5)"
    )
    _add_scale_options(check)
    check.add_argument(
        "-f", "--format", dest="output_format", choices=CHECK_FORMATS, default="table", help="output format (sarif: the findings)"
    )
    check.set_defaults(run=run_check)
    register_schedules(subcommands)


def _add_scale_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workers", type=int, metavar="N", help="processes sketching the data's parts (default: one per core)")
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="sketch the parts on a Dask cluster: tcp://HOST:PORT, or 'local' for one on this machine (needs the dask extra)",
    )


def run_baseline(args: argparse.Namespace) -> int:
    from bastion.monitor import sketch_table, write_baseline

    _check_directory(args.output)
    with _one_line(args.data):
        sketch = sketch_table(args.data, workers=args.workers, scheduler=args.scheduler)
    written = write_baseline(sketch, args.output, comparison_method=args.comparison_method)
    if args.output_format == "json":
        from bastion import __version__

        document = {
            "bastion_version": __version__,
            "data": args.data,
            "rows": sketch.rows,
            "columns": len(sketch.columns),
            "files": [str(path) for path in written],
        }
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
    else:
        sys.stdout.write(
            f"{args.data}: {sketch.rows} rows, {len(sketch.columns)} columns; wrote {', '.join(map(str, written))}\n"
        )
    return 0


def run_check(args: argparse.Namespace) -> int:
    from bastion.monitor import DriftOptions, check, render_report
    from bastion.monitor.baseline import write_json

    if not 0 < args.drift_share <= 1:
        raise BastionError("--drift-share must be above 0 and at most 1")
    _check_directory(args.output)
    options = DriftOptions(
        numeric_method=args.numeric_method,
        categorical_method=args.categorical_method,
        numeric_threshold=args.numeric_threshold,
        categorical_threshold=args.categorical_threshold,
        small_sample=args.small_sample,
        drift_share=args.drift_share,
    )
    with _one_line(args.data):
        result = check(
            args.baseline, args.data, options, ignore=frozenset(args.ignore), workers=args.workers, scheduler=args.scheduler
        )
    write_json(args.output / "constraint_violations.json", result.violations_document())
    write_json(args.output / "statistics.json", result.statistics)
    write_json(args.output / "drift.json", result.drift_document())
    _write_text(args.output / "report.html", render_report(result))
    findings = result.findings()
    if args.output_format == "table":
        sys.stdout.write(_summary(result))
    else:
        from bastion.core import Report
        from bastion.core.formats import FORMATS as REPORT_FORMATS

        report = Report(scanned=(), findings=tuple(findings))
        if args.output_format == "sarif":
            sys.stdout.write(REPORT_FORMATS["sarif"]().format(report))
        else:  # the scan JSON contract, with the check's own fields added
            document = {**report.to_dict(), "data": result.data, "baseline": result.baseline, "rows": result.rows}
            document.update(result.violations_document(), drift=result.drift_document())
            sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    return 1 if findings else 0


def _summary(result: CheckResult) -> str:
    lines = [
        f"{result.data}: {result.rows} rows against {result.baseline}: {len(result.violations)} violation(s); "
        f"{len(result.drifted)} of {len(result.columns)} columns drifted ({result.drift_share:.0%})"
        + ("; dataset drift" if result.dataset_drift else "")
    ]
    lines += [f"  {v.constraint_check_type} {v.feature_name}: {v.description}" for v in result.violations]
    lines += [f"  drift {c.column}: {c.method} {c.statistic:.4g} (threshold {c.threshold:g})" for c in result.drifted]
    return "\n".join(lines) + "\n"


@contextmanager
def _one_line(data: str) -> Iterator[None]:
    """A bug ends in one line too, as a scanner's does in ``bastion scan``."""
    try:
        yield
    except BastionError:
        raise
    except Exception as exc:
        raise BastionError(f"{data}: internal error ({type(exc).__name__}: {exc}); please report it") from None


def _check_directory(target: Path) -> None:
    if target.exists() and not target.is_dir():
        raise BastionError(f"{target}: exists and is not a directory; give a directory for -o")
    if not target.parent.exists():
        raise BastionError(f"{target.parent}: no such directory; create it first")


def _write_text(target: Path, text: str) -> None:
    from bastion.core import atomic_write

    try:
        atomic_write(target, text.encode("utf-8"))
    except OSError as exc:
        raise BastionError(f"{target}: cannot write: {exc.strerror or exc}") from None


def register_schedules(subcommands: Any) -> None:
    """``schedule`` and ``run-schedules``: checks of captured traffic on a cron expression, alerts, retraining."""
    schedule = subcommands.add_parser(
        "schedule",
        help="register a check of captured traffic on a cron expression",
        description=(
            "Register (or replace) the schedule NAME: when the cron expression (UTC) fires, 'bastion monitor "
            "run-schedules' checks the last --window of MODEL's traffic captured under ROOT against the data baseline "
            "(and the quality baseline, when given), writes the results and a SARIF file under "
            "BASTION_HOME/monitor/runs/NAME/, sends the findings to the alert targets, and hands them to the "
            "retraining policy. Alert targets: https://… (JSON), slack+https://…, telegram+https://…/sendMessage#chat_id=N, "
            "pagerduty+https://events.pagerduty.com/v2/enqueue#routing_key=KEY; bodies are signed with "
            "BASTION_WEBHOOK_SECRET, and non-public addresses are refused unless --alert-allow-network holds them. "
            "Exit status: 0 when registered, 2 on an error."
        ),
    )
    schedule.add_argument("name", metavar="NAME", help="the schedule's name (letters, digits, '.', '_', '-')")
    schedule.add_argument("--cron", required=True, metavar="EXPR", help="five-field cron expression in UTC, e.g. '0 * * * *'")
    schedule.add_argument("--model", required=True, metavar="MODEL", help="the served model's name")
    schedule.add_argument(
        "--capture",
        required=True,
        metavar="ROOT",
        help="where serving captures: the store (BASTION_HOME/store or BASTION_STORE_URL), holding capture/ and feedback/",
    )
    schedule.add_argument("--baseline", required=True, type=Path, metavar="DIR", help="data baseline (bastion monitor baseline)")
    schedule.add_argument("--window", default="1h", metavar="LENGTH", help="traffic each run checks: 30m, 1h, 1d (default: 1h)")
    schedule.add_argument(
        "--quality-baseline", type=Path, metavar="PATH", help="model package or metrics JSON: quality, bias, attribution drift"
    )
    schedule.add_argument("--facet", action="append", default=[], metavar="COLUMN=VALUE", help="bias facet, e.g. sex=F")
    schedule.add_argument("--gate-policy", type=Path, metavar="FILE", help="gate policy whose metric thresholds apply per window")
    schedule.add_argument("--alert", action="append", default=[], metavar="URL", help="alert target (repeatable)")
    schedule.add_argument(
        "--alert-allow-network", action="append", default=[], metavar="NET", help="non-public network alerts may go to"
    )
    schedule.add_argument("--retrain-policy", type=Path, metavar="FILE", help="policy that decides when to run the pipeline")
    schedule.add_argument("-f", "--format", dest="output_format", choices=FORMATS, default="table", help="output format")
    schedule.set_defaults(run=run_add_schedule)

    runner = subcommands.add_parser(
        "run-schedules",
        help="run the registered schedules as they fall due",
        description=(
            "Run every schedule whose cron expression has fired since its last run, then wait for the next one (or "
            "stop, with --once). Each run is recorded in the audit log; one line per run is printed (a JSON object per "
            "line with --format json). Exit status with --once: 0 when no run found anything, 1 when one had findings, "
            "2 when a window could not be checked."
        ),
    )
    runner.add_argument("--once", action="store_true", help="run what is due now and stop")
    runner.add_argument("--schedule", action="append", default=[], metavar="NAME", help="only this schedule (repeatable)")
    runner.add_argument("--textfile", type=Path, metavar="FILE", help="write the drift gauges to FILE (node-exporter textfile)")
    runner.add_argument("-f", "--format", dest="output_format", choices=FORMATS, default="table", help="output format")
    runner.set_defaults(run=run_schedules)


def run_add_schedule(args: argparse.Namespace) -> int:
    from bastion.audit import record
    from bastion.monitor.schedule import Schedule, add_schedule

    def absolute(path: Path | None) -> str | None:
        return None if path is None else str(path.resolve())

    capture = args.capture if "://" in args.capture else str(Path(args.capture).resolve())
    saved = add_schedule(
        Schedule(
            name=args.name,
            cron=args.cron,
            model=args.model,
            capture=capture,
            baseline=str(args.baseline.resolve()),
            window=args.window,
            quality_baseline=absolute(args.quality_baseline),
            facets=tuple(args.facet),
            gate_policy=absolute(args.gate_policy),
            alerts=tuple(args.alert),
            allow_networks=tuple(args.alert_allow_network),
            retrain_policy=absolute(args.retrain_policy),
        )
    )
    from dataclasses import asdict

    from bastion.monitor.alerts import AlertTarget

    shown = {**asdict(saved), "alerts": [str(AlertTarget.parse(target)) for target in saved.alerts]}  # tokens stay hidden
    record("monitor.schedule.add", target=saved.name, details=shown)
    if args.output_format == "json":
        sys.stdout.write(json.dumps({**shown, "next_run": saved.next_run().isoformat()}, indent=2) + "\n")
    else:
        sys.stdout.write(
            f"schedule {saved.name}: {saved.cron} (UTC) over {saved.window} of {saved.model}'s traffic; "
            f"next run at {saved.next_run().isoformat()}\n"
        )
    return 0


def run_schedules(args: argparse.Namespace) -> int:
    import datetime as dt
    import time

    from bastion.monitor.alerts import write_textfile
    from bastion.monitor.schedule import new_registry, next_due, run_due

    registry, gauges = new_registry() if args.textfile else (None, None)
    status = 0
    while True:
        for done in run_due(dt.datetime.now(dt.UTC), gauges=gauges, names=args.schedule):
            status = max(status, 2 if done.error else 1 if done.findings else 0)
            if args.output_format == "json":
                sys.stdout.write(json.dumps(done.to_dict(), ensure_ascii=False) + "\n")
            else:
                what = done.error or f"{done.rows} rows, {len(done.findings)} finding(s); results in {done.output}"
                decision = done.retrain.decision if done.retrain else "not-needed"
                retrain = f"; retraining {decision}" if decision != "not-needed" else ""
                sys.stdout.write(f"{done.schedule} {done.start.isoformat()}/{done.end.isoformat()}: {what}{retrain}\n")
            sys.stdout.flush()
        if registry is not None:
            write_textfile(registry, args.textfile)
        if args.once:
            return status
        upcoming = next_due()
        wait = 60.0 if upcoming is None else (upcoming - dt.datetime.now(dt.UTC)).total_seconds()
        time.sleep(min(max(wait, 1.0), 60.0))  # at most a minute: schedules registered meanwhile are picked up
