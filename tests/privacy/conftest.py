"""Generated people tables (Faker, fixed seeds) in every dataset format, and a keyring to anonymize them with."""

from __future__ import annotations

import csv
import hashlib
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bastion.store.keys import LocalKeyring, init_keyring

COLUMNS = ("id", "name", "email", "ssn", "card", "age", "birth_date", "zip", "income", "diagnosis", "notes", "sex")


def people(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """``count`` fake patients; the same seed gives the same rows."""
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(seed)
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        name = fake.name()
        rows.append(
            {
                "id": i,
                "name": name,
                "email": fake.email(),
                "ssn": fake.ssn(),
                "card": fake.credit_card_number(),
                "age": rng.randint(18, 95),
                "birth_date": fake.date_of_birth(minimum_age=18, maximum_age=95).isoformat(),
                "zip": fake.zipcode(),
                "income": round(rng.uniform(0, 150_000), 2),
                "diagnosis": rng.choice(["flu", "asthma", "diabetes", "hypertension"]),
                "notes": f"{name} called from {fake.phone_number()} about the results.",
                "sex": rng.choice("MF"),
            }
        )
    return rows


def write_table(rows: list[dict[str, Any]], path: Path) -> Path:
    """``rows`` as CSV, TSV, Parquet or JSON Lines, chosen by ``path``'s suffix."""
    if path.suffix in (".csv", ".tsv"):
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]), delimiter="\t" if path.suffix == ".tsv" else ",")
            writer.writeheader()
            writer.writerows(rows)
    elif path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path)
    else:
        path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def read_table(path: Path) -> list[dict[str, Any]]:
    """The rows of a dataset file, read by DuckDB (CSV as text)."""
    import duckdb

    reader = {
        ".csv": "read_csv($p, all_varchar = true)",
        ".tsv": "read_csv($p, all_varchar = true, delim = '\t')",
        ".parquet": "read_parquet($p)",
        ".jsonl": "read_json($p, format = 'newline_delimited')",
    }[path.suffix]
    connection = duckdb.connect()
    try:
        result = connection.execute(f"SELECT * FROM {reader}", {"p": str(path)})
        names = [d[0] for d in result.description]
        return [dict(zip(names, row, strict=True)) for row in result.fetchall()]
    finally:
        connection.close()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh BASTION_HOME with a keyring holding the key ``default``."""
    home = tmp_path / "home"
    monkeypatch.setenv("BASTION_HOME", str(home))
    monkeypatch.delenv("BASTION_KMS_URL", raising=False)
    init_keyring(home / "keys" / "keyring.json")
    return home


@pytest.fixture
def keyring(home: Path) -> LocalKeyring:
    return LocalKeyring(home / "keys" / "keyring.json")


@pytest.fixture
def table(tmp_path: Path) -> Callable[..., Path]:
    """Write generated people to ``tmp_path/data/NAME``."""

    def make(name: str, count: int = 300, seed: int = 7) -> Path:
        directory = tmp_path / "data"
        directory.mkdir(exist_ok=True)
        return write_table(people(count, seed), directory / name)

    return make
