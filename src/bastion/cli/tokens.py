"""``bastion tokens``: revoke an API token."""

from __future__ import annotations

import argparse
import json
from typing import Any

from bastion.cli._principal import add_common_options, open_as_caller


def register(commands: Any) -> None:
    parser = commands.add_parser("tokens", help="manage registry API tokens", description="Manage the registry's API tokens.")
    subcommands = parser.add_subparsers(
        title="subcommands", metavar="SUBCOMMAND", dest="subcommand", required=True, parser_class=type(parser)
    )
    revoke = subcommands.add_parser(
        "revoke",
        help="revoke a token (your own, or anyone's with user.manage)",
        description=(
            "Revoke the token TOKEN_ID (the 12 hex digits after 'bst_', printed when the token was issued). It stops "
            "working at once. Your own token needs no permission; anyone else's needs user.manage."
        ),
    )
    revoke.add_argument("token_id", metavar="TOKEN_ID")
    add_common_options(revoke)
    revoke.set_defaults(run=run_revoke)


def run_revoke(args: argparse.Namespace) -> int:
    registry, caller = open_as_caller(args)
    registry.revoke_token(caller, args.token_id)
    if args.output_format == "json":
        print(json.dumps({"token_id": args.token_id, "revoked": True}, indent=2))
    else:
        print(f"Revoked token {args.token_id}.")
    return 0
