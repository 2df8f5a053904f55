"""Batch scoring (``bastion predict``): a Parquet or CSV file through an admitted model, into Parquet or CSV.

The model comes through the server's admission (approved, signature, scan, safe load). The input is read in record
batches and each scored batch is written out before the next is read, so memory stays bounded whatever the file's
size; with a Dask scheduler the batches are scored on the cluster's workers (a few in flight at a time, results
written in input order). The output holds the input's columns, then ``prediction`` (the class as text) and
``score`` (P(positive class), null for models without probabilities); it appears whole or not at all.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bastion.core import BastionError

if TYPE_CHECKING:
    import pyarrow as pa

    from bastion.ml.schema import ModelSchema
    from bastion.serve.admission import ServedVersion

BATCH_ROWS = 65_536
"""Rows per record batch read, scored and written at a time."""
FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}
_ARROW_TYPES = {"number": "float64", "integer": "int64", "string": "string", "boolean": "bool"}
_PARQUET_MAGIC = b"PAR1"


@dataclass(frozen=True)
class BatchReport:
    """What one batch scoring did."""

    model: str
    """The model's name."""
    version: int
    """The version that scored."""
    input: str
    """The input file."""
    output: str
    """The output file."""
    format: str
    """The output's format: ``parquet`` or ``csv``."""
    rows: int
    """Rows scored (all of the input's)."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class _Scorer:
    """Scores one record batch; a plain object, so Dask can ship it to its workers."""

    model: Any
    features: tuple[str, ...]
    numeric: bool
    positive_column: int | None

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        import numpy as np
        import pyarrow as pa

        columns = [batch.column(name).to_numpy(zero_copy_only=False) for name in self.features]
        matrix = np.column_stack(columns).astype(np.float64 if self.numeric else object)
        if self.positive_column is not None:
            probabilities = self.model.predict_proba(matrix)
            classes = self.model.classes_
            predictions = [str(classes[i]) for i in probabilities.argmax(axis=1)]
            scores: list[float | None] = [float(p) for p in probabilities[:, self.positive_column]]
        else:
            predictions = [str(value) for value in self.model.predict(matrix)]
            scores = [None] * len(predictions)
        return pa.RecordBatch.from_arrays(
            [*batch.columns, pa.array(predictions, pa.string()), pa.array(scores, pa.float64())],
            names=[*batch.schema.names, "prediction", "score"],
        )


def predict_file(
    served: ServedVersion, source: Path, output: Path, *, executor: Executor | None = None, batch_rows: int = BATCH_ROWS
) -> BatchReport:
    """Score ``source`` with ``served`` into ``output`` (its format from its suffix), on ``executor`` if given."""
    from bastion.core import atomic_path

    fmt = FORMATS.get(output.suffix.lower())
    if fmt is None:
        raise BastionError(f"{output}: name the output .parquet or .csv")
    if output.resolve() == source.resolve():
        raise BastionError(f"{output}: the output would overwrite the input; choose another file")
    schema = served.schema
    scorer = _Scorer(
        served.model,
        tuple(field.name for field in schema.inputs),
        all(field.type != "string" for field in schema.inputs),
        served.positive_column,
    )
    if not output.parent.is_dir():
        raise BastionError(f"{output}: cannot write the output: no directory {output.parent}; create it first")
    rows = 0
    try:
        with atomic_path(output) as temporary:
            writer: _Writer | None = None
            try:
                for scored in _scored(_batches(source, schema, batch_rows), scorer, executor, source):
                    if writer is None:
                        writer = _Writer(temporary, fmt, scored.schema)
                    writer.write(scored)
                    rows += scored.num_rows
                if writer is None:  # an input with a header and no rows: an output with a header and no rows
                    writer = _Writer(temporary, fmt, _empty_output(schema))
            finally:
                if writer is not None:
                    writer.close()
    except OSError as exc:  # a full disk, a directory without write permission, an input that failed mid-read
        raise BastionError(f"{source} -> {output}: {exc.strerror or exc}; nothing was written") from None
    return BatchReport(served.name, served.version, str(source), str(output), fmt, rows)


def _scored(
    batches: Iterator[pa.RecordBatch], scorer: _Scorer, executor: Executor | None, source: Path
) -> Iterator[pa.RecordBatch]:
    """The scored batches in input order; on an executor, a few at a time in flight."""
    if executor is None:
        for start, batch in _numbered(batches):
            yield _score(scorer, batch, source, start)
        return
    in_flight: deque[tuple[int, int, Future[pa.RecordBatch]]] = deque()
    limit = 4
    for start, batch in _numbered(batches):
        in_flight.append((start, batch.num_rows, executor.submit(scorer, batch)))
        if len(in_flight) >= limit:
            yield _result(in_flight.popleft(), source)
    while in_flight:
        yield _result(in_flight.popleft(), source)


def _numbered(batches: Iterator[pa.RecordBatch]) -> Iterator[tuple[int, pa.RecordBatch]]:
    start = 0
    for batch in batches:
        if batch.num_rows:
            yield start, batch
        start += batch.num_rows


def _score(scorer: Callable[[pa.RecordBatch], pa.RecordBatch], batch: pa.RecordBatch, source: Path, start: int) -> pa.RecordBatch:
    try:
        return scorer(batch)
    except (ValueError, TypeError) as exc:  # what scikit-learn raises for NaN, infinities or values it cannot convert
        raise BastionError(f"{source}: rows {start}-{start + batch.num_rows - 1}: the model cannot score them ({exc})") from None


def _result(pending: tuple[int, int, Future[pa.RecordBatch]], source: Path) -> pa.RecordBatch:
    start, count, future = pending
    try:
        return future.result()
    except (ValueError, TypeError) as exc:
        raise BastionError(f"{source}: rows {start}-{start + count - 1}: the model cannot score them ({exc})") from None


def _batches(source: Path, schema: ModelSchema, batch_rows: int) -> Iterator[pa.RecordBatch]:
    """``source``'s record batches, the model's input columns checked and cast to their training types."""
    import pyarrow as pa

    try:
        with source.open("rb") as handle:
            is_parquet = handle.read(4) == _PARQUET_MAGIC
    except OSError as exc:
        raise BastionError(f"{source}: cannot read the input ({exc.strerror or exc})") from None
    reader = _parquet_batches(source, batch_rows) if is_parquet else _csv_batches(source, schema, batch_rows)
    types = {field.name: pa.type_for_alias(_ARROW_TYPES[field.type]) for field in schema.inputs}
    checked = False
    try:
        for batch in reader:
            if not checked:
                missing = [name for name in types if name not in batch.schema.names]
                if missing:
                    raise BastionError(
                        f"{source}: no column {missing[0]!r}; the model takes {', '.join(types)} (other columns are kept)"
                    )
                checked = True
            names = batch.schema.names
            columns = [batch.column(i).cast(types[name]) if name in types else batch.column(i) for i, name in enumerate(names)]
            yield pa.RecordBatch.from_arrays(columns, names=batch.schema.names)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise BastionError(f"{source}: cannot read it as {'Parquet' if is_parquet else 'CSV'} for this model ({exc})") from None


def _parquet_batches(source: Path, batch_rows: int) -> Iterator[pa.RecordBatch]:
    import pyarrow.parquet as pq

    with pq.ParquetFile(source) as parquet:
        yield from parquet.iter_batches(batch_size=batch_rows)


def _csv_batches(source: Path, schema: ModelSchema, batch_rows: int) -> Iterator[pa.RecordBatch]:
    import pyarrow as pa
    import pyarrow.csv as csv

    types = {field.name: pa.type_for_alias(_ARROW_TYPES[field.type]) for field in schema.inputs}
    reader = csv.open_csv(
        source,
        read_options=csv.ReadOptions(block_size=max(1 << 20, batch_rows * 64)),
        convert_options=csv.ConvertOptions(column_types=types),
    )
    with reader:
        yield from reader


def _empty_output(schema: ModelSchema) -> pa.Schema:
    import pyarrow as pa

    inputs = [(field.name, pa.type_for_alias(_ARROW_TYPES[field.type])) for field in schema.inputs]
    return pa.schema([*inputs, ("prediction", pa.string()), ("score", pa.float64())])


class _Writer:
    def __init__(self, path: Path, fmt: str, schema: pa.Schema) -> None:
        import pyarrow.csv as csv
        import pyarrow.parquet as pq

        self._writer: Any = pq.ParquetWriter(path, schema) if fmt == "parquet" else csv.CSVWriter(path, schema)

    def write(self, batch: pa.RecordBatch) -> None:
        self._writer.write_batch(batch)

    def close(self) -> None:
        self._writer.close()
