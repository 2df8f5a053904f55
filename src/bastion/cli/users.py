"""``bastion users``: add a registry user with roles and print its first token, once."""

from __future__ import annotations

import argparse
import json
from typing import Any

from bastion.cli._principal import add_common_options, open_as_caller


def register(commands: Any) -> None:
    parser = commands.add_parser("users", help="manage registry users", description="Manage the registry's users.")
    subcommands = parser.add_subparsers(
        title="subcommands", metavar="SUBCOMMAND", dest="subcommand", required=True, parser_class=type(parser)
    )
    add = subcommands.add_parser(
        "add",
        help="add a user with roles and print its token once (user.manage)",
        description=(
            "Create the user NAME with the given roles (shipped: admin, ml-engineer, data-scientist, approver, mlops, "
            "auditor) and print its API token. The token is shown only now: the registry keeps only its SHA-256."
        ),
    )
    add.add_argument("name", metavar="NAME")
    add.add_argument("--role", action="append", required=True, metavar="ROLE", help="a role to grant (repeatable)")
    add_common_options(add)
    add.set_defaults(run=run_add)


def run_add(args: argparse.Namespace) -> int:
    registry, caller = open_as_caller(args)
    issued = registry.add_user(caller, args.name, args.role)
    if args.output_format == "json":
        print(json.dumps(issued.to_dict(), indent=2))
    else:
        print(f"Added {issued.user} ({', '.join(issued.roles)}). Token {issued.token_id}, shown only now:")
        print(issued.token)
    return 0
