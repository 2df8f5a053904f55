"""``bastion sign``: sign a model file or directory (OpenSSF Model Signing v1.0, verifiable with ``model_signing``)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "sign",
        help="sign a model file or directory with a private key or Sigstore keyless (OMS v1.0)",
        description=(
            "Sign a model file or directory in the OpenSSF Model Signing (OMS) v1.0 format: a Sigstore bundle holding "
            "the SHA-256 of every file, signed with an EC private key (see 'bastion keys generate'). An encrypted key "
            "is opened with the passphrase in BASTION_KEY_PASSPHRASE. Git metadata and the signature file itself are "
            "not signed; symbolic links out of the model are refused. With --keyless instead of --key, Sigstore "
            "signs for an OIDC identity (needs network access to Sigstore and "
            "pip install 'bastion-mlsecops[sigstore]'); exit status 2 when that fails, and nothing is written."
        ),
    )
    parser.add_argument("path", type=Path, metavar="PATH", help="model file or directory")
    signer = parser.add_mutually_exclusive_group(required=True)
    signer.add_argument("--key", type=Path, metavar="PRIVATE.pem", help="EC private key (PEM)")
    signer.add_argument(
        "--keyless",
        action="store_true",
        help="Sigstore keyless signing: a Fulcio certificate for your OIDC identity, logged in Rekor (online only)",
    )
    parser.add_argument(
        "--identity-token",
        metavar="TOKEN",
        help="with --keyless: the OIDC identity token to sign with (default: ambient CI credentials)",
    )
    parser.add_argument(
        "--oauth",
        action="store_true",
        help="with --keyless and no token: sign in with a browser to get one",
    )
    parser.add_argument("--signature", type=Path, metavar="SIG", help="where to write the signature (default: PATH.sig)")
    parser.add_argument(
        "--shard-size",
        type=int,
        metavar="BYTES",
        help=(
            "hash files in slices of BYTES (OMS 'shards' method) so that one big file is hashed on every core; "
            "the model_signing API verifies such signatures, its CLI only the default per-file ones"
        ),
    )
    parser.add_argument("-f", "--format", dest="output_format", choices=("table", "json"), default="table")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from bastion import __version__
    from bastion.audit import record
    from bastion.core import BastionError
    from bastion.signing import default_signature_path, passphrase_from_environment, sign_model

    signature = args.signature or default_signature_path(args.path)
    if not args.keyless:
        if args.identity_token or args.oauth:
            raise BastionError("--identity-token and --oauth go with --keyless, not --key")
        signed = sign_model(args.path, args.key, signature, passphrase_from_environment(), shard_size=args.shard_size)
    elif args.shard_size is not None:
        raise BastionError("--shard-size goes with --key; keyless signatures hash whole files")
    else:
        from bastion.signing.keyless import sign_keyless

        signed = sign_keyless(args.path, signature, identity_token=args.identity_token, oauth=args.oauth)
    listing = signed.manifest.serialization
    files = len({listing.file_of(resource.name) for resource in signed.manifest.resources})
    details = {"signature": str(signed.signature), "files": files, "keyless": args.keyless, "digest": signed.manifest.root_digest}
    record("sign", target=str(args.path), details=details)
    if args.output_format == "json":
        document = {
            "bastion_version": __version__,
            "path": str(args.path),
            "signature": str(signed.signature),
            "digest": {"sha256": signed.manifest.root_digest},
            "method": listing.method,
            "resources": [{"name": r.name, "sha256": r.digest} for r in signed.manifest.resources],
        }
        print(json.dumps(document, indent=2))
    else:
        print(f"Signed {args.path} ({files} file{'s' if files != 1 else ''}): {signed.signature}")
    return 0
