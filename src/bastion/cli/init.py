"""``bastion init``: create this instance's state under BASTION_HOME (keyring, audit key, audit log, signing key pair,
registry database) and the registry's first admin, whose token it prints once."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from bastion.core import BastionError


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "init",
        help="create the instance's state: keyring, audit key, audit log, signing key, registry and its first admin",
        description=(
            "Create BASTION_HOME (default .bastion/ in the working directory, mode 0700) with the local keyring, the "
            "audit key pair, the audit log, the instance's package-signing key pair (keys/signing/, trusted by the "
            "registry) and the registry database (registry.db, mode 0600, or BASTION_DB_URL), and create the "
            "registry's first admin, printing its API token once. Running it again keeps what exists."
        ),
    )
    parser.add_argument("--admin", default="admin", metavar="NAME", help="name of the first admin (default: admin)")
    parser.add_argument(
        "--template",
        choices=("tabular",),
        help="instead: write a starter project (commented bastion.yaml, gate and anonymization policies, train.py, data)",
    )
    parser.add_argument("directory", nargs="?", type=Path, metavar="DIR", help="with --template: where (default: .)")
    parser.add_argument("-f", "--format", dest="output_format", choices=("table", "json"), default="table")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.template is not None:
        return _write_template(args)
    if args.directory is not None:
        raise BastionError(f"{args.directory}: a directory is for --template; `bastion init` alone uses BASTION_HOME")
    from bastion.pipeline.instance import init_instance

    instance = init_instance(args.admin)
    if args.output_format == "json":
        document = {
            "home": str(instance.home),
            "keyring": str(instance.keyring),
            "audit_log": instance.audit_log,
            "audit_public_key": str(instance.audit_public_key),
            "audit_key_id": instance.audit_key_id,
            "signing_key": str(instance.signing_key),
            "database": instance.database,
            "admin": instance.admin,
            "token": instance.admin_token,
        }
        print(json.dumps(document, indent=2))
    else:
        print(f"Bastion instance in {instance.home}: keyring {instance.keyring}, audit log {instance.audit_log}.")
        print(
            f"Keep a copy of the audit public key {instance.audit_public_key} (key {instance.audit_key_id}) outside it "
            "for 'bastion audit verify'."
        )
        if instance.admin_token is None:
            print("The registry already has users; no token printed (an admin adds users with 'bastion users add').")
        else:
            print(f"Sign packages with {instance.signing_key}; the registry trusts its public key.")
            print(f"Registry admin {instance.admin!r}: API token (shown only now; export it as BASTION_TOKEN):")
            print(instance.admin_token)
    return 0


def _write_template(args: argparse.Namespace) -> int:
    from bastion.pipeline.starter import write_starter

    directory = args.directory or Path()
    written = write_starter(args.template, directory)
    if args.output_format == "json":
        print(json.dumps({"template": args.template, "directory": str(directory), "files": [str(p) for p in written]}, indent=2))
        return 0
    print(f"Starter {args.template} project written to {directory}:")
    for path in written:
        print(f"  {path}")
    print(f"Next: cd {directory} && bastion init && bastion run (export BASTION_TOKEN to register the model).")
    return 0
