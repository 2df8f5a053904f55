"""``bastion store``: put files into the encrypted artifact store, get them back verified, list references."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path
from typing import Any

_WHERE = (
    "The store is BASTION_STORE_URL (default BASTION_HOME/store; s3://bucket/prefix for S3), its keys come from "
    "BASTION_KMS_URL (default: the local keyring of `bastion keys init`)."
)


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "store",
        help="put, get and name artifacts in the encrypted, content-addressed store",
        description=f"The encrypted, content-addressed artifact store. {_WHERE}",
    )
    subcommands = parser.add_subparsers(
        title="subcommands", metavar="SUBCOMMAND", dest="subcommand", required=True, parser_class=type(parser)
    )
    put = subcommands.add_parser(
        "put",
        help="store a file; print its digest",
        description=(
            "Encrypt FILE into the store under its SHA-256 digest and print the digest. Storing content that is "
            f"already there changes nothing. {_WHERE}"
        ),
    )
    put.add_argument("file", type=Path, metavar="FILE")
    put.add_argument("--name", metavar="REF", help="also point the reference REF (e.g. datasets/patients) at it")
    put.add_argument(
        "--retain-until", type=_utc_date, metavar="DATE", help="refuse to delete the blob before this date (YYYY-MM-DD, UTC)"
    )
    put.add_argument("--key", default=None, metavar="NAME", help="key-encryption key to wrap its data key (default: 'default')")
    put.add_argument("-f", "--format", dest="output_format", choices=("table", "json"), default="table")
    put.set_defaults(run=run_put)

    get = subcommands.add_parser(
        "get",
        help="write a blob, verified, to a file",
        description=(
            "Decrypt the blob named by DIGEST (sha256:…) or REF (NAME or NAME@vN) to OUT. The content is checked "
            "against its digest before OUT appears; a damaged blob leaves nothing behind."
        ),
    )
    get.add_argument("address", metavar="DIGEST|REF")
    get.add_argument("-o", "--output", type=Path, required=True, metavar="OUT")
    get.set_defaults(run=run_get)

    refs = subcommands.add_parser(
        "refs",
        help="list references, or one reference's history",
        description="List every reference with its latest version, or, given NAME, every version of NAME.",
    )
    refs.add_argument("name", nargs="?", metavar="NAME")
    refs.add_argument("-f", "--format", dest="output_format", choices=("table", "json"), default="table")
    refs.set_defaults(run=run_refs)


def run_put(args: argparse.Namespace) -> int:
    from bastion.audit import record
    from bastion.core import BastionError
    from bastion.store import DEFAULT_KEY, open_store

    store = open_store(key_name=args.key or DEFAULT_KEY)
    try:
        handle = args.file.open("rb")
    except OSError as exc:
        raise BastionError(f"{args.file}: cannot read: {exc.strerror or exc}") from None
    with handle:
        digest = store.put(handle, retain_until=args.retain_until)
    ref = store.tag(args.name, digest) if args.name else None
    record("store.put", target=digest, details={"file": str(args.file), "ref": f"{ref.name}@v{ref.version}" if ref else None})
    if args.output_format == "json":
        document = {"digest": digest, "ref": ref.to_dict() if ref else None, "store": store.location}
        print(json.dumps(document, indent=2))
    else:
        print(digest if ref is None else f"{digest} {ref.name}@v{ref.version}")
    return 0


def run_get(args: argparse.Namespace) -> int:
    from bastion.audit import record
    from bastion.core import BastionError
    from bastion.store import open_store

    if args.output.is_dir():
        raise BastionError(f"{args.output}: is a directory; give a file name for -o")
    if not args.output.parent.is_dir():
        raise BastionError(f"{args.output.parent}: no such directory for -o; create it first")
    digest = open_store().export(args.address, args.output)
    record("store.get", target=str(args.address), details={"digest": digest, "output": str(args.output)})
    return 0


def run_refs(args: argparse.Namespace) -> int:
    from bastion.store import open_store
    from bastion.store.errors import StoreError

    store = open_store()
    if args.name:
        refs = store.refs.history(args.name)
        if not refs:
            raise StoreError(f"no reference named {args.name!r} in the store at {store.location}")
    else:
        refs = [store.refs.get(name) for name in store.refs.names()]
    if args.output_format == "json":
        print(json.dumps({"store": store.location, "refs": [ref.to_dict() for ref in refs]}, indent=2))
    else:
        for ref in refs:
            print(f"{ref.name}@v{ref.version}  {ref.digest}  {ref.created}")
    return 0


def _utc_date(text: str) -> dt.datetime:
    try:
        return dt.datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=dt.UTC)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; write YYYY-MM-DD") from None
