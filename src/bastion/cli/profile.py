"""``bastion profile``: the per-column profile of a dataset, and the constraints and statistics a monitor starts from."""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from bastion.cli.output import emit
from bastion.core import BastionError, atomic_write

if TYPE_CHECKING:
    from bastion.scanners.data.profile import DatasetProfile

FORMATS = ("table", "json")
# A text file the content detector does not call a table (one column, or a header alone) is
# read as the dataset its name says; a binary file never is.
_TEXT_SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl"}


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "profile",
        help="profile a dataset's columns; suggest Model Monitor constraints and statistics",
        description=(
            "Profile each column of a CSV, TSV, JSON Lines or Parquet dataset (a path or an fsspec URL such as "
            "s3://bucket/data.parquet): type, missing values, distinct values, min/max/mean/std, top values and a "
            "histogram. Optionally write the suggested constraints.json and the statistics.json of SageMaker Model "
            "Monitor. Exit status: 0 on success, 2 when the dataset cannot be read."
        ),
    )
    parser.add_argument("dataset", metavar="DATA", help="the dataset: a file path or an fsspec URL")
    parser.add_argument("-f", "--format", dest="output_format", choices=FORMATS, default="table", help="output format")
    parser.add_argument("-o", "--output", type=Path, help="write the profile to this file")
    parser.add_argument("--constraints", type=Path, metavar="OUT.json", help="write the suggested constraints.json")
    parser.add_argument("--statistics", type=Path, metavar="OUT.json", help="write the statistics.json")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from bastion.scanners.data.constraints import suggest_constraints
    from bastion.scanners.data.dataset import Dataset
    from bastion.scanners.data.profile import profile_dataset
    from bastion.scanners.interface import ScanError

    for target in (args.output, args.constraints, args.statistics):
        _check_writable(target)
    source = args.dataset
    fmt = _format_of(source)
    try:
        with Dataset(source, source, fmt) as dataset:
            problems = dataset.read_problems()
            profile = profile_dataset(dataset)
            encoding = dataset.encoding
    except ScanError as exc:
        raise BastionError(f"{source}: {exc}") from None
    except Exception as exc:  # a bug must end in one line too, as a scanner's does in `bastion scan`
        raise BastionError(f"{source}: internal error ({type(exc).__name__}: {exc}); please report it") from None
    if args.constraints is not None:
        _write_json(args.constraints, suggest_constraints(profile))
    if args.statistics is not None:
        _write_json(args.statistics, profile.statistics())
    if args.output_format == "json":
        from bastion import __version__

        document = {"bastion_version": __version__, "encoding": encoding, **profile.to_dict()}
        document["problems"] = [finding.to_dict() for finding in problems]
        text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    else:
        text = _table(
            profile, [f"{p.location}: {p.message}" for p in problems], color=args.output is None and sys.stdout.isatty()
        )
    emit(text, args.output)
    return 0


def _format_of(source: str) -> str:
    """The dataset format of ``source``, decided by its content as ``bastion scan`` does."""
    from bastion.core import Kind
    from bastion.scanners.data.dataset import FORMATS as DATASET_FORMATS
    from bastion.scanners.detect import HEAD_SIZE, detect

    head, size, local = _head(source, HEAD_SIZE)
    name = PurePosixPath(source.split("://", 1)[-1]).name
    detection = detect(local if local is not None else head, head, size, name)
    if detection.kind is Kind.DATASET and detection.format in DATASET_FORMATS:
        return detection.format
    if detection.format == "empty":
        raise BastionError(f"{source}: the file is empty; there is nothing to profile")
    suffix = PurePosixPath(name).suffix.lower()
    if detection.kind is Kind.CODE and detection.format == "text" and suffix in _TEXT_SUFFIXES:
        return _TEXT_SUFFIXES[suffix]
    what = f"{detection.kind.value}, {detection.format}" if detection.format else detection.kind.value
    raise BastionError(f"{source}: not a dataset ({what}); bastion profile reads CSV, TSV, JSON Lines and Parquet")


def _head(source: str, limit: int) -> tuple[bytes, int, Path | None]:
    """The first bytes, the size, and the local path (None for a URL) of ``source``."""
    import re

    try:
        if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", source) and not source.startswith("file://"):
            import fsspec

            filesystem, path = fsspec.core.url_to_fs(source)
            with filesystem.open(path, "rb") as handle:
                head = handle.read(limit)
            return head, int(filesystem.size(path)), None
        from urllib.parse import unquote, urlparse

        local = Path(unquote(urlparse(source).path)) if source.startswith("file://") else Path(source)
        if local.is_dir():
            raise BastionError(f"{source}: is a directory; give a dataset file")
        with local.open("rb") as handle:
            head = handle.read(limit)
        return head, local.stat().st_size, local
    except FileNotFoundError:
        raise BastionError(f"{source}: no such file") from None
    except (OSError, ValueError, ImportError) as exc:  # fsspec: unknown protocol, missing driver, unreachable store
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise BastionError(f"{source}: cannot read: {reason}") from None


def _check_writable(target: Path | None) -> None:
    if target is None:
        return
    if target.is_dir():
        raise BastionError(f"{target}: is a directory; give a file name")
    if not target.parent.exists():
        raise BastionError(f"{target.parent}: no such directory; create it first")


def _write_json(target: Path, document: dict[str, Any]) -> None:
    try:
        atomic_write(target, (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
    except OSError as exc:
        raise BastionError(f"{target}: cannot write: {exc.strerror or exc}") from None


def _table(profile: DatasetProfile, problems: list[str], *, color: bool) -> str:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=color, no_color=not color, width=None if color else 160, highlight=False)
    table = Table(title=f"{escape(profile.path)}: {profile.rows} row(s), {len(profile.columns)} column(s)", title_justify="left")
    for heading in ("Column", "Type", "Missing", "Distinct", "Min", "Max", "Mean", "Std", "Top values"):
        table.add_column(
            heading, overflow="fold", justify="right" if heading in ("Missing", "Distinct", "Mean", "Std") else "left"
        )
    for column in profile.columns:
        top = ", ".join(f"{_short(value)} ({count})" for value, count in column.top[:3] if count > 1)
        table.add_row(
            escape(column.name),
            f"{column.inferred_type} [dim]{escape(column.type)}[/]",
            f"{column.missing} ({column.missing_ratio:.0%})" if column.missing else "0",
            f"{column.distinct}" if column.distinct_exact else f"~{column.distinct}",
            escape(_short(column.min)),
            escape(_short(column.max)),
            _number(column.mean),
            _number(column.std),
            escape(top),
        )
    console.print(table)
    for problem in problems:
        console.print(f"[yellow]reader:[/] {escape(problem)}")
    return buffer.getvalue()


def _short(value: Any, limit: int = 24) -> str:
    if value is None:
        return ""
    text = str(value.isoformat() if hasattr(value, "isoformat") else value).replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"
