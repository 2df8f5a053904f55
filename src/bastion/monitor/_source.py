"""Where a table is read from: one file (Parquet, CSV, TSV, JSON Lines) or a directory of Parquet files,
a local path or an fsspec URL, split into parts that can be sketched side by side.

A Parquet file splits at its row groups (parts of at least ``PART_ROWS`` rows); a text table is one
part, streamed by the data scanner's reader (DuckDB: sniffing, rejected rows, a locked-down view).
What a file is comes from its content, never its name alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from bastion.monitor.errors import MonitorError
from bastion.monitor.sketch import TableSketch

if TYPE_CHECKING:
    import pyarrow as pa

PART_ROWS = 250_000
"""Rows per part of a Parquet file, at row-group boundaries."""
BATCH_ROWS = 65_536
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


@dataclass(frozen=True, slots=True)
class Part:
    """Rows of one file that one task sketches."""

    source: str
    """The file: a local path or an fsspec URL."""
    format: str
    """parquet, csv, tsv or jsonl."""
    row_groups: tuple[int, ...] | None = None
    """The Parquet row groups of this part; None for the whole file."""


def plan_parts(data: str) -> list[Part]:
    """The parts of the table at ``data``, in row order."""
    files = _files(data)
    parts: list[Part] = []
    for source in files:
        fmt = _format_of(source, in_directory=len(files) > 1 or source != data)
        if fmt != "parquet":
            parts.append(Part(source, fmt))
            continue
        groups = _row_groups(source)
        chunk: list[int] = []
        rows = 0
        for index, count in enumerate(groups):
            chunk.append(index)
            rows += count
            if rows >= PART_ROWS:
                parts.append(Part(source, fmt, tuple(chunk)))
                chunk, rows = [], 0
        if chunk or not groups:
            parts.append(Part(source, fmt, tuple(chunk)))
    return parts


def sketch_part(part: Part) -> TableSketch:
    """The sketch of one part, read as a stream of Arrow batches."""
    sketch = TableSketch()
    for batch in _batches(part):
        sketch.update(batch)
    return sketch


def _batches(part: Part) -> Iterator[pa.RecordBatch]:
    if part.format == "parquet":
        import pyarrow as pa

        try:
            with _open(part.source) as handle:
                import pyarrow.parquet as pq

                yield from pq.ParquetFile(handle).iter_batches(batch_size=BATCH_ROWS, row_groups=part.row_groups)
        except (pa.ArrowException, OSError) as exc:
            raise MonitorError(f"{part.source}: cannot read the Parquet data ({_first_line(exc)}); check the file") from None
        return
    from bastion.scanners.data import Dataset
    from bastion.scanners.interface import ScanError

    try:
        with Dataset(part.source, part.source, part.format) as dataset:
            temporal = [c.name for c in dataset.columns if c.type.startswith(("DATE", "TIME"))]
            yield from dataset.batches(batch_rows=BATCH_ROWS, as_text=temporal)
    except ScanError as exc:
        raise MonitorError(f"{part.source}: {exc}") from None


def _files(data: str) -> list[str]:
    """The files of ``data``: itself, or the Parquet files under a directory, in name order."""
    filesystem, path = _filesystem(data)
    try:
        if filesystem is None:
            local = Path(path)
            if not local.exists():
                raise MonitorError(f"{data}: no such file or directory")
            if not local.is_dir():
                return [data]
            files = sorted(str(p) for p in local.rglob("*.parquet") if p.is_file())
        else:
            if not filesystem.exists(path):
                raise MonitorError(f"{data}: no such file or directory")
            if not filesystem.isdir(path):
                return [data]
            protocol = data.split("://", 1)[0]
            files = sorted(f"{protocol}://{p}" for p in filesystem.find(path) if str(p).endswith(".parquet"))
    except OSError as exc:
        raise MonitorError(f"{data}: cannot read: {exc.strerror or exc}") from None
    if not files:
        raise MonitorError(f"{data}: the directory holds no .parquet files; give a table file or a directory of Parquet files")
    return files


def _format_of(source: str, *, in_directory: bool) -> str:
    from bastion.core import Kind
    from bastion.scanners.detect import HEAD_SIZE, detect

    try:
        with _open(source) as handle:
            head = handle.read(HEAD_SIZE)
            size = handle.seek(0, 2)
    except OSError as exc:
        raise MonitorError(f"{source}: cannot read: {exc.strerror or exc}") from None
    name = PurePosixPath(source.split("://", 1)[-1]).name
    filesystem, path = _filesystem(source)
    detection = detect(Path(path) if filesystem is None else head, head, size, name)
    if detection.kind is Kind.DATASET and detection.format in ("parquet", "csv", "tsv", "jsonl"):
        if in_directory and detection.format != "parquet":
            raise MonitorError(f"{source}: named .parquet but holds {detection.format}; a directory must hold Parquet files")
        return detection.format
    what = detection.format or detection.kind.value
    raise MonitorError(f"{source}: not a table ({what}); give a Parquet, CSV, TSV or JSON Lines file")


def _row_groups(source: str) -> list[int]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        with _open(source) as handle:
            metadata = pq.ParquetFile(handle).metadata
            return [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]
    except (pa.ArrowException, OSError) as exc:
        raise MonitorError(f"{source}: not a readable Parquet file ({_first_line(exc)}); check the file") from None


def _filesystem(data: str) -> tuple[Any, str]:
    if data.startswith("file://"):
        from urllib.parse import unquote, urlparse

        return None, unquote(urlparse(data).path)
    if not _URL.match(data):
        return None, data
    import fsspec

    try:
        filesystem, path = fsspec.core.url_to_fs(data)
    except (ValueError, ImportError) as exc:
        raise MonitorError(f"{data}: cannot open ({_first_line(exc)})") from None
    return filesystem, str(path)


def _open(source: str) -> Any:
    filesystem, path = _filesystem(source)
    return open(path, "rb") if filesystem is None else filesystem.open(path, "rb")


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
