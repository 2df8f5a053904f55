"""Sketches of partitions merge into the sketch of the whole, and a table sketched in parallel parts gives the
same baseline as one pass."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from bastion.monitor import MonitorError, sketch_table, statistics_document
from bastion.monitor.sketch import CATEGORY_LIMIT, sketch_batches
from tests.monitor.tables import people, write_parquet


def test_merged_partitions_equal_the_whole() -> None:
    table = people(60_000, seed=1)
    whole = sketch_batches(table.to_batches(max_chunksize=60_000))
    parts = [sketch_batches(table.slice(start, 20_000).to_batches()) for start in (0, 20_000, 40_000)]
    merged = parts[0]
    for part in parts[1:]:
        merged.merge(part)
    assert merged.rows == whole.rows
    for name, column in whole.columns.items():
        other = merged.columns[name]
        assert (other.present, other.count, other.min, other.max, other.negatives, other.counts) == (
            column.present,
            column.count,
            column.min,
            column.max,
            column.negatives,
            column.counts,
        )
        assert other.sum == pytest.approx(column.sum, rel=1e-12)
        assert other.mean == pytest.approx(column.mean, rel=1e-12)
        assert other.std_dev == pytest.approx(column.std_dev, rel=1e-9)
        if column.kll is not None:
            assert other.kll is not None and other.kll.count == column.kll.count
            values = np.sort(table.column(name).drop_null().to_numpy().astype(float))
            for rank in (0.01, 0.25, 0.5, 0.75, 0.99):
                # within the sketch's rank error of the exact quantile (ranks of tied values span a range)
                value = other.kll.quantile(rank)
                below, up_to = (np.searchsorted(values, value, side=side) / len(values) for side in ("left", "right"))
                assert below - 0.01 < rank < up_to + 0.01


def test_a_parallel_sketch_gives_the_baseline_of_one_pass(tmp_path: Path) -> None:
    table = people(600_000, seed=2)
    data = write_parquet(table, tmp_path / "big.parquet", row_group_rows=100_000)  # three parts of 250,000+ rows
    one = statistics_document(sketch_table(str(data), workers=1))
    two = statistics_document(sketch_table(str(data), workers=2))
    assert one["dataset"] == two["dataset"]
    for first, second in zip(one["features"], two["features"], strict=True):
        assert first["inferred_type"] == second["inferred_type"]
        if "string_statistics" in first:
            assert first == second
        else:
            a, b = first["numerical_statistics"], second["numerical_statistics"]
            assert (a["common"], a["min"], a["max"]) == (b["common"], b["min"], b["max"])
            assert a["mean"] == pytest.approx(b["mean"], rel=1e-12)
            assert a["std_dev"] == pytest.approx(b["std_dev"], rel=1e-9)


def test_a_directory_of_parquet_files_is_one_table(tmp_path: Path) -> None:
    (tmp_path / "2026" / "11").mkdir(parents=True)
    write_parquet(people(1_000, seed=3), tmp_path / "2026" / "a.parquet")
    write_parquet(people(2_000, seed=4), tmp_path / "2026" / "11" / "b.parquet")
    sketch = sketch_table(str(tmp_path), workers=1)
    assert sketch.rows == 3_000 and list(sketch.columns) == ["age", "income", "city", "churned"]


def test_files_whose_column_types_differ_are_refused(tmp_path: Path) -> None:
    write_parquet(pa.table({"x": [1, 2]}), tmp_path / "a.parquet")
    write_parquet(pa.table({"x": ["one", "two"]}), tmp_path / "b.parquet")
    with pytest.raises(MonitorError, match="column 'x' holds numeric values in one file and text in another"):
        sketch_table(str(tmp_path), workers=1)


def test_memory_is_bounded_by_the_sketch_not_the_rows() -> None:
    rows = 200_000
    identifiers = pa.array([f"id-{i}" for i in range(rows)])
    sketch = sketch_batches(pa.table({"id": identifiers, "x": np.arange(rows, dtype=float)}).to_batches(max_chunksize=65_536))
    assert len(sketch.columns["id"].counts) <= 2 * CATEGORY_LIMIT
    assert sketch.columns["id"].other + sum(sketch.columns["id"].counts.values()) == rows
    kll = sketch.columns["x"].kll
    assert kll is not None and sum(len(level) for level in kll.levels()) < 10_000
    assert len(json.dumps(statistics_document(sketch))) < 2_000_000


def test_a_dask_cluster_sketches_the_parts_as_processes_do(tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    data = write_parquet(people(520_000, seed=5), tmp_path / "big.parquet", row_group_rows=130_000)  # two parts
    local = statistics_document(sketch_table(str(data), workers=1))
    cluster = statistics_document(sketch_table(str(data), scheduler="local"))
    assert local["dataset"] == cluster["dataset"]
    for first, second in zip(local["features"], cluster["features"], strict=True):
        if "string_statistics" in first:
            assert first == second
        else:
            a, b = first["numerical_statistics"], second["numerical_statistics"]
            assert (a["common"], a["min"], a["max"], a["sum"]) == (b["common"], b["min"], b["max"], pytest.approx(b["sum"]))
