"""``bastion vulndb``: the offline advisory mirror (``update`` downloads it, ``status`` describes it)."""

from __future__ import annotations

import argparse
import json
from typing import Any


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "vulndb",
        help="manage the offline advisory mirror used by --offline",
        description="Manage the offline advisory mirror, BASTION_HOME/vulndb/osv.sqlite, that scans use with --offline.",
    )
    subcommands = parser.add_subparsers(
        title="subcommands", metavar="SUBCOMMAND", dest="subcommand", required=True, parser_class=type(parser)
    )
    update = subcommands.add_parser(
        "update",
        help="download the PyPI OSV archive and the PyPA advisory database",
        description=(
            "Download the PyPI advisories of OSV and the PyPA advisory database and replace the mirror atomically; "
            "on any failure the previous mirror is kept."
        ),
    )
    update.add_argument("--osv-archive", metavar="URL", help="the OSV PyPI zip (default: OSV's all.zip of PyPI)")
    update.add_argument("--pypa-archive", metavar="URL", help="the PyPA advisory-database zip (default: its main branch)")
    update.add_argument("-f", "--format", dest="output_format", choices=("table", "json"), default="table")
    update.set_defaults(run=run_update)
    status = subcommands.add_parser("status", help="show the mirror's snapshot date and size")
    status.add_argument("-f", "--format", dest="output_format", choices=("table", "json"), default="table")
    status.set_defaults(run=run_status)


def run_update(args: argparse.Namespace) -> int:
    from bastion.scanners.code.advisories import update_mirror

    urls = {"osv_url": args.osv_archive, "pypa_url": args.pypa_archive}
    summary = update_mirror(**{key: url for key, url in urls.items() if url is not None})
    if args.output_format == "json":
        print(
            json.dumps(
                {
                    "path": str(summary.path),
                    "snapshot": summary.snapshot,
                    "advisories": summary.advisories,
                    "newest_modified": summary.newest_modified,
                    "skipped": summary.skipped,
                },
                indent=2,
            )
        )
    else:
        skipped = f"; {summary.skipped} unreadable records skipped" if summary.skipped else ""
        print(
            f"Advisory mirror {summary.path} updated: {summary.advisories} advisories, snapshot {summary.snapshot}, "
            f"newest advisory modified {summary.newest_modified}{skipped}."
        )
    return 0


def run_status(args: argparse.Namespace) -> int:
    from bastion.core import BastionError
    from bastion.scanners.code.advisories import SourceError, default_database, read_meta

    path = default_database()
    try:
        meta = read_meta(path)
    except SourceError as exc:
        raise BastionError(str(exc)) from None
    status = {
        "path": str(path),
        "snapshot": meta.get("snapshot"),
        "advisories": int(meta.get("advisories", "0")),
        "newest_modified": meta.get("newest_modified"),
        "sources": json.loads(meta.get("sources", "[]")),
    }
    if args.output_format == "json":
        print(json.dumps(status, indent=2))
    else:
        print(
            f"Advisory mirror {path}: {status['advisories']} advisories, snapshot {status['snapshot']}, "
            f"newest advisory modified {status['newest_modified']}."
        )
    return 0
