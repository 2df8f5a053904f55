"""``bastion predict MODEL INPUT -o OUTPUT``: batch scoring with the server's admission, Parquet or CSV in and out.

Exit status: 0 done, 1 refused by admission, 2 usage error or an input that cannot be scored, 3 not authenticated or
permission denied.
"""

from __future__ import annotations

import argparse
import contextlib
import json
from collections.abc import Iterator
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

from bastion.cli._principal import add_common_options, open_as_caller


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "predict",
        help="score a Parquet or CSV file with an approved model (batch)",
        description=(
            "Score INPUT (Parquet or CSV, by content) with MODEL (NAME, NAME@STAGE, NAME@ALIAS or NAME:VERSION; default "
            "the newest version in prod) into OUTPUT (.parquet or .csv): the input's columns, then prediction and score. "
            "The model passes the server's admission first (approved, signature from a trusted key, model scan, safe "
            "load). Needs model.predict. Exit status: 0 done, 1 refused by admission, 2 usage error or an input that "
            "cannot be scored, 3 not authenticated or permission denied."
        ),
    )
    parser.add_argument("model", metavar="MODEL")
    parser.add_argument("input", type=Path, metavar="INPUT")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="OUTPUT", help=".parquet or .csv")
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="score on a Dask cluster (tcp://HOST:PORT, or local for one on this machine); workers see the same files",
    )
    add_common_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from bastion.audit import record
    from bastion.core import BastionError
    from bastion.registry import Permission
    from bastion.serve.admission import AdmissionRefused, admit, resolve
    from bastion.serve.batch import predict_file
    from bastion.serve.config import ModelReference, ServeConfig

    reference = ModelReference.parse(args.model)
    registry, caller = open_as_caller(args)
    if f"{Permission.MODEL_PREDICT.value}:{reference.name}" not in caller.permissions:
        registry.check(caller, Permission.MODEL_PREDICT)
    defaults = ServeConfig(models=(reference,))
    try:
        version = resolve(registry.engine, reference)
        served = admit(registry.engine, version, tolerance=defaults.range_tolerance, max_batch=defaults.max_batch)
    except AdmissionRefused as exc:
        raise BastionError(str(exc), exit_code=1) from None
    with _executor(args.scheduler) as executor:
        report = predict_file(served, args.input, args.output, executor=executor)
    record("model.predict.batch", target=f"{report.model}:{report.version}", details=report.to_dict(), actor=caller.name)
    if args.output_format == "json":
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(f"Scored {report.rows} rows of {report.input} with {report.model}:{report.version} into {report.output}.")
    return 0


@contextlib.contextmanager
def _executor(scheduler: str | None) -> Iterator[Executor | None]:
    if scheduler is None:
        yield None
        return
    from bastion.scanners.cluster import cluster_executor

    with cluster_executor(scheduler) as executor:
        yield executor
