"""``bastion keys``: manage the keys that protect data (``init`` creates the local keyring)."""

from __future__ import annotations

import argparse
from typing import Any


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "keys",
        help="manage encryption and pseudonymization keys",
        description="Manage the keys that encrypt artifacts and key pseudonyms.",
    )
    subcommands = parser.add_subparsers(
        title="subcommands", metavar="SUBCOMMAND", dest="subcommand", required=True, parser_class=type(parser)
    )
    init = subcommands.add_parser(
        "init",
        help="create the local keyring (BASTION_HOME/keys/keyring.json, mode 0600)",
        description=(
            "Create the local keyring, BASTION_HOME/keys/keyring.json (BASTION_HOME defaults to .bastion/), "
            "readable by you only, holding a new 256-bit key; or add a key to it. Existing keys are never replaced."
        ),
    )
    init.add_argument("--name", default=None, metavar="NAME", help="name of the key to create (default: 'default')")
    init.set_defaults(run=run_init)


def run_init(args: argparse.Namespace) -> int:
    from bastion.store.keys import DEFAULT_KEY, InitOutcome, default_keyring_path, init_keyring

    path = default_keyring_path()
    name = args.name or DEFAULT_KEY
    outcome = init_keyring(path, name)
    if outcome is InitOutcome.CREATED:
        print(f"Created keyring {path} (mode 0600) with key {name!r}.")
    elif outcome is InitOutcome.ADDED:
        print(f"Added key {name!r} to keyring {path}.")
    else:
        print(f"Key {name!r} already exists in keyring {path}; nothing changed.")
    return 0
