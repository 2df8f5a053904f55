"""``bastion init``: create this instance's state under BASTION_HOME (keyring, audit key, audit log)."""

from __future__ import annotations

import argparse
import json
from typing import Any


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "init",
        help="create the instance's state: keyring, audit key and audit log",
        description=(
            "Create BASTION_HOME (default .bastion/ in the working directory, mode 0700) with the local keyring, the "
            "audit key pair and the audit log. Running it again keeps what exists."
        ),
    )
    parser.add_argument("-f", "--format", dest="output_format", choices=("table", "json"), default="table")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from bastion.audit import AuditLog, AuditSigner, record
    from bastion.audit.signer import PUBLIC_KEY_NAME
    from bastion.core import bastion_home
    from bastion.store.keys import default_keyring_path, init_keyring

    home = bastion_home()
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    keyring = default_keyring_path()
    init_keyring(keyring)
    signer = AuditSigner.open(home / "keys")
    log = AuditLog.at_home()
    log.directory.mkdir(mode=0o700, exist_ok=True)
    record("init", target=str(home))
    public_key = home / "keys" / PUBLIC_KEY_NAME
    if args.output_format == "json":
        document = {
            "home": str(home),
            "keyring": str(keyring),
            "audit_log": str(log.directory),
            "audit_public_key": str(public_key),
            "audit_key_id": signer.key_id,
        }
        print(json.dumps(document, indent=2))
    else:
        print(f"Bastion instance in {home}: keyring {keyring}, audit log {log.directory}.")
        print(f"Keep a copy of the audit public key {public_key} (key {signer.key_id}) outside it for 'bastion audit verify'.")
    return 0
