"""``bastion demo``: the built-in example project."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "demo",
        help="build the example project and scan it",
        description="Build the example project and scan it (the full pipeline demo comes with `bastion run`).",
    )
    parser.add_argument("--workdir", type=Path, help="where to build the example project (default: a new temporary directory)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from bastion.cli import scan
    from bastion.cli.app import build_parser
    from bastion.examples import build_scan_example

    root = build_scan_example(args.workdir)
    print(f"Example project written to {root}; scanning it with `bastion scan {root}`:\n", flush=True)
    argv = ["scan", str(root)]
    status = scan.run(build_parser(argv).parse_args(argv))
    print(
        f"\nThe scan found what was planted (exit status {status}). "
        "The end-to-end pipeline demo is not yet available: it arrives with `bastion run`."
    )
    return 0
