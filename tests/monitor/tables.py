"""Tables for the monitor tests: real Parquet and CSV files with known distributions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

CITIES = ["paris", "lyon", "nice", "lille"]
CITY_SHARES = [0.4, 0.3, 0.2, 0.1]


def people(
    rows: int, seed: int, *, age_shift: float = 0.0, income_shift: float = 0.0, cities: list[float] | None = None
) -> pa.Table:
    """ages (integers), incomes (floats, with missing values), cities (text) and a 0/1 flag."""
    rng = np.random.default_rng(seed)
    income = rng.normal(50_000 + income_shift, 10_000, rows)
    missing = rng.random(rows) < 0.05
    return pa.table(
        {
            "age": pa.array((rng.normal(40, 12, rows) + age_shift).round().clip(18, 95).astype(np.int64)),
            "income": pa.array(income, mask=missing),
            "city": pa.array(rng.choice(CITIES, rows, p=cities or CITY_SHARES)),
            "churned": pa.array(rng.integers(0, 2, rows)),
        }
    )


def write_parquet(table: pa.Table, path: Path, *, row_group_rows: int = 10_000) -> Path:
    pq.write_table(table, path, row_group_size=row_group_rows)
    return path
