"""``bastion sign``: sign a model file or directory (OpenSSF Model Signing v1.0, verifiable with ``model_signing``)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "sign",
        help="sign a model file or directory with a private key (OMS v1.0)",
        description=(
            "Sign a model file or directory in the OpenSSF Model Signing (OMS) v1.0 format: a Sigstore bundle holding "
            "the SHA-256 of every file, signed with an EC private key (see 'bastion keys generate'). An encrypted key "
            "is opened with the passphrase in BASTION_KEY_PASSPHRASE. Git metadata and the signature file itself are "
            "not signed; symbolic links out of the model are refused."
        ),
    )
    parser.add_argument("path", type=Path, metavar="PATH", help="model file or directory")
    parser.add_argument("--key", type=Path, required=True, metavar="PRIVATE.pem", help="EC private key (PEM)")
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
    from bastion.signing import default_signature_path, passphrase_from_environment, sign_model

    signature = args.signature or default_signature_path(args.path)
    signed = sign_model(args.path, args.key, signature, passphrase_from_environment(), shard_size=args.shard_size)
    listing = signed.manifest.serialization
    files = len({listing.file_of(resource.name) for resource in signed.manifest.resources})
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
