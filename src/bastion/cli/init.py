"""``bastion init``: create this instance's state under BASTION_HOME (keyring, audit key, audit log, signing key pair,
registry database) and the registry's first admin, whose token it prints once."""

from __future__ import annotations

import argparse
import json
from typing import Any


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
    parser.add_argument("-f", "--format", dest="output_format", choices=("table", "json"), default="table")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from bastion.audit import AuditLog, AuditSigner, record
    from bastion.audit.signer import PUBLIC_KEY_NAME
    from bastion.core import bastion_home
    from bastion.registry import Registry
    from bastion.signing import generate_key_pair
    from bastion.signing.keys import PRIVATE_KEY_FILE, PUBLIC_KEY_FILE
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
    signing = home / "keys" / "signing"
    if not (signing / PRIVATE_KEY_FILE).exists():
        generate_key_pair(signing)
    registry = Registry.open(create=True)
    admin = registry.create_first_admin(args.admin)
    if admin is not None:
        registry.trust_key(registry.authenticate(admin.token), signing / PUBLIC_KEY_FILE)
    if args.output_format == "json":
        document = {
            "home": str(home),
            "keyring": str(keyring),
            "audit_log": str(log.directory),
            "audit_public_key": str(public_key),
            "audit_key_id": signer.key_id,
            "signing_key": str(signing / PRIVATE_KEY_FILE),
            "database": registry.engine.url.render_as_string(hide_password=True),
            "admin": args.admin if admin else None,
            "token": admin.token if admin else None,
        }
        print(json.dumps(document, indent=2))
    else:
        print(f"Bastion instance in {home}: keyring {keyring}, audit log {log.directory}.")
        print(f"Keep a copy of the audit public key {public_key} (key {signer.key_id}) outside it for 'bastion audit verify'.")
        if admin is None:
            print("The registry already has users; no token printed (an admin adds users with 'bastion users add').")
        else:
            print(f"Sign packages with {signing / PRIVATE_KEY_FILE}; the registry trusts its public key.")
            print(f"Registry admin {admin.user!r}: API token (shown only now; export it as BASTION_TOKEN):")
            print(admin.token)
    return 0
