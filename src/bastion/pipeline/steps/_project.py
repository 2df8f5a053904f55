"""What the steps share about a project: its input files, its training table, and paths as the user wrote them."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bastion.core import Artifact, Finding, Kind, Report, ScanStatus, atomic_write
from bastion.pipeline.interface import StepError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pyarrow as pa

    from bastion.pipeline.spec import PipelineSpec

_SKIPPED_DIRECTORIES = frozenset({".git", "__pycache__", ".venv", ".bastion"})
_INPUT_KINDS = ("datasets", "code", "notebooks", "requirements", "models")


def relative_name(project: Path, given: str) -> str:
    """``given`` (a path in ``bastion.yaml``) as a clean path relative to the project: ``./data/x.csv`` is ``data/x.csv``."""
    return Path(os.path.relpath(os.path.normpath(project / given), project)).as_posix()


def input_files(spec: PipelineSpec, project: Path, kinds: Sequence[str] = _INPUT_KINDS) -> dict[str, Path]:
    """Every file the project feeds the pipeline (directories expanded), by its path relative to the project."""
    files: dict[str, Path] = {}
    for kind in kinds:
        for given in getattr(spec.inputs, kind):
            root = project / given
            for path in _files_below(root) if root.is_dir() else [root]:
                files.setdefault(relative_name(project, str(path)), path)
    return dict(sorted(files.items()))


def code_directories(spec: PipelineSpec, project: Path) -> tuple[Path, ...]:
    """The directories put on the training child's ``sys.path``: each code directory, and the folder of each code file."""
    directories = [(project / given) if (project / given).is_dir() else (project / given).parent for given in spec.inputs.code]
    return tuple(dict.fromkeys(path.resolve() for path in directories))


def _files_below(root: Path) -> Iterator[Path]:
    for directory, names, files in os.walk(root):
        names[:] = sorted(name for name in names if name not in _SKIPPED_DIRECTORIES)
        for name in sorted(files):
            yield Path(directory) / name


def read_table(path: Path) -> pa.Table:
    """A dataset file as an Arrow table with inferred column types; its format is decided from its content."""
    import duckdb

    from bastion.privacy._tables import table_format

    fmt = table_format(path)
    connection = duckdb.connect()
    connection.execute("SET enable_progress_bar = false")  # DuckDB draws one on stdout for long queries
    try:
        if fmt.name in ("csv", "tsv"):
            relation = connection.read_csv(str(path), header=True, sep=fmt.delimiter)
        elif fmt.name == "parquet":
            relation = connection.read_parquet(str(path))
        else:
            relation = connection.read_json(str(path), format="newline_delimited")
        table: pa.Table = relation.to_arrow_table()
    except duckdb.Error as exc:
        raise StepError(f"{path}: cannot read the {fmt.name} table: {exc}") from None
    finally:
        connection.close()
    return table


def column(table: pa.Table, name: str) -> npt.NDArray[Any]:
    """One column as a numpy array (objects for text, NaN for missing numbers)."""
    values: npt.NDArray[Any] = table.column(name).to_numpy(zero_copy_only=False)
    return values


def feature_matrix(table: pa.Table, features: Sequence[str]) -> npt.NDArray[np.float64]:
    """The features as the float matrix the training harness fitted on (missing values as NaN)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    columns = [pc.cast(table.column(name), pa.float64()).to_numpy(zero_copy_only=False) for name in features]
    return np.column_stack(columns) if columns else np.empty((table.num_rows, 0))


def model_features(spec: PipelineSpec, columns: Sequence[str], where: str) -> list[str]:
    """The columns the model may use: ``inputs.features``, or every column but the target and the facets; each must
    exist."""
    target = spec.inputs.target
    if target not in columns:
        raise StepError(f"{where}: no target column {target!r}; its columns are {', '.join(columns)} (fix inputs.target)")
    if spec.inputs.features is not None:
        features = list(spec.inputs.features)
    else:
        facets = {facet.column for facet in spec.inputs.facets}
        features = [c for c in columns if c != target and c not in facets]
    missing = [name for name in features if name not in columns]
    if missing:
        raise StepError(
            f"{where}: no feature column {', '.join(map(repr, missing))}; its columns are {', '.join(columns)} "
            "(fix inputs.features, or the anonymization policy if it drops them)"
        )
    if target in features:
        raise StepError(f"{where}: the target {target!r} is listed among inputs.features; remove it from there")
    if not features:
        raise StepError(f"{where}: no feature columns besides the target {target!r} and the facets; list them in inputs.features")
    return features


def relative_findings(findings: Iterable[Finding], prefix: str, replacement: str) -> tuple[Finding, ...]:
    """Findings whose paths start with ``prefix`` reported at ``replacement`` instead (project-relative paths)."""
    return tuple(
        dataclasses.replace(f, location=dataclasses.replace(f.location, path=_rebased(f.location.path, prefix, replacement)))
        for f in findings
    )


def relative_report(report: Report, project: Path) -> Report:
    """A scan of absolute paths below ``project`` reported with paths relative to it, so that waivers match."""
    prefix = str(project) + os.sep
    return Report(
        scanned=tuple(dataclasses.replace(a, path=_rebased(a.path, prefix, "")) for a in report.scanned),
        findings=relative_findings(report.findings, prefix, ""),
    )


def _rebased(path: str, prefix: str, replacement: str) -> str:
    return replacement + path[len(prefix) :] if path.startswith(prefix) else path


def write_scan_report(report: Report, path: Path) -> Path:
    """The scan in the ``bastion scan --format json`` shape, which ``read_scanned`` reads back for the gates."""
    from bastion.core.formats import JsonFormatter

    atomic_write(path, JsonFormatter().format(report).encode())
    return path


def read_scanned(path: Path) -> tuple[Artifact, ...]:
    """The scanned files of a report written by ``write_scan_report``, with their completeness."""
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return tuple(
        Artifact(
            path=item["path"],
            kind=Kind(item["kind"]),
            format=item.get("format"),
            sha256=item.get("sha256"),
            size=item.get("bytes"),
            status=ScanStatus(item["status"]),
            error=item.get("error"),
        )
        for item in document["scanned"]
    )


def read_features(path: Path) -> list[str]:
    """The feature list the split step wrote."""
    features: list[str] = json.loads(path.read_text(encoding="utf-8"))
    return features


def write_json(path: Path, document: Any) -> Path:
    atomic_write(path, (json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode())
    return path
