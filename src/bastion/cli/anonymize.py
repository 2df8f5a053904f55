"""``bastion anonymize``: write a dataset's anonymized copy, as an ``anon.yaml`` policy says; with ``--decrypt``,
write an anonymized copy back with its encrypted columns decrypted."""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bastion.privacy import AnonymizeReport, DecryptReport, KAnonymity

FORMATS = ("table", "json")


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "anonymize",
        help="write an anonymized copy of a dataset (drop, mask, pseudonymize, generalize, encrypt, redact)",
        description=(
            "Write an anonymized copy of a CSV, TSV, Parquet or JSON Lines dataset, in the same format, as the policy "
            "says for each column, and report k-anonymity over the policy's quasi-identifiers before and after. The "
            "output is written atomically and the input is never modified. Exit status: 0 when written, 1 when the "
            "result would miss the policy's k target (nothing is written), 2 on a usage error. With --decrypt, "
            "IN is an anonymized output: its encrypted columns are decrypted with the data key file written beside "
            "it, unwrapped by the key provider, and the result is written atomically to OUT."
        ),
    )
    parser.add_argument("input", type=Path, metavar="IN", help="dataset to anonymize")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="OUT", help="where to write the anonymized copy")
    parser.add_argument("--policy", type=Path, metavar="ANON_YAML", help="anonymization policy (anon.yaml)")
    parser.add_argument(
        "--decrypt", action="store_true", help="decrypt the encrypted columns of an anonymized IN instead (no policy)"
    )
    parser.add_argument(
        "--data-key", type=Path, metavar="FILE", help="with --decrypt: the data key file (default: IN.datakey.json)"
    )
    parser.add_argument("-f", "--format", dest="output_format", choices=FORMATS, default="table", help="report format")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from bastion.audit import record
    from bastion.core import BastionError
    from bastion.privacy import anonymize, load_anon_policy

    if args.decrypt:
        if args.policy is not None:
            raise BastionError("--decrypt takes no --policy: the data key file lists the columns to decrypt")
        return _decrypt(args)
    if args.data_key is not None:
        raise BastionError("--data-key goes with --decrypt; anonymizing writes the data key file itself")
    if args.policy is None:
        raise BastionError("the --policy ANON_YAML option is required (or --decrypt to reverse encryption)")
    policy = load_anon_policy(args.policy)
    report = anonymize(args.input, args.output, policy)
    outcome = "ok" if report.written else "refused"
    record("anonymize", target=str(args.output), outcome=outcome, details={"input": str(args.input), "policy": str(args.policy)})
    if args.output_format == "json":
        from bastion import __version__

        sys.stdout.write(json.dumps({"bastion_version": __version__, **report.to_dict()}, indent=2) + "\n")
    else:
        sys.stdout.write(_table(report, color=sys.stdout.isatty()))
    return 0 if report.written else 1


def _decrypt(args: argparse.Namespace) -> int:
    from bastion.audit import record
    from bastion.privacy import decrypt

    report = decrypt(args.input, args.output, data_key_file=args.data_key)
    record("anonymize.decrypt", target=str(args.output), details={"input": str(args.input)})
    if args.output_format == "json":
        from bastion import __version__

        sys.stdout.write(json.dumps({"bastion_version": __version__, **report.to_dict()}, indent=2) + "\n")
    else:
        sys.stdout.write(_decrypt_text(report))
    return 0


def _decrypt_text(report: DecryptReport) -> str:
    columns = ", ".join(report.columns) or "no columns"
    return f"Decrypted {columns} with the data key in {report.data_key_file}; wrote {report.rows} row(s) to {report.output}.\n"


def _table(report: AnonymizeReport, *, color: bool) -> str:
    from rich.console import Console
    from rich.table import Table

    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=color, no_color=not color, width=None if color else 120, highlight=False)
    table = Table(title=f"{report.input} → {report.output} ({report.format})", title_justify="left")
    table.add_column("Column", overflow="fold")
    table.add_column("Action")
    table.add_column("Detail", overflow="fold")
    for column in report.columns:
        table.add_row(column.column, column.action, column.detail)
    console.print(table, markup=False)
    if report.k_before is not None and report.k_after is not None:
        console.print(f"k-anonymity before: {_k(report.k_before)}", markup=False)
        console.print(f"k-anonymity after:  {_k(report.k_after)}", markup=False)
    if report.written:
        console.print(f"Wrote {report.rows} row(s) to {report.output}.", markup=False)
        if report.data_key_file is not None:
            console.print(f"The wrapped data key of the encrypted columns is in {report.data_key_file}.", markup=False)
    else:
        assert report.k_after is not None  # only a missed k target stops the write
        console.print(
            f"[bold red]Not written[/]: k = {report.k_after.k} is below the policy's target {report.k_after.target}; "
            "generalize the quasi-identifiers further (wider bins, shorter ZIP prefixes, years instead of dates)."
        )
    return buffer.getvalue()


def _k(measured: KAnonymity) -> str:
    over = ", ".join(measured.quasi_identifiers) or "no remaining quasi-identifiers"
    text = f"k = {measured.k} over {over} ({measured.classes} classes"
    if measured.target is not None:
        text += f"; {measured.classes_below} below {measured.target}, holding {measured.rows_below} rows"
    return text + ")"
