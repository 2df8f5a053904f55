"""``bastion verify``: check a model file or directory against its OMS signature."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "verify",
        help="check a model file or directory against its signature",
        description=(
            "Check a model file or directory against its OpenSSF Model Signing (OMS) v1.0 signature, made by "
            "'bastion sign' or 'model_signing sign key'. Exit status: 0 when the signature holds and no file changed, "
            "1 when a file changed, was added or is missing or the signature does not hold, 2 on a usage error."
        ),
    )
    parser.add_argument("path", type=Path, metavar="PATH", help="model file or directory")
    parser.add_argument("--key", type=Path, required=True, metavar="PUBLIC.pem", help="EC public key (PEM)")
    parser.add_argument("--signature", type=Path, metavar="SIG", help="the signature to check (default: PATH.sig)")
    parser.add_argument("-f", "--format", dest="output_format", choices=("table", "json"), default="table")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from bastion import __version__
    from bastion.signing import default_signature_path, verify_model

    signature = args.signature or default_signature_path(args.path)
    result = verify_model(args.path, args.key, signature)
    if args.output_format == "json":
        document = {
            "bastion_version": __version__,
            "path": str(args.path),
            "signature": str(result.signature),
            "valid": result.valid,
            "problem": result.problem,
            "changed": list(result.diff.changed),
            "added": list(result.diff.added),
            "missing": list(result.diff.missing),
            "digest": {"sha256": result.manifest.root_digest} if result.manifest else None,
        }
        print(json.dumps(document, indent=2))
    elif result.valid:
        print(f"Verified {args.path}: signature {signature} holds, no file changed.")
    if not result.valid:
        sys.stderr.write(f"bastion: invalid: {args.path}: {result.summary()}\n")
        return 1
    return 0
