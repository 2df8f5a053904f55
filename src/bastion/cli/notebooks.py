"""``bastion notebooks``: work on Jupyter notebooks (``strip`` removes outputs before they are committed)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "notebooks",
        help="work on Jupyter notebooks (strip outputs)",
        description="Work on Jupyter notebooks.",
    )
    subcommands = parser.add_subparsers(
        title="subcommands", metavar="SUBCOMMAND", dest="subcommand", required=True, parser_class=type(parser)
    )
    strip = subcommands.add_parser(
        "strip",
        help="remove outputs and execution counts in place",
        description=(
            "Remove the outputs and execution counts of every code cell, in place and atomically; everything else "
            "(sources, metadata, key order, indentation) is kept. Every notebook is read first: if one is malformed, "
            "none is changed and the exit status is 2."
        ),
    )
    strip.add_argument("notebooks", nargs="+", type=Path, metavar="NOTEBOOK", help="the .ipynb files to strip")
    strip.add_argument("-f", "--format", dest="output_format", choices=("table", "json"), default="table")
    strip.set_defaults(run=run_strip)


def run_strip(args: argparse.Namespace) -> int:
    from bastion.core import BastionError, atomic_write
    from bastion.scanners.code.notebook import NotebookError, StrippedNotebook, strip_outputs

    stripped: list[tuple[Path, StrippedNotebook]] = []
    for path in args.notebooks:
        try:
            stripped.append((path, strip_outputs(path.read_bytes())))
        except OSError as exc:
            raise BastionError(f"{path}: cannot read: {exc.strerror or exc}; no notebook was changed") from None
        except NotebookError as exc:
            raise BastionError(f"{path}: malformed notebook ({exc}); fix or remove it, no notebook was changed") from None
    for path, result in stripped:
        if result.changed:
            try:
                atomic_write(path, result.data, path.stat().st_mode & 0o7777)
            except OSError as exc:
                raise BastionError(f"{path}: cannot write: {exc.strerror or exc}") from None
    if args.output_format == "json":
        rows = [
            {
                "path": str(path),
                "changed": result.changed,
                "outputs_removed": result.outputs_removed,
                "execution_counts_cleared": result.execution_counts_cleared,
            }
            for path, result in stripped
        ]
        print(json.dumps({"notebooks": rows}, indent=2))
        return 0
    for path, result in stripped:
        if result.changed:
            print(
                f"{path}: removed {result.outputs_removed} output(s), "
                f"cleared {result.execution_counts_cleared} execution count(s)"
            )
        else:
            print(f"{path}: already clean")
    return 0
