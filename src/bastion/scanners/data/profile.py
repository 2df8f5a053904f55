"""A profile per column, computed in two passes over the data, shaped for SageMaker's statistics.json.

Pass 1 is DuckDB aggregates, one query per chunk of ``COLUMNS_PER_QUERY`` columns: present
values, distinct values (HyperLogLog), min, max, mean, population standard deviation, sum and
the approximate top values; a short, wide table takes them per column type over its unpivoted
(column, value) rows instead, as planning thousands of aggregates costs more than reading it.
Pass 2 needs pass 1's figures and is one stream of Arrow batches: histograms, a KLL quantile
sketch (and the quartiles from it) and negatives of numeric columns, the values of text columns
that read as numbers, exact value counts of columns of at most ``EXACT_DISTINCT_LIMIT``
distinct values (so their distinct counts are exact too), and exact counts of the top values of
the others. (DuckDB's ``histogram()`` keeps megabytes of state per column, and each aggregate
adds planning time: too much for wide tables.)

Histograms have ``HISTOGRAM_BINS`` equal-width bins from min to max, each closed below and open
above, the last closed above too; NaN and infinities are left out of every numeric statistic.
They are the ``kll.buckets`` of statistics.json, which also has 10, and the sketch its
``kll.sketch`` (parameters c = 0.64 and k = 2048, as Model Monitor writes).
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from bastion.scanners.data._kll import C as KLL_C
from bastion.scanners.data._kll import K as KLL_K
from bastion.scanners.data._kll import KLLSketch
from bastion.scanners.data.dataset import Column, Dataset

TOP_K = 10
"""Most frequent values kept per column."""
HISTOGRAM_BINS = 10
EXACT_DISTINCT_LIMIT = 256
"""Columns with at most this many distinct values get exact value counts."""
DOMAIN_LIMIT = 20
"""Columns with at most this many frequent values have a domain (SageMaker's ``string_constraints.domains``)."""
RARE_SHARE = 0.001
"""A value of a low-cardinality column seen in less than this share of rows is outside its domain."""
COLUMNS_PER_QUERY = 1000
"""Columns per aggregate query of pass 1; wider tables take one more pass per chunk."""
UNPIVOT_COLUMNS = 200
UNPIVOT_ROWS = 20_000
"""Tables of at least ``UNPIVOT_COLUMNS`` columns and at most ``UNPIVOT_ROWS`` rows take pass 1 unpivoted."""

_TEMPORAL_PREFIXES = ("DATE", "TIME", "TIMESTAMP")


@dataclass(frozen=True, slots=True)
class Bin:
    lower: float
    upper: float
    count: int


@dataclass(slots=True)
class ColumnProfile:
    """What one column holds."""

    name: str
    type: str
    """DuckDB's type of the column."""
    rows: int
    present: int = 0
    """Values that are not missing (NULL)."""
    distinct: int = 0
    distinct_exact: bool = False
    """Whether ``distinct`` is exact; otherwise it is a HyperLogLog estimate (within a few percent)."""
    min: Any = None
    max: Any = None
    mean: float | None = None
    std: float | None = None
    """Population standard deviation."""
    sum: float | None = None
    quartiles: tuple[float, float, float] | None = None
    negatives: int | None = None
    """Negative values of a numeric column."""
    non_finite: int | None = None
    """NaN and infinite values of a float column, left out of the numeric statistics."""
    numeric_text: int | None = None
    """Values of a text column that parse as numbers."""
    top: list[tuple[Any, int]] = field(default_factory=list)
    """The most frequent values with their exact counts, most frequent first."""
    value_counts: dict[Any, int] | None = None
    """Every value with its count, for columns of at most ``EXACT_DISTINCT_LIMIT`` distinct values."""
    histogram: list[Bin] = field(default_factory=list)
    sketch: list[list[float]] = field(default_factory=list)

    @property
    def missing(self) -> int:
        return self.rows - self.present

    @property
    def missing_ratio(self) -> float:
        return self.missing / self.rows if self.rows else 0.0

    @property
    def kind(self) -> str:
        """numeric, text, boolean, temporal or other (nested and binary values)."""
        return _kind(Column(self.name, self.type))

    @property
    def inferred_type(self) -> str:
        """SageMaker's vocabulary: Integral, Fractional, String or Unknown."""
        if self.present == 0:
            return "Unknown"
        column = Column(self.name, self.type)
        if column.is_integral:
            return "Integral"
        if column.is_numeric:
            return "Fractional"
        return "String" if self.kind in ("text", "boolean", "temporal") else "Unknown"

    def domain(self) -> list[Any] | None:
        """The categories of a low-cardinality column, most frequent first; None when it has no small domain.

        Rare values (under ``RARE_SHARE`` of the values) are left out, and so are spellings of a
        more frequent value that differ only in case, spaces or punctuation ('paris ' of 'Paris').
        """
        if self.value_counts is None or self.kind not in ("text", "boolean") or self.present == 0:
            return None
        counts = self.value_counts
        by_form: dict[str, Any] = {}
        for value in sorted(counts, key=lambda v: (-counts[v], str(v))):
            if counts[value] >= max(1.0, RARE_SHARE * self.present):
                by_form.setdefault(_form(value), value)
        domain = list(by_form.values())
        if not domain or len(domain) > DOMAIN_LIMIT or len(domain) == self.present:
            return None  # every value distinct: an identifier, not a category
        return domain

    def to_dict(self) -> dict[str, Any]:
        """The profile as JSON-ready data."""
        return {
            "name": self.name,
            "type": self.type,
            "inferred_type": self.inferred_type,
            "rows": self.rows,
            "missing": self.missing,
            "missing_ratio": round(self.missing_ratio, 6),
            "distinct": self.distinct,
            "distinct_exact": self.distinct_exact,
            "min": _plain(self.min),
            "max": _plain(self.max),
            "mean": self.mean,
            "std": self.std,
            "quartiles": list(self.quartiles) if self.quartiles else None,
            "top": [{"value": _plain(value), "count": count} for value, count in self.top],
            "histogram": [{"lower": b.lower, "upper": b.upper, "count": b.count} for b in self.histogram],
        }


@dataclass(slots=True)
class DatasetProfile:
    path: str
    format: str
    rows: int
    columns: list[ColumnProfile]

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "format": self.format,
            "rows": self.rows,
            "columns": [column.to_dict() for column in self.columns],
        }

    def statistics(self) -> dict[str, Any]:
        """The profile in SageMaker Model Monitor's statistics.json shape."""
        return {"version": 0.0, "dataset": {"item_count": self.rows}, "features": [_feature_statistics(c) for c in self.columns]}


def profile_dataset(dataset: Dataset) -> DatasetProfile:
    """The profile of every column of ``dataset``."""
    rows = dataset.row_count
    profiles = [ColumnProfile(column.name, column.type, rows) for column in dataset.columns]
    if rows:
        if len(profiles) >= UNPIVOT_COLUMNS and rows <= UNPIVOT_ROWS:
            _first_pass_unpivoted(dataset, dataset.columns, profiles)
        else:
            for start in range(0, len(profiles), COLUMNS_PER_QUERY):
                end = start + COLUMNS_PER_QUERY
                _first_pass(dataset, dataset.columns[start:end], profiles[start:end])
        _second_pass(dataset, profiles)
    return DatasetProfile(dataset.display_path, dataset.format, rows, profiles)


# -- pass 1 --------------------------------------------------------------------------------------


def _first_pass(dataset: Dataset, columns: Sequence[Column], profiles: Sequence[ColumnProfile]) -> None:
    query = _Aggregates()
    for index, column in enumerate(columns):
        for key, expression in _aggregates(column, column.quoted):
            query.add(index, key, expression)
    _store(query.run(dataset), profiles)
    _without_non_finite(dataset, columns, profiles)


def _first_pass_unpivoted(dataset: Dataset, columns: Sequence[Column], profiles: Sequence[ColumnProfile]) -> None:
    """Pass 1 of a short, wide table: per column type, one grouped query over the table unpivoted to (column, value)
    rows. DuckDB plans each aggregate of a wide query at a cost (~0.3 ms) that a short table never pays back."""
    by_type: dict[str, list[int]] = {}
    for index, column in enumerate(columns):
        by_type.setdefault(column.type, []).append(index)
    for indexes in by_type.values():
        aggregates = _aggregates(columns[indexes[0]], "bastion_value")
        names = ", ".join(columns[index].quoted for index in indexes)
        position = {columns[index].name: index for index in indexes}
        rows = dataset.fetch(
            f"SELECT bastion_column, {', '.join(expression for _, expression in aggregates)} FROM "
            f"(UNPIVOT (SELECT {names} FROM data) ON {names} INTO NAME bastion_column VALUE bastion_value) "
            "GROUP BY bastion_column"
        )
        _store(
            ((position[name], key, value) for name, *values in rows for (key, _), value in zip(aggregates, values, strict=True)),
            profiles,
        )
    _without_non_finite(dataset, columns, profiles)


def _aggregates(column: Column, value: str) -> list[tuple[str, str]]:
    """Pass 1's (key, aggregate) pairs of ``column``, over the SQL expression ``value``."""
    kind = _kind(column)
    aggregates = [("present", f"count({value})"), ("distinct", f"approx_count_distinct({value})")]
    if kind == "numeric":
        aggregates += _numeric(value)
    elif kind == "temporal":  # as text: a time zone would need pytz to become Python
        aggregates += [("min", f"CAST(min({value}) AS VARCHAR)"), ("max", f"CAST(max({value}) AS VARCHAR)")]
    if kind in ("numeric", "text"):
        aggregates.append(("approx_top", f"approx_top_k({value}, {TOP_K})"))
    elif kind == "temporal":
        aggregates.append(("approx_top", f"approx_top_k(CAST({value} AS VARCHAR), {TOP_K})"))
    return aggregates


def _without_non_finite(dataset: Dataset, columns: Sequence[Column], profiles: Sequence[ColumnProfile]) -> None:
    # NaN and infinities show in min and max (DuckDB sorts NaN last); only then are the statistics
    # taken again without them, which spares every other float column the test.
    non_finite = _Aggregates()
    for index, (column, profile) in enumerate(zip(columns, profiles, strict=True)):
        if column.type in ("FLOAT", "DOUBLE"):
            profile.non_finite = 0
            if any(isinstance(v, float) and not math.isfinite(v) for v in (profile.min, profile.max)):
                non_finite.add(index, "non_finite", f"count(*) FILTER (WHERE NOT isfinite({column.quoted}))")
                for key, expression in _numeric(f"(CASE WHEN isfinite({column.quoted}) THEN {column.quoted} END)"):
                    non_finite.add(index, key, expression)
    _store(non_finite.run(dataset), profiles)
    for profile in profiles:
        profile.distinct = min(profile.distinct, profile.present)
        profile.distinct_exact = profile.present == 0


def _numeric(value: str) -> list[tuple[str, str]]:
    return [
        ("min", f"min({value})"),
        ("max", f"max({value})"),
        ("mean", f"avg({value}::DOUBLE)"),
        ("std", f"stddev_pop({value}::DOUBLE)"),
        ("sum", f"sum({value}::DOUBLE)"),
    ]


def _store(results: Iterator[tuple[int, str, Any]], profiles: Sequence[ColumnProfile]) -> None:
    for index, key, value in results:
        profile = profiles[index]
        if key == "approx_top":
            profile.top = [(item, 0) for item in value or []]
        elif key in ("mean", "std", "sum"):
            setattr(profile, key, _number(value))
        elif key in ("min", "max"):
            setattr(profile, key, value)
        else:
            setattr(profile, key, int(value or 0))


# -- pass 2 --------------------------------------------------------------------------------------

_NUMBER = r"(?i)^\s*([-+]?((\d+\.?\d*|\.\d+)(e[-+]?\d+)?|nan|inf|infinity))\s*$"
"""Text DuckDB would cast to a number."""


@dataclass(slots=True)
class _Tally:
    """What pass 2 counts for one column."""

    profile: ColumnProfile
    counts: dict[Any, int] = field(default_factory=dict)
    all_values: bool = False
    """Count every value (a low-cardinality column) rather than only the top ones."""
    top: Any = None
    """The top values as an Arrow array, when only they are counted."""
    sketch: KLLSketch | None = None
    """For numeric columns, with the histogram and the negatives."""
    bins: list[int] = field(default_factory=lambda: [0] * HISTOGRAM_BINS)
    negatives: int = 0
    numbers: int | None = None
    """For text columns: the values that read as numbers."""


def _second_pass(dataset: Dataset, profiles: Sequence[ColumnProfile]) -> None:
    import pyarrow as pa

    tallies: dict[str, _Tally] = {}
    for profile in profiles:
        if profile.present == 0 or profile.kind == "other":
            continue
        tally = _Tally(profile)
        if profile.distinct <= EXACT_DISTINCT_LIMIT:
            tally.all_values = True
        elif profile.top:
            try:
                tally.top = pa.array([value for value, _ in profile.top])
            except (pa.ArrowException, TypeError, ValueError):
                tally.top = None  # values Arrow cannot hold as one array: their counts stay unknown
        if profile.kind == "numeric" and profile.min is not None:
            tally.sketch = KLLSketch()
        if profile.kind == "text":
            tally.numbers = 0
        tallies[profile.name] = tally
    if not tallies:
        return
    columns = [dataset.column(name) for name in tallies]
    batch_rows = max(1024, min(65_536, 4_000_000 // len(columns)))
    temporal = {t.profile.name for t in tallies.values() if t.profile.kind == "temporal"}
    for batch in dataset.batches(columns, batch_rows=batch_rows, as_text=temporal):
        for position, tally in enumerate(tallies.values()):
            _count(tally, batch.column(position))
    for tally in tallies.values():
        _finish(tally)


def _count(tally: _Tally, array: Any) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(array, pa.ExtensionArray):  # JSON text
        array = array.storage
    if tally.numbers is not None:
        tally.numbers += int(pc.sum(pc.match_substring_regex(array, _NUMBER)).as_py() or 0)
    if tally.all_values or tally.top is not None:
        chosen = array
        if not tally.all_values:
            try:
                chosen = array.filter(pc.is_in(array, value_set=tally.top.cast(array.type)))
            except (pa.ArrowException, TypeError, ValueError):
                chosen = array.slice(0, 0)
        counted = pc.value_counts(chosen)
        for value, count in zip(counted.field("values").to_pylist(), counted.field("counts").to_pylist(), strict=True):
            if value is not None:
                tally.counts[value] = tally.counts.get(value, 0) + int(count)
    if tally.sketch is not None:
        values = pc.cast(array.drop_null(), pa.float64(), safe=False).to_numpy(zero_copy_only=False)  # 2**53 and up round
        values = values[np.isfinite(values)]
        tally.sketch.update(values)
        tally.negatives += int(np.count_nonzero(values < 0))
        lower, upper = float(tally.profile.min), float(tally.profile.max)
        if upper > lower:  # equal-width bins; the maximum falls in the last bin, which is closed above
            index = np.clip(np.floor((values - lower) / ((upper - lower) / HISTOGRAM_BINS)), 0, HISTOGRAM_BINS - 1)
            for position, count in enumerate(np.bincount(index.astype(np.int64), minlength=HISTOGRAM_BINS)):
                tally.bins[position] += int(count)
        else:
            tally.bins[0] += len(values)


def _finish(tally: _Tally) -> None:
    profile = tally.profile
    profile.numeric_text = tally.numbers
    if tally.all_values:
        profile.value_counts = tally.counts
        profile.distinct, profile.distinct_exact = len(tally.counts), True
        profile.top = sorted(tally.counts.items(), key=lambda pair: (-pair[1], str(pair[0])))[:TOP_K]
    elif tally.top is not None:
        profile.top = sorted(((value, tally.counts.get(value, 0)) for value, _ in profile.top), key=lambda pair: -pair[1])
    sketch = tally.sketch
    if sketch is not None and sketch.count:
        profile.negatives = tally.negatives
        profile.sketch = sketch.levels()
        quartiles = [sketch.quantile(rank) for rank in (0.25, 0.5, 0.75)]
        profile.quartiles = (float(quartiles[0] or 0), float(quartiles[1] or 0), float(quartiles[2] or 0))
        lower, upper = float(profile.min), float(profile.max)
        if upper > lower:
            width = (upper - lower) / HISTOGRAM_BINS
            edges = [lower + i * width for i in range(HISTOGRAM_BINS)] + [upper]
            profile.histogram = [Bin(edges[i], edges[i + 1], tally.bins[i]) for i in range(HISTOGRAM_BINS)]
        else:
            profile.histogram = [Bin(lower, upper, tally.bins[0])]


# -- statistics.json -----------------------------------------------------------------------------


def _feature_statistics(profile: ColumnProfile) -> dict[str, Any]:
    common = {"num_present": profile.present, "num_missing": profile.missing}
    feature: dict[str, Any] = {"name": profile.name, "inferred_type": profile.inferred_type}
    if profile.inferred_type in ("Integral", "Fractional"):
        feature["numerical_statistics"] = {
            "common": common,
            "mean": profile.mean,
            "sum": profile.sum,
            "std_dev": profile.std,
            "min": _number(profile.min),
            "max": _number(profile.max),
            "distribution": {
                "kll": {
                    "buckets": [
                        {"lower_bound": b.lower, "upper_bound": b.upper, "count": float(b.count)} for b in profile.histogram
                    ],
                    "sketch": {"parameters": {"c": KLL_C, "k": float(KLL_K)}, "data": profile.sketch},
                }
            },
        }
    else:
        feature["string_statistics"] = {
            "common": common,
            "distinct_count": float(profile.distinct),
            "distribution": {
                "categorical": {"buckets": [{"value": _text(value), "count": count} for value, count in profile.top]}
            },
        }
    return feature


# -- helpers -------------------------------------------------------------------------------------


class _Aggregates:
    """One ``SELECT agg, agg, ... FROM data`` whose results map back to (column index, key)."""

    def __init__(self) -> None:
        self.expressions: list[str] = []
        self.keys: list[tuple[int, str]] = []

    def add(self, index: int, key: str, expression: str) -> None:
        self.expressions.append(expression)
        self.keys.append((index, key))

    def run(self, dataset: Dataset) -> Iterator[tuple[int, str, Any]]:
        if not self.expressions:
            return
        row = dataset.fetch(f"SELECT {', '.join(self.expressions)} FROM data")[0]
        yield from ((index, key, value) for (index, key), value in zip(self.keys, row, strict=True))


def _kind(column: Column) -> str:
    if column.is_numeric:
        return "numeric"
    if column.type in ("VARCHAR", "JSON"):
        return "text"
    if column.type == "BOOLEAN":
        return "boolean"
    if column.type.startswith(_TEMPORAL_PREFIXES):
        return "temporal"
    return "other"


def _form(value: Any) -> str:
    return re.sub(r"[\W_]+", " ", str(value).lower()).strip()


def _number(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _plain(value: Any) -> Any:
    """A JSON-ready form of a value DuckDB returned."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dt.date | dt.time | dt.datetime):
        return value.isoformat()
    return str(value)


def _text(value: Any) -> str:
    plain = _plain(value)
    if isinstance(plain, bool):
        return "true" if plain else "false"
    return str(plain)
