"""The labelled table the poisoning checks work on: rows read once, with their true positions in the file.

Up to ``MAX_ROWS`` labelled rows are read whole; a larger file is cut to a stratified sample of about that size,
chosen by a hash of each row's position, so the same file always gives the same sample. Every row keeps its
0-based position among the file's data rows (``Dataset.source_rows``: rows the CSV reader rejected count too),
so findings point at the right line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from bastion.scanners.data.dataset import Column, Dataset, quote_identifier
from bastion.scanners.interface import ScanError

if TYPE_CHECKING:
    import numpy.typing as npt

MAX_ROWS = 20_000
"""Labelled rows analysed; a larger file is sampled down to about this many (every class keeps a fair share)."""
MIN_CLASS_SAMPLE = 500
"""In a sample, a class keeps at least this many rows (or all it has), so rare classes stay checkable."""
_SAMPLE_SEED = 0x5EED_BA57


@dataclass(frozen=True, slots=True)
class LabelledTable:
    """Feature columns as arrays, the labels as class codes, and where each row sits in the file."""

    rows: npt.NDArray[np.int64]
    """0-based data row in the file (header excluded) of each analysed row."""
    labels: npt.NDArray[np.int64]
    """Class code of each row; ``classes[code]`` is the label as written."""
    classes: list[str]
    columns: dict[str, npt.NDArray[Any]]
    """Feature column name → values: float64 (NaN for missing) for numbers, booleans and dates; object (str or None) for text."""
    total_rows: int
    """Labelled rows in the file (rows with a missing label are left out)."""

    @property
    def sampled(self) -> bool:
        return len(self.rows) < self.total_rows


_TEMPORAL_PREFIXES = ("DATE", "TIMESTAMP")


def usable(column: Column) -> bool:
    """Whether the checks can read ``column`` as a number or as text (not lists, blobs, structs, ...)."""
    return column.is_numeric or column.is_text or column.type == "BOOLEAN" or column.type.startswith(_TEMPORAL_PREFIXES)


def class_counts(dataset: Dataset, target: Column) -> dict[str, int]:
    """Rows per label (as text; missing labels left out), read over the whole file."""
    rows = dataset.query(f"SELECT {target.quoted}, count(*) FROM data WHERE {target.quoted} IS NOT NULL GROUP BY 1").fetchall()
    return {str(label): int(count) for label, count in rows}


def read_table(dataset: Dataset, target: Column, features: Sequence[Column], counts: dict[str, int]) -> LabelledTable:
    """Read the labelled rows (or a stratified sample of them) with the usable ``features``.

    Columns are read as the reader typed them and converted here, in Arrow, never by an SQL ``CAST``: DuckDB may
    push a cast into the CSV scan, where a value failing it drops its row (seen with ``store_rejects``:
    ``CAST(flag AS DOUBLE)`` of ``True`` dropped every row).
    """
    import duckdb

    total = sum(counts.values())
    keep = _keep_probability(counts, total)
    names = [c.name for c in features if usable(c)]
    columns_sql = ", ".join(quote_identifier(name) for name in [target.name, *names])
    label_parts: list[npt.NDArray[Any]] = []
    row_parts: list[npt.NDArray[np.int64]] = []
    column_parts: list[list[npt.NDArray[Any]]] = [[] for _ in names]
    position = 0
    try:
        for batch in dataset.connection.sql(f"SELECT {columns_sql} FROM data").to_arrow_reader(65_536):
            labels = np.array([None if v is None else str(v) for v in batch.column(0).to_pylist()], dtype=object)
            rows = np.arange(position, position + len(labels), dtype=np.int64)
            position += len(labels)
            chosen = _choose(labels, rows, keep)
            if not chosen.any():
                continue
            label_parts.append(labels[chosen])
            row_parts.append(rows[chosen])
            for slot in range(len(names)):
                column_parts[slot].append(_to_numpy(batch.column(slot + 1))[chosen])
    except duckdb.Error as exc:
        raise ScanError(f"cannot read {dataset.format} data: {str(exc).strip().splitlines()[0]}", partial=True) from None
    labels_all = np.concatenate(label_parts) if label_parts else np.array([], dtype=object)
    classes = sorted(counts)
    lookup = {name: code for code, name in enumerate(classes)}
    codes = np.array([lookup[label] for label in labels_all], dtype=np.int64)
    view_rows = np.concatenate(row_parts) if row_parts else np.array([], dtype=np.int64)
    columns = {
        name: np.concatenate(parts) if parts else np.array([], dtype=np.float64)
        for name, parts in zip(names, column_parts, strict=True)
    }
    file_rows = np.array(dataset.source_rows(view_rows.tolist()), dtype=np.int64)
    return LabelledTable(file_rows, codes, classes, columns, total)


def _to_numpy(array: Any) -> npt.NDArray[Any]:
    """Numbers, booleans and dates as float64 (NaN for missing); anything else as text (None for missing)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = array.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind) or pa.types.is_boolean(kind):
        return np.asarray(pc.cast(array, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
    if pa.types.is_date(kind) or pa.types.is_timestamp(kind):  # days, or the timestamp's own unit: scale does not matter
        whole = pc.cast(pc.cast(array, pa.date32()), pa.int32()) if pa.types.is_date(kind) else pc.cast(array, pa.int64())
        return np.asarray(whole.to_numpy(zero_copy_only=False), dtype=np.float64)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return np.asarray(array.to_numpy(zero_copy_only=False), dtype=object)
    return np.array([None if v is None else str(v) for v in array.to_pylist()], dtype=object)


def _keep_probability(counts: dict[str, int], total: int) -> dict[str, float]:
    """Per label: the chance a row is sampled; 1 everywhere when the file is small enough to read whole."""
    if total <= MAX_ROWS:
        return {label: 1.0 for label in counts}
    base = MAX_ROWS / total
    return {label: min(1.0, max(base, MIN_CLASS_SAMPLE / count)) for label, count in counts.items()}


def _choose(labels: npt.NDArray[Any], rows: npt.NDArray[np.int64], keep: dict[str, float]) -> npt.NDArray[np.bool_]:
    """Labelled rows that fall into the sample: a hash of the row's position, so batching never changes the choice."""
    present = np.array([label is not None for label in labels], dtype=bool)
    if all(p >= 1.0 for p in keep.values()):
        return present
    chance = np.array([keep.get(str(label), 0.0) if label is not None else 0.0 for label in labels])
    return present & (_uniform_hash(rows) < chance)


def _uniform_hash(rows: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """SplitMix64 of each position, as a number in [0, 1)."""
    z = rows.astype(np.uint64) + np.uint64(_SAMPLE_SEED)
    with np.errstate(over="ignore"):
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(1 << 53)
