"""``bastion package``: pack a model with its datasets, code and docs as a KitOps ModelKit (OCI layout), unpack one,
push one to an OCI registry."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "package",
        help="pack model, datasets, code and docs as one OCI artifact (KitOps ModelKit) with an ML-BOM",
        description="Build, unpack and push ModelKit packages: OCI image layouts that KitOps' 'kit' reads.",
    )
    subcommands = parser.add_subparsers(
        title="subcommands", metavar="SUBCOMMAND", dest="subcommand", required=True, parser_class=type(parser)
    )
    build = subcommands.add_parser(
        "build",
        help="pack a directory into an OCI image layout",
        description=(
            "Pack DIR into an OCI image layout at OUT: one reproducible tar layer per Kitfile entry (model, model parts, "
            "code, datasets, docs; KitOps media types, the Kitfile as config) and a CycloneDX 1.6 ML-BOM layer with "
            "the model's file digests and model card. The Kitfile is --kitfile, else DIR's own Kitfile, else one "
            "generated from DIR's contents (and packed as the config). The same inputs always give the same digest. "
            "Nothing is left at OUT on error."
        ),
    )
    build.add_argument("directory", type=Path, metavar="DIR", help="directory holding the model and its files")
    build.add_argument("--kitfile", type=Path, metavar="KITFILE", help="Kitfile naming the entries (paths relative to DIR)")
    build.add_argument(
        "--metrics", type=Path, metavar="JSON", help='performance metrics for the model card: {"accuracy": 0.93, ...}'
    )
    build.add_argument("-o", "--output", type=Path, required=True, metavar="OUT", help="package directory to create")
    build.add_argument("-f", "--format", dest="output_format", choices=("table", "json"), default="table")
    build.set_defaults(run=run_build)
    unpack = subcommands.add_parser(
        "unpack",
        help="extract a package into a directory, checking every digest",
        description=(
            "Extract the package at PACKAGE into DIR, with its Kitfile. Every blob is checked against its digest and "
            "no member may leave its entry's path (no links, no '..'); nothing is left at DIR on error."
        ),
    )
    unpack.add_argument("package", type=Path, metavar="PACKAGE", help="package directory (OCI layout)")
    unpack.add_argument("-o", "--output", type=Path, required=True, metavar="DIR", help="directory to create")
    unpack.add_argument("-f", "--format", dest="output_format", choices=("table", "json"), default="table")
    unpack.set_defaults(run=run_unpack)
    push = subcommands.add_parser(
        "push",
        help="push a package to an OCI registry (needs the 'oras' package)",
        description=(
            "Push the package at PACKAGE to REFERENCE (REGISTRY/REPOSITORY:TAG) with oras, keeping its digest. "
            "Credentials come from the Docker configuration ('docker login' or 'oras login')."
        ),
    )
    push.add_argument("package", type=Path, metavar="PACKAGE", help="package directory (OCI layout)")
    push.add_argument("reference", metavar="REFERENCE", help="REGISTRY/REPOSITORY:TAG, e.g. registry.example.com/ml/churn:1.2")
    push.add_argument("--plain-http", action="store_true", help="talk HTTP, not HTTPS (a registry on localhost)")
    push.add_argument("-f", "--format", dest="output_format", choices=("table", "json"), default="table")
    push.set_defaults(run=run_push)


def run_build(args: argparse.Namespace) -> int:
    from bastion import __version__
    from bastion.audit import record
    from bastion.signing.package import build_package

    built = build_package(args.directory, args.output, args.kitfile, args.metrics)
    record("package.build", target=built.digest, details={"directory": str(args.directory), "package": str(built.path)})
    if args.output_format == "json":
        document = {
            "bastion_version": __version__,
            "package": str(built.path),
            "digest": built.digest,
            "kitfile": built.kitfile_source,
            "layers": [
                {"media_type": layer.media_type, "path": layer.path, "digest": layer.digest, "size": layer.size}
                for layer in built.layers
            ],
        }
        print(json.dumps(document, indent=2))
    else:
        source = {"option": "given", "directory": f"{args.directory}'s own", "generated": "generated"}[built.kitfile_source]
        print(f"Built {built.path} ({len(built.layers)} layers, Kitfile {source}): {built.digest}")
        for layer in built.layers:
            print(f"  {layer.path}  {layer.media_type}  {layer.digest}")
    return 0


def run_unpack(args: argparse.Namespace) -> int:
    from bastion import __version__
    from bastion.signing.package import unpack_package

    package = unpack_package(args.package, args.output)
    if args.output_format == "json":
        document = {
            "bastion_version": __version__,
            "package": str(args.package),
            "digest": package.digest,
            "output": str(args.output),
        }
        print(json.dumps(document, indent=2))
    else:
        print(f"Unpacked {args.package} ({package.digest}) into {args.output}")
    return 0


def run_push(args: argparse.Namespace) -> int:
    from bastion import __version__
    from bastion.signing.push import push_package

    pushed = push_package(args.package, args.reference, plain_http=args.plain_http)
    if args.output_format == "json":
        document = {"bastion_version": __version__, "reference": args.reference, "digest": pushed}
        print(json.dumps(document, indent=2))
    else:
        print(f"Pushed {args.package} to {args.reference}: {pushed}")
    return 0
