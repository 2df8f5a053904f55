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
            "1 when a file changed, was added or is missing or the signature does not hold, 2 on a usage error. "
            "With --keyless, --identity and --issuer instead of --key, checks a Sigstore keyless signature (needs "
            "network access to Sigstore and pip install 'bastion-mlsecops[sigstore]'; exit status 2 when unreachable)."
        ),
    )
    parser.add_argument("path", type=Path, metavar="PATH", help="model file or directory")
    checker = parser.add_mutually_exclusive_group(required=True)
    checker.add_argument("--key", type=Path, metavar="PUBLIC.pem", help="EC public key (PEM)")
    checker.add_argument("--keyless", action="store_true", help="a Sigstore keyless signature (online only)")
    parser.add_argument("--identity", metavar="EMAIL_OR_URI", help="with --keyless: who must have signed")
    parser.add_argument("--issuer", metavar="URL", help="with --keyless: the OIDC issuer of the signer's identity")
    parser.add_argument("--signature", type=Path, metavar="SIG", help="the signature to check (default: PATH.sig)")
    parser.add_argument("-f", "--format", dest="output_format", choices=("table", "json"), default="table")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from bastion import __version__
    from bastion.audit import record
    from bastion.core import BastionError
    from bastion.signing import default_signature_path, verify_model

    signature = args.signature or default_signature_path(args.path)
    if not args.keyless:
        if args.identity or args.issuer:
            raise BastionError("--identity and --issuer go with --keyless, not --key")
        result = verify_model(args.path, args.key, signature)
    elif not (args.identity and args.issuer):
        raise BastionError("--keyless needs --identity EMAIL_OR_URI and --issuer URL: who must have signed, and where")
    else:
        from bastion.signing.keyless import verify_keyless

        result = verify_keyless(args.path, signature, identity=args.identity, issuer=args.issuer)
    details = {"signature": str(result.signature), "problem": result.problem}
    record("verify", target=str(args.path), outcome="ok" if result.valid else "fail", details=details)
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
