"""``bastion models``: register signed packages, review and promote their versions, move aliases, read the history.

A thin shell over ``bastion.registry.Registry``: every rule (permissions, signatures, scans, separation of duties) is
enforced there. Exit status: 0 done, 1 refused by a rule, 2 usage error, 3 not authenticated or permission denied.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from bastion.cli._principal import add_common_options, open_as_caller

_STAGES = ("dev", "staging", "prod", "archived")


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "models",
        help="the model registry: register, list, show, approve, reject, promote, alias, history, export",
        description=(
            "The model registry (BASTION_HOME/registry.db, or BASTION_DB_URL). Every subcommand needs an API token "
            "(--token or BASTION_TOKEN) whose roles hold the permission for it. Exit status: 0 done, 1 refused by a "
            "rule, 2 usage error, 3 not authenticated or permission denied."
        ),
    )
    subcommands = parser.add_subparsers(
        title="subcommands", metavar="SUBCOMMAND", dest="subcommand", required=True, parser_class=type(parser)
    )
    add = subcommands.add_parser(
        "register",
        help="register a signed package as the next version of a model (model.register)",
        description=(
            "Register PACKAGE (a 'bastion package build' directory, signed with 'bastion sign') as the next version of "
            "NAME, pending approval, in stage dev. Refused unless the package lies below an allowed artifact root "
            "(BASTION_ARTIFACT_ROOTS; default the working directory and BASTION_HOME), its signature is from a key "
            "trusted with 'bastion keys trust' and covers exactly its files, and its model files re-scan with no "
            "finding at or above high."
        ),
    )
    add.add_argument("package", type=Path, metavar="PACKAGE", help="package directory (OCI layout)")
    add.add_argument("--name", required=True, metavar="NAME", help="the model's name in the registry")
    add.add_argument("--signature", type=Path, metavar="SIG", help="the package's signature (default: PACKAGE.sig)")
    add.add_argument("--source-run", metavar="RUN", help="the pipeline run that produced the package")
    add.add_argument("--tag", action="append", default=[], type=_tag, metavar="KEY=VALUE", help="a tag (repeatable)")
    add_common_options(add)
    add.set_defaults(run=run_register)

    listing = subcommands.add_parser("list", help="list models and their versions (model.read)")
    add_common_options(listing)
    listing.set_defaults(run=run_list)

    show = subcommands.add_parser(
        "show", help="show a model, or one version (model.read)", description="Show NAME, NAME:VERSION or NAME@ALIAS."
    )
    show.add_argument("reference", metavar="NAME[:VERSION|@ALIAS]")
    add_common_options(show)
    show.set_defaults(run=run_show)

    for decision, permission in (("approve", "approves"), ("reject", "rejects")):
        decide = subcommands.add_parser(
            decision,
            help=f"{permission} a version for a stage (model.approve.STAGE)",
            description=(
                f"Record that you {decision} NAME VERSION for STAGE (default prod; an approval for prod also covers "
                "staging). Nobody decides on a version they registered (separation of duties)."
            ),
        )
        decide.add_argument("name", metavar="NAME")
        decide.add_argument("version", type=int, metavar="VERSION")
        decide.add_argument("--stage", choices=("staging", "prod"), default="prod")
        decide.add_argument("--comment", default="", metavar="TEXT")
        add_common_options(decide)
        decide.set_defaults(run=run_decide, decision=decision)

    promote = subcommands.add_parser(
        "promote",
        help="move a version to the next stage, or archive it (model.promote)",
        description=(
            "Move NAME VERSION one stage forward (dev → staging → prod) or to archived. Staging and prod need an "
            "approval for that stage (or prod) by someone other than the version's registrant."
        ),
    )
    promote.add_argument("name", metavar="NAME")
    promote.add_argument("version", type=int, metavar="VERSION")
    promote.add_argument("--to", required=True, choices=_STAGES[1:], metavar="STAGE", help="staging, prod or archived")
    promote.add_argument("--comment", default="", metavar="TEXT")
    add_common_options(promote)
    promote.set_defaults(run=run_promote)

    alias = subcommands.add_parser(
        "alias",
        help="point an alias (@champion) at a version, or remove it (model.promote)",
        description="Point NAME@ALIAS at VERSION, or remove the alias with --remove.",
    )
    alias.add_argument("name", metavar="NAME")
    alias.add_argument("alias", metavar="ALIAS", help="e.g. champion or @champion")
    alias.add_argument("version", type=int, nargs="?", metavar="VERSION")
    alias.add_argument("--remove", action="store_true", help="remove the alias")
    add_common_options(alias)
    alias.set_defaults(run=run_alias)

    history = subcommands.add_parser(
        "history", help="every status, stage and alias change of a model (model.read)", description="Oldest first."
    )
    history.add_argument("name", metavar="NAME")
    add_common_options(history)
    history.set_defaults(run=run_history)

    export = subcommands.add_parser(
        "export",
        help="export an approved version for edge devices, as ONNX (model.deploy)",
        description=(
            "Write NAME VERSION as an ONNX file after the server's admission (approved, signature, model scan, safe "
            "load), checked against the model on the schema's example and rows inside the training ranges with ONNX "
            "Runtime; nothing is written unless they agree."
        ),
    )
    export.add_argument("name", metavar="NAME")
    export.add_argument("version", type=int, metavar="VERSION")
    export.add_argument("--format", dest="export_format", choices=("onnx",), default="onnx", help="the file's format")
    export.add_argument("-o", "--output", type=Path, required=True, metavar="FILE", help="the ONNX file to write")
    export.add_argument("--token", metavar="TOKEN", help="API token (default: $BASTION_TOKEN)")
    export.add_argument("--output-format", dest="output_format", choices=("table", "json"), default="table")
    export.set_defaults(run=run_export)


def run_register(args: argparse.Namespace) -> int:
    registry, caller = open_as_caller(args)
    version = registry.register(
        caller, args.package, args.name, signature=args.signature, source_run=args.source_run, tags=dict(args.tag)
    )
    if args.output_format == "json":
        document = {
            "name": version.name,
            "version": version.version,
            "status": version.status,
            "stage": version.stage,
            "package_digest": version.package_digest,
        }
        print(json.dumps(document, indent=2))
    else:
        print(f"Registered {version.name}:{version.version} ({version.package_digest}), {version.status}, in {version.stage}.")
    return 0


def run_list(args: argparse.Namespace) -> int:
    registry, caller = open_as_caller(args)
    models = registry.list_models(caller)
    if args.output_format == "json":
        print(json.dumps({"models": [model.to_dict() for model in models]}, indent=2))
        return 0
    if not models:
        print("no models registered")
    for model in models:
        aliases = " ".join(f"@{name}={number}" for name, number in model.aliases.items())
        print(f"{model.name}  {len(model.versions)} versions  {aliases}".rstrip())
        for version in model.versions:
            print(
                f"  {version.version:>4}  {version.status:<9} {version.stage:<9} {version.registered_by}  {version.registered_at}"
            )
    return 0


def run_show(args: argparse.Namespace) -> int:
    registry, caller = open_as_caller(args)
    name, separator, version = _split_reference(args.reference)
    if not separator:
        model = registry.show_model(caller, name)
        if args.output_format == "json":
            print(json.dumps(model.to_dict(), indent=2))
        else:
            print(f"{model.name}: {len(model.versions)} versions, created by {model.created_by} at {model.created_at}")
            for alias, number in model.aliases.items():
                print(f"  @{alias} -> {number}")
            for row in model.versions:
                print(f"  {row.version:>4}  {row.status:<9} {row.stage:<9} {row.package_digest}")
        return 0
    shown = registry.show_version(caller, name, version)
    if args.output_format == "json":
        print(json.dumps(shown.to_dict(), indent=2))
        return 0
    print(f"{shown.name}:{shown.version}  {shown.status}  {shown.stage}")
    print(f"  package   {shown.package_digest}  ({shown.artifact_uri})")
    print(f"  signature {shown.signature_digest}  (key {shown.signer_key_id})")
    print(
        f"  registered by {shown.registered_by} at {shown.registered_at}"
        + (f", run {shown.source_run}" if shown.source_run else "")
    )
    for label, values in (("metrics", shown.metrics), ("tags", shown.tags)):
        if values:
            print(f"  {label}: " + ", ".join(f"{key}={value}" for key, value in sorted(values.items())))
    if shown.aliases:
        print("  aliases: " + " ".join(f"@{alias}" for alias in shown.aliases))
    for approval in shown.approvals:
        comment = f": {approval.comment}" if approval.comment else ""
        print(f"  {approval.decision} for {approval.stage} by {approval.by} at {approval.at}{comment}")
    return 0


def run_decide(args: argparse.Namespace) -> int:
    from bastion.registry import Stage

    registry, caller = open_as_caller(args)
    decide = registry.approve if args.decision == "approve" else registry.reject
    decide(caller, args.name, args.version, stage=Stage(args.stage), comment=args.comment)
    status = f"{args.decision}d"  # a version's status is its latest decision
    _done(args, {"name": args.name, "version": args.version, "status": status, "stage": args.stage}, f"{status} for {args.stage}")
    return 0


def run_promote(args: argparse.Namespace) -> int:
    from bastion.registry import Stage

    registry, caller = open_as_caller(args)
    registry.promote(caller, args.name, args.version, Stage(args.to), comment=args.comment)
    _done(args, {"name": args.name, "version": args.version, "stage": args.to}, f"moved to {args.to}")
    return 0


def run_alias(args: argparse.Namespace) -> int:
    from bastion.core import BastionError

    if args.remove == (args.version is not None):
        raise BastionError("give either VERSION or --remove (see 'bastion models alias --help')")
    registry, caller = open_as_caller(args)
    alias = args.alias.removeprefix("@")
    if args.remove:
        registry.remove_alias(caller, args.name, alias)
        _done(args, {"name": args.name, "alias": alias, "version": None}, f"no longer has @{alias}")
    else:
        registry.set_alias(caller, args.name, alias, args.version)
        _done(args, {"name": args.name, "alias": alias, "version": args.version}, f"@{alias} -> {args.version}")
    return 0


def run_history(args: argparse.Namespace) -> int:
    registry, caller = open_as_caller(args)
    events = registry.history(caller, args.name)
    if args.output_format == "json":
        print(json.dumps({"name": args.name, "history": [event.to_dict() for event in events]}, indent=2))
        return 0
    for event in events:
        subject = f" @{event.subject}" if event.subject else ""
        version = f":{event.version}" if event.version is not None else ""
        comment = f"  ({event.comment})" if event.comment else ""
        print(f"{event.at}  {event.actor}  {args.name}{version}  {event.kind}{subject}: {event.old} -> {event.new}{comment}")
    return 0


def run_export(args: argparse.Namespace) -> int:
    from bastion.audit import record
    from bastion.core import BastionError
    from bastion.registry import Permission
    from bastion.serve.admission import AdmissionRefused, admit, version_record
    from bastion.serve.config import ServeConfig
    from bastion.serve.export import export_onnx

    registry, caller = open_as_caller(args)
    registry.check(caller, Permission.MODEL_DEPLOY)
    defaults = ServeConfig(models=())
    try:
        record_of_version = version_record(registry.engine, args.name, args.version)
        served = admit(registry.engine, record_of_version, tolerance=defaults.range_tolerance, max_batch=defaults.max_batch)
    except AdmissionRefused as exc:
        raise BastionError(str(exc), exit_code=1) from None
    report = export_onnx(served, args.output)
    record("model.export", target=f"{args.name}:{args.version}", details=report.to_dict(), actor=caller.name)
    if args.output_format == "json":
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(
            f"Exported {args.name}:{args.version} to {report.output} (ONNX opset {report.opset}; {report.rows_checked} rows "
            f"checked, probabilities within {report.max_probability_difference})"
        )
    return 0


def _done(args: argparse.Namespace, document: dict[str, Any], verb: str) -> None:
    if args.output_format == "json":
        print(json.dumps(document, indent=2))
    else:
        print(f"{args.name}" + (f":{args.version}" if "version" in args and args.version is not None else "") + f" {verb}.")


def _split_reference(reference: str) -> tuple[str, str, str]:
    """``NAME``, ``NAME:VERSION`` or ``NAME@ALIAS`` as (name, separator, version-or-alias)."""
    for separator in (":", "@"):
        name, found, rest = reference.partition(separator)
        if found:
            return name, found, rest if separator == ":" else f"@{rest}"
    return reference, "", ""


def _tag(text: str) -> tuple[str, str]:
    key, separator, value = text.partition("=")
    if not separator or not key:
        raise argparse.ArgumentTypeError(f"not KEY=VALUE: {text!r}")
    return key, value
