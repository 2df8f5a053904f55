"""``bastion runs list`` and ``bastion runs show RUN``: the recorded pipeline runs."""

from __future__ import annotations

import argparse
import json
from typing import Any


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "runs",
        help="list the recorded pipeline runs, or show one step by step",
        description="The pipeline runs recorded under BASTION_HOME/runs, newest first, or one of them step by step.",
    )
    actions = parser.add_subparsers(title="actions", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="list the runs, newest first")
    listing.add_argument("-f", "--format", dest="output_format", choices=("table", "json"), default="table")
    listing.set_defaults(run=run_list)
    show = actions.add_parser("show", help="one run: its steps with digests, findings, metrics, environment")
    show.add_argument("run_id", metavar="RUN")
    show.add_argument("-f", "--format", dest="output_format", choices=("table", "json"), default="table")
    show.set_defaults(run=run_show)


def run_list(args: argparse.Namespace) -> int:
    from bastion.core.home import bastion_home
    from bastion.pipeline._records import list_records

    records = list_records(bastion_home())
    if args.output_format == "json":
        rows = [
            {
                "id": r.id,
                "pipeline": r.pipeline,
                "status": r.status,
                "started": r.started,
                "finished": r.finished,
                "duration_s": r.duration_s,
                "report": r.report,
            }
            for r in records
        ]
        print(json.dumps(rows, indent=2))
        return 0
    if not records:
        print("No runs yet; start one with `bastion run`.")
    for r in records:
        duration = "" if r.duration_s is None else f"{r.duration_s:.1f} s"
        print(f"{r.id}  {r.status:<11} {duration:>8}  {r.pipeline}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    from bastion.core.home import bastion_home
    from bastion.pipeline._records import read_record

    record = read_record(bastion_home(), args.run_id)
    if args.output_format == "json":
        print(json.dumps(record.to_dict(), indent=2))
        return 0
    print(f"Run {record.id} of {record.pipeline} ({record.spec}): {record.status}, started {record.started}")
    if record.error:
        print(f"  stopped by: {record.error}")
    for step in record.steps:
        duration = "" if step.duration_s is None else f"{step.duration_s:.1f} s"
        print(f"  {step.name:<12} {step.status:<8} {duration:>8}  {len(step.findings)} findings  {step.message or ''}".rstrip())
        for name, digest in step.outputs.items():
            print(f"      -> {name} sha256:{digest}")
    if record.report:
        print(f"Report: {record.report}")
    return 0
