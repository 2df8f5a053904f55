"""``bastion keys``: manage the keys that protect data (``init`` creates the local keyring, ``rotate`` rotates a key)
and sign models (``generate``)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "keys",
        help="manage encryption, pseudonymization and model-signing keys",
        description="Manage the keys that encrypt artifacts, key pseudonyms and sign models.",
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
    rotate = subcommands.add_parser(
        "rotate",
        help="rotate a key-encryption key and re-wrap the store's data keys with it",
        description=(
            "Make a new version of the key-encryption key NAME current in the key provider (BASTION_KMS_URL) and "
            "re-wrap with it every data key in the store (BASTION_STORE_URL) wrapped by an older version. The "
            "encrypted blobs are not rewritten; older versions stay usable for data encrypted outside the store."
        ),
    )
    rotate.add_argument("--name", default=None, metavar="NAME", help="name of the key to rotate (default: 'default')")
    rotate.add_argument("-f", "--format", dest="output_format", choices=("table", "json"), default="table")
    rotate.set_defaults(run=run_rotate)
    generate = subcommands.add_parser(
        "generate",
        help="create a signing key pair (DIR/private.pem, mode 0600, and DIR/public.pem)",
        description=(
            "Create an EC P-256 key pair for 'bastion sign' and 'bastion verify': DIR/private.pem (PKCS#8, readable by "
            "you only; encrypted with the passphrase in BASTION_KEY_PASSPHRASE when it is set) and DIR/public.pem. "
            "Existing keys are never replaced."
        ),
    )
    generate.add_argument("--out", type=Path, required=True, metavar="DIR", help="directory to write the key pair to")
    generate.add_argument("-f", "--format", dest="output_format", choices=("table", "json"), default="table")
    generate.set_defaults(run=run_generate)
    trust = subcommands.add_parser(
        "trust",
        help="accept package signatures made with this public key in the registry (key.trust)",
        description=(
            "Add the EC public key PUBLIC.pem to the signers whose packages 'bastion models register' accepts. Needs an "
            "API token (--token or BASTION_TOKEN) holding key.trust (admin)."
        ),
    )
    trust.add_argument("public_key", type=Path, metavar="PUBLIC.pem", help="EC public key (PEM)")
    trust.add_argument("--token", metavar="TOKEN", help="API token (default: $BASTION_TOKEN)")
    trust.add_argument("-f", "--format", dest="output_format", choices=("table", "json"), default="table")
    trust.set_defaults(run=run_trust)


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


def run_rotate(args: argparse.Namespace) -> int:
    from bastion.store import DEFAULT_KEY, open_store

    store = open_store()
    rotation = store.rotate_key(args.name or DEFAULT_KEY)
    if args.output_format == "json":
        document = {
            "key": rotation.key_name,
            "version": rotation.version,
            "rewrapped": rotation.rewrapped,
            "store": store.location,
        }
        print(json.dumps(document, indent=2))
    else:
        print(
            f"Rotated key {rotation.key_name!r} to version {rotation.version}; "
            f"re-wrapped {rotation.rewrapped} data keys in {store.location}."
        )
    return 0


def run_generate(args: argparse.Namespace) -> int:
    from bastion.signing import generate_key_pair, passphrase_from_environment

    pair = generate_key_pair(args.out, passphrase_from_environment())
    if args.output_format == "json":
        document = {"private_key": str(pair.private_key), "public_key": str(pair.public_key), "encrypted": pair.encrypted}
        print(json.dumps(document, indent=2))
    else:
        protection = "encrypted with BASTION_KEY_PASSPHRASE" if pair.encrypted else "not encrypted"
        print(f"Created {pair.private_key} (mode 0600, {protection}) and {pair.public_key}.")
    return 0


def run_trust(args: argparse.Namespace) -> int:
    from bastion.cli._principal import open_as_caller

    registry, caller = open_as_caller(args)
    key_id = registry.trust_key(caller, args.public_key)
    if args.output_format == "json":
        print(json.dumps({"public_key": str(args.public_key), "key_id": key_id, "trusted": True}, indent=2))
    else:
        print(f"Trusted {args.public_key} (key {key_id}): the registry accepts packages it signs.")
    return 0
