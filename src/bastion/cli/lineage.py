"""``bastion lineage MODEL:VERSION|RUN``: the chain of steps behind a registered model, back to the raw data digests."""

from __future__ import annotations

import argparse
import json
from typing import Any

from bastion.cli._principal import add_common_options


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "lineage",
        help="the chain of pipeline steps behind a registered model version or a run, back to the raw data digests",
        description=(
            "Follow a registered version (MODEL:VERSION, needs model.read) to the run that produced it, or take a "
            "RUN id, and print the steps its result depends on: what each read and wrote, by SHA-256, back to the "
            "raw project files."
        ),
    )
    parser.add_argument("target", metavar="MODEL:VERSION|RUN")
    add_common_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from bastion.core import BastionError
    from bastion.core.home import bastion_home
    from bastion.pipeline._records import read_record
    from bastion.pipeline.lineage import trace

    model = None
    run_id = args.target
    if ":" in args.target:
        from bastion.cli._principal import open_as_caller

        name, _, version = args.target.rpartition(":")
        registry, caller = open_as_caller(args)
        try:
            shown = registry.show_version(caller, name, version)
        finally:
            registry.close()
        if shown.source_run is None:
            raise BastionError(f"{args.target} was not registered by `bastion run`; it has no recorded lineage")
        model, run_id = f"{shown.name}:{shown.version}", shown.source_run
    lineage = trace(read_record(bastion_home(), run_id))
    if args.output_format == "json":
        print(json.dumps({"model": model, **lineage.to_dict()}, indent=2))
        return 0
    print(f"{model or 'Run ' + lineage.run}: from run {lineage.run}, step {lineage.target}")
    for step in lineage.chain:
        reads = ", ".join(f"{name} {digest[:12]}" for name, digest in {**step.inputs, **step.upstream}.items())
        writes = ", ".join(f"{name} {digest[:12]}" for name, digest in step.outputs.items())
        print(f"  {step.name:<12} {step.status:<7} reads [{reads}] writes [{writes}]")
    print("Raw inputs:")
    for raw in lineage.raw_inputs:
        print(f"  {raw['name']:<24} sha256:{raw['sha256']}  (read by {raw['step']})")
    return 0
