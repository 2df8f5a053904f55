"""Mergeable per-column summaries of a table, built in one pass over its Arrow batches.

A ``TableSketch`` holds, per column, what statistics.json and the drift checks need: counts of
present values, for numbers the count, mean and squared deviations (merged with Chan's parallel
formula), sum, min, max, negatives, whole numbers and a KLL quantile sketch; for text the counts of
its values (at most ``CATEGORY_LIMIT`` kept; the rarest beyond that are lumped into ``other``) and
of values that read as integers or numbers. Its size depends on the columns and the sketch size,
never on the rows, and sketches of partitions or time windows merge into the sketch of their union:
counts, sums, extremes and value counts exactly, moments within rounding, quantiles within the KLL
sketch's error.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bastion.monitor.errors import MonitorError

if TYPE_CHECKING:
    import pyarrow as pa

    from bastion.scanners.data import KLLSketch

CATEGORY_LIMIT = 1000
"""Distinct values of a text column counted exactly; beyond it the rarest are lumped into ``other``."""
_INTEGRAL_TEXT = r"^\s*[-+]?\d+\s*$"
_NUMERIC_TEXT = r"(?i)^\s*[-+]?((\d+\.?\d*|\.\d+)(e[-+]?\d+)?|nan|inf|infinity)\s*$"


@dataclass(slots=True)
class ColumnSketch:
    """What one column held, in a form that merges."""

    name: str
    kind: str
    """``numeric``, ``text`` (strings, booleans and times, as text) or ``other`` (nested and binary values)."""
    integral: bool = False
    """Whether every partition stored the column as integers."""
    present: int = 0
    """Values that are not missing (null); NaN counts as present."""
    count: int = 0
    """Finite numbers: the values behind every numeric statistic."""
    sum: float = 0.0
    mean: float = 0.0
    m2: float = 0.0
    """Sum of squared deviations from the mean (population variance times ``count``)."""
    min: float | None = None
    max: float | None = None
    negatives: int = 0
    whole: int = 0
    """Finite numbers without a fractional part."""
    kll: KLLSketch | None = None
    counts: dict[str, int] = field(default_factory=dict)
    """Text values and their counts."""
    other: int = 0
    """Text values no longer counted one by one (beyond ``CATEGORY_LIMIT``)."""
    integral_text: int = 0
    """Text values that read as integers."""
    numeric_text: int = 0
    """Text values that read as numbers (integers included)."""

    @property
    def std_dev(self) -> float:
        """Population standard deviation of the finite numbers."""
        return math.sqrt(self.m2 / self.count) if self.count else 0.0

    @property
    def exact_counts(self) -> bool:
        """Whether ``counts`` holds every text value."""
        return self.other == 0

    def update(self, array: pa.Array | pa.ChunkedArray) -> None:
        """Add one batch's values of this column."""
        self.present += len(array) - array.null_count
        if self.kind == "numeric":
            self._update_numbers(array)
        elif self.kind == "text":
            self._update_text(array)

    def merge(self, other: ColumnSketch) -> None:
        """Add ``other``, a sketch of the same column over other rows."""
        if self.kind != other.kind:
            raise MonitorError(
                f"column {self.name!r} holds {self.kind} values in one file and {other.kind} in another; "
                "give files whose columns have the same types"
            )
        self.integral = self.integral and other.integral
        self.present += other.present
        if other.count:
            self._add_moments(other.count, other.sum, other.mean, other.m2, other.min, other.max)
        self.negatives += other.negatives
        self.whole += other.whole
        if other.kll is not None:
            if self.kll is None:
                self.kll = _new_kll()
            self.kll.merge(other.kll)
        self._add_counts(other.counts.items())
        self.other += other.other
        self.integral_text += other.integral_text
        self.numeric_text += other.numeric_text

    def _update_numbers(self, array: Any) -> None:
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        values = _float64(pc.cast(array.drop_null(), pa.float64(), safe=False))
        values = values[np.isfinite(values)]
        if not values.size:
            return
        mean = float(values.mean())
        m2 = float(np.square(values - mean).sum())
        self._add_moments(int(values.size), float(values.sum()), mean, m2, float(values.min()), float(values.max()))
        self.negatives += int(np.count_nonzero(values < 0))
        self.whole += int(values.size) if self.integral else int(np.count_nonzero(values == np.floor(values)))
        if self.kll is None:
            self.kll = _new_kll()
        self.kll.update(values)

    def _add_moments(self, count: int, total: float, mean: float, m2: float, low: float | None, high: float | None) -> None:
        combined = self.count + count
        delta = mean - self.mean
        self.m2 += m2 + delta * delta * self.count * count / combined
        self.mean += delta * count / combined
        self.count = combined
        self.sum += total
        self.min = low if self.min is None or (low is not None and low < self.min) else self.min
        self.max = high if self.max is None or (high is not None and high > self.max) else self.max

    def _update_text(self, array: Any) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
            array = _as_text(array)
        counted = pc.value_counts(array.drop_null())
        values, counts = counted.field("values"), counted.field("counts")
        if len(values) > CATEGORY_LIMIT:  # keep this batch's most frequent values; lump the rest
            top = pc.select_k_unstable(counts, k=CATEGORY_LIMIT, sort_keys=[("counts", "descending")])
            self.other += int(pc.sum(counts).as_py()) - int(pc.sum(counts.take(top)).as_py())
            values, counts = values.take(top), counts.take(top)
        self.integral_text += _matching(values, counts, _INTEGRAL_TEXT)
        self.numeric_text += _matching(values, counts, _NUMERIC_TEXT)
        self._add_counts(zip(values.to_pylist(), counts.to_pylist(), strict=True))

    def _add_counts(self, pairs: Iterable[tuple[str, int]]) -> None:
        counts = self.counts
        for value, count in pairs:
            counts[value] = counts.get(value, 0) + int(count)
        if len(counts) > 2 * CATEGORY_LIMIT:
            kept = sorted(counts.items(), key=lambda pair: (-pair[1], pair[0]))[:CATEGORY_LIMIT]
            self.other += sum(counts.values()) - sum(count for _, count in kept)
            self.counts = dict(kept)


@dataclass(slots=True)
class TableSketch:
    """The sketches of every column of a table (or of a part of one), in column order."""

    rows: int = 0
    columns: dict[str, ColumnSketch] = field(default_factory=dict)

    def update(self, batch: pa.RecordBatch) -> None:
        """Add one Arrow record batch."""
        self.rows += batch.num_rows
        for name, array in zip(batch.schema.names, batch.columns, strict=True):
            column = self.columns.get(name)
            if column is None:
                column = self.columns[name] = ColumnSketch(name, column_kind(array.type), integral=_is_integral(array.type))
            elif column.kind == "numeric" and not _is_integral(array.type):
                column.integral = False
            column.update(array)

    def merge(self, other: TableSketch) -> None:
        """Add ``other``, a sketch of other rows of the same table."""
        self.rows += other.rows
        for name, column in other.columns.items():
            mine = self.columns.get(name)
            if mine is None:
                self.columns[name] = column
            else:
                mine.merge(column)

    def missing(self, name: str) -> int:
        """Rows without a value in column ``name`` (a part without the column has none there)."""
        return self.rows - self.columns[name].present


def sketch_batches(batches: Iterable[pa.RecordBatch]) -> TableSketch:
    """The sketch of a stream of record batches."""
    sketch = TableSketch()
    for batch in batches:
        sketch.update(batch)
    return sketch


def column_kind(arrow_type: pa.DataType) -> str:
    """numeric, text or other, for an Arrow type."""
    import pyarrow as pa

    if pa.types.is_dictionary(arrow_type):
        return column_kind(arrow_type.value_type)
    if pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type):
        return "numeric"
    if (
        pa.types.is_string(arrow_type)
        or pa.types.is_large_string(arrow_type)
        or pa.types.is_boolean(arrow_type)
        or pa.types.is_temporal(arrow_type)
    ):
        return "text"
    return "other"


def _is_integral(arrow_type: pa.DataType) -> bool:
    import pyarrow as pa

    if pa.types.is_dictionary(arrow_type):
        return _is_integral(arrow_type.value_type)
    return bool(pa.types.is_integer(arrow_type))


def _as_text(array: Any) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode() if isinstance(array, pa.Array) else pc.dictionary_decode(array)
    if pa.types.is_boolean(array.type):  # SageMaker's text of a boolean
        return pc.if_else(array, "true", "false")
    return pc.cast(array, pa.string())


def _matching(values: Any, counts: Any, pattern: str) -> int:
    import pyarrow.compute as pc

    if not len(values):
        return 0
    return int(pc.sum(counts.filter(pc.match_substring_regex(values, pattern))).as_py() or 0)


def _float64(array: Any) -> Any:
    """The values of a float64 Arrow array without nulls, as a NumPy view (``to_numpy`` would import pandas: ~1 s)."""
    import numpy as np

    return np.frombuffer(array.buffers()[1], dtype=np.float64, count=len(array), offset=array.offset * 8)


def _new_kll() -> KLLSketch:
    from bastion.scanners.data import KLLSketch

    return KLLSketch()
