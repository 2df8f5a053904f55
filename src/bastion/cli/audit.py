"""``bastion audit``: query, checkpoint, prove and verify the tamper-evident audit log."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bastion.core import BastionError

if TYPE_CHECKING:
    from bastion.audit import HashChainedLog


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "audit",
        help="query and verify the audit log",
        description=(
            "The audit log under BASTION_HOME/audit, or the team's shared one at BASTION_AUDIT_URL (s3://BUCKET/PREFIX): "
            "every recorded action, hash-chained, with signed Merkle checkpoints."
        ),
    )
    subcommands = parser.add_subparsers(
        title="subcommands", metavar="SUBCOMMAND", dest="subcommand", required=True, parser_class=type(parser)
    )
    log = subcommands.add_parser("log", help="list recorded actions", description="List recorded actions, oldest first.")
    log.add_argument("--since", type=_since, metavar="WHEN", help="only actions at or after this ISO date or time (UTC)")
    log.add_argument("--actor", metavar="NAME", help="only actions by this principal")
    log.add_argument("--action", metavar="NAME", help="only this action (e.g. scan, register, approve)")
    log.add_argument(
        "-f",
        "--format",
        dest="output_format",
        choices=("table", "json", "jsonl"),
        default="table",
        help="jsonl prints the entries as stored, one per line (for ELK and other log shippers)",
    )
    log.set_defaults(run=run_log)

    verify = subcommands.add_parser(
        "verify",
        help="check the hash chain and the signed checkpoints",
        description=(
            "Check every entry's hash and link and every checkpoint's root and signature. Exit status 0 when the log "
            "is intact, 1 naming the first bad entry. Give --key a copy of the audit public key kept outside "
            "BASTION_HOME: whoever can rewrite the log can also replace the key stored beside it."
        ),
    )
    verify.add_argument("--key", type=Path, metavar="PUBLIC.pem", help="audit public key (default: BASTION_HOME/keys)")
    verify.add_argument("-f", "--format", dest="output_format", choices=("table", "json"), default="table")
    verify.set_defaults(run=run_verify)

    checkpoint = subcommands.add_parser(
        "checkpoint", help="sign a checkpoint over every entry so far", description="Sign the Merkle root of the log now."
    )
    checkpoint.add_argument("-f", "--format", dest="output_format", choices=("table", "json"), default="table")
    checkpoint.set_defaults(run=run_checkpoint)

    prove = subcommands.add_parser(
        "prove",
        help="inclusion proof of one entry under the latest checkpoint",
        description="Print the RFC 6962 audit path that proves entry SEQ is under the latest signed checkpoint.",
    )
    prove.add_argument("seq", type=int, metavar="SEQ", help="the entry's number (0-based)")
    prove.add_argument("-f", "--format", dest="output_format", choices=("table", "json"), default="table")
    prove.set_defaults(run=run_prove)


def run_log(args: argparse.Namespace) -> int:
    log = _existing_log()
    since: dt.datetime | None = args.since
    shown = 0
    for entry in log.entries():
        if since is not None and dt.datetime.fromisoformat(entry.time) < since:
            continue
        if (args.actor and entry.actor != args.actor) or (args.action and entry.action != args.action):
            continue
        if args.output_format == "table":
            target = f" {entry.target}" if entry.target else ""
            print(f"{entry.seq:>7}  {entry.time}  {entry.actor}  {entry.action}{target}  {entry.outcome}")
        else:
            print(json.dumps(entry.to_dict(), sort_keys=True) if args.output_format == "jsonl" else json.dumps(entry.to_dict()))
        shown += 1
    if args.output_format == "table" and not shown:
        print("no recorded actions match", file=sys.stderr)
    return 0


def run_verify(args: argparse.Namespace) -> int:
    from bastion.audit import load_public_key, verify_log
    from bastion.audit.signer import PUBLIC_KEY_NAME
    from bastion.core import bastion_home

    log = _existing_log()
    key = load_public_key(args.key or bastion_home() / "keys" / PUBLIC_KEY_NAME)
    result = verify_log(log, key)
    if args.output_format == "json":
        print(json.dumps(result.to_dict(), indent=2))
    elif result.intact:
        torn = f"; {result.torn_tail} bytes of an interrupted write at the end (not an entry)" if result.torn_tail else ""
        print(f"intact: {result.entries} entries, {result.checkpoints} signed checkpoints verified{torn}")
    else:
        print(f"TAMPERED: {result.problem}")
    return 0 if result.intact else 1


def run_checkpoint(args: argparse.Namespace) -> int:
    from bastion.audit import AuditSigner
    from bastion.core import bastion_home

    checkpoint = _existing_log().checkpoint(AuditSigner.open(bastion_home() / "keys"))
    if args.output_format == "json":
        print(json.dumps(checkpoint.to_dict(), indent=2))
    else:
        print(f"checkpoint: {checkpoint.size} entries, root {checkpoint.root}, key {checkpoint.key_id}")
    return 0


def run_prove(args: argparse.Namespace) -> int:
    from bastion.audit import prove_inclusion

    proof = prove_inclusion(_existing_log(), args.seq)
    if args.output_format == "json":
        print(json.dumps(proof.to_dict(), indent=2))
    else:
        print(f"entry {proof.seq} (hash {proof.leaf}) is under the checkpoint of {proof.checkpoint.size} entries")
        print(f"root {proof.checkpoint.root}; audit path of {len(proof.path)} hashes ({32 * len(proof.path)} bytes):")
        for node in proof.path:
            print(f"  {node}")
    return 0


def _existing_log() -> HashChainedLog:
    from bastion.audit import keeps_log, open_log
    from bastion.core import bastion_home

    if not keeps_log():
        raise BastionError(
            f"{bastion_home() / 'audit'}: no audit log here; run 'bastion init', or set BASTION_HOME or BASTION_AUDIT_URL"
        )
    return open_log()


def _since(text: str) -> dt.datetime:
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date or time: {text!r} (e.g. 2026-11-01 or 2026-11-01T09:30)") from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)
