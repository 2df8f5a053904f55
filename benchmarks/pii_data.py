"""A table of personal data with known column-level ground truth, for the PII benchmark.

Values come from Faker in several locales, drawn from a pool per column (generating a million of each with
Faker would take longer than the benchmark) and shuffled into rows with numpy. Decoy columns carry no
personal data but look like it: product codes, hashes, numeric ids, card-like numbers that fail Luhn,
company names, event timestamps and lorem-ipsum prose.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LOCALES = ("en_US", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pl_PL", "pt_BR", "en_GB", "ru_RU", "ja_JP", "sv_SE")
POOL = 20_000
SEED = 4242


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    truth: frozenset[str]
    """The entities the column holds (empty for a decoy)."""
    make: Callable[[Any, random.Random], str]
    """One value from a Faker (multi-locale) and a random generator."""


# --- crypto addresses (Faker makes none) ---------------------------------------------------------------------

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_BECH = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def base58check(version: int, payload: bytes) -> str:
    raw = bytes([version]) + payload
    raw += hashlib.sha256(hashlib.sha256(raw).digest()).digest()[:4]
    value = int.from_bytes(raw, "big")
    text = ""
    while value:
        value, digit = divmod(value, 58)
        text = _B58[digit] + text
    return "1" * (len(raw) - len(raw.lstrip(b"\0"))) + text


def _polymod(values: list[int]) -> int:
    generator = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    check = 1
    for value in values:
        top = check >> 25
        check = (check & 0x1FFFFFF) << 5 ^ value
        for i in range(5):
            check ^= generator[i] if (top >> i) & 1 else 0
    return check


def segwit(version: int, program: bytes, hrp: str = "bc") -> str:
    accumulator, bits, data = 0, 0, [version]
    for byte in program:
        accumulator = accumulator << 8 | byte
        bits += 8
        while bits >= 5:
            bits -= 5
            data.append(accumulator >> bits & 31)
    if bits:
        data.append(accumulator << (5 - bits) & 31)
    constant = 1 if version == 0 else 0x2BC830A3
    expanded = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    polymod = _polymod([*expanded, *data, 0, 0, 0, 0, 0, 0]) ^ constant
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_BECH[d] for d in data + checksum)


def crypto_address(rng: random.Random) -> str:
    kind = rng.randrange(4)
    if kind == 0:
        return base58check(0x00, rng.randbytes(20))
    if kind == 1:
        return base58check(0x05, rng.randbytes(20))
    if kind == 2:
        return segwit(0, rng.randbytes(20))
    return "0x" + rng.randbytes(20).hex()


# --- values ---------------------------------------------------------------------------------------------------


def _luhn_fail(rng: random.Random) -> str:
    digits = [rng.randrange(10) for _ in range(15)]
    total = sum(d if i % 2 else (d * 2 - 9 if d > 4 else d * 2) for i, d in enumerate(reversed(digits)))
    good = (10 - total % 10) % 10
    return "4" + "".join(map(str, digits))[1:] + str((good + rng.randrange(1, 10)) % 10)


_DIAGNOSES = ("type 2 diabetes", "hypertension", "asthma", "major depressive disorder", "migraine", "E11.9", "I10", "J45.909")


def _note(fake: Any, rng: random.Random) -> str:
    parts = [fake["en_US"].sentence(nb_words=rng.randrange(6, 14))]
    if rng.random() < 0.3:
        parts.append(f"Patient {fake['en_US'].name()} reviewed.")
    if rng.random() < 0.25:
        parts.append(f"Reach at {fake['en_US'].email()}.")
    if rng.random() < 0.25:
        parts.append(f"Phone {fake['en_US'].phone_number()}.")
    if rng.random() < 0.2:
        parts.append(f"SSN {fake['en_US'].ssn()} verified.")
    if rng.random() < 0.25:
        parts.append(f"Born {fake['en_US'].date_of_birth().isoformat()}.")
    if rng.random() < 0.25:
        parts.append(f"History of {rng.choice(_DIAGNOSES)}.")
    rng.shuffle(parts)
    return " ".join(parts)


def _locale(fake: Any, rng: random.Random) -> Any:
    return fake[rng.choice(LOCALES)]


COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec("customer_name", frozenset({"PERSON"}), lambda f, r: _locale(f, r).name()),
    ColumnSpec("email", frozenset({"EMAIL_ADDRESS"}), lambda f, r: _locale(f, r).email()),
    ColumnSpec("phone", frozenset({"PHONE_NUMBER"}), lambda f, r: _locale(f, r).phone_number()),
    ColumnSpec("ssn", frozenset({"US_SSN"}), lambda f, r: f["en_US"].ssn()),
    ColumnSpec("credit_card", frozenset({"CREDIT_CARD"}), lambda f, r: f["en_US"].credit_card_number()),
    ColumnSpec(
        "iban", frozenset({"IBAN_CODE"}), lambda f, r: f[r.choice(("de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "en_GB"))].iban()
    ),
    ColumnSpec("ip", frozenset({"IP_ADDRESS"}), lambda f, r: f["en_US"].ipv4() if r.random() < 0.7 else f["en_US"].ipv6()),
    ColumnSpec("date_of_birth", frozenset({"DATE_TIME"}), lambda f, r: f["en_US"].date_of_birth().isoformat()),
    ColumnSpec("address", frozenset({"LOCATION"}), lambda f, r: _locale(f, r).address().replace("\n", ", ")),
    ColumnSpec("wallet", frozenset({"CRYPTO"}), lambda f, r: crypto_address(r)),
    ColumnSpec("website", frozenset({"URL"}), lambda f, r: f["en_US"].url()),
    ColumnSpec("passport_no", frozenset({"US_PASSPORT"}), lambda f, r: f["en_US"].passport_number()),
    ColumnSpec(
        "notes",
        frozenset({"PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER", "US_SSN", "DATE_TIME", "MEDICAL_CONDITION"}),
        _note,
    ),
    ColumnSpec("product_code", frozenset(), lambda f, r: f["en_US"].bothify("??-####-??").upper()),
    ColumnSpec("checksum", frozenset(), lambda f, r: f["en_US"].sha256()),
    ColumnSpec("order_id", frozenset(), lambda f, r: str(r.randrange(10**8, 10**10))),
    ColumnSpec("card_like", frozenset(), lambda f, r: _luhn_fail(r)),
    ColumnSpec("company", frozenset(), lambda f, r: _locale(f, r).company()),
    ColumnSpec(
        "created_at", frozenset(), lambda f, r: f["en_US"].date_time_between("-2y").isoformat(sep=" ", timespec="seconds")
    ),
    ColumnSpec("description", frozenset(), lambda f, r: f["en_US"].paragraph(nb_sentences=2)),
)


def truth() -> dict[str, frozenset[str]]:
    return {c.name: c.truth for c in COLUMNS}


def generate(rows: int, parquet: Path, csv: Path, *, pool: int = POOL, seed: int = SEED) -> None:
    """Write the table as Parquet and CSV (same rows), unless both already exist."""
    if parquet.exists() and csv.exists():
        return
    import duckdb
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    from faker import Faker

    fake = Faker(list(LOCALES))
    fake.seed_instance(seed)
    rng = random.Random(seed)
    picker = np.random.default_rng(seed)
    arrays = {}
    for spec in COLUMNS:
        values = np.array([spec.make(fake, rng) for _ in range(min(pool, rows))], dtype=object)
        arrays[spec.name] = pa.array(values[picker.integers(0, len(values), rows)], type=pa.string())
    parquet.parent.mkdir(parents=True, exist_ok=True)
    partial = parquet.with_suffix(".partial")
    pq.write_table(pa.table(arrays), partial, row_group_size=100_000)
    partial.replace(parquet)
    with duckdb.connect() as con:
        con.execute(f"COPY (SELECT * FROM read_parquet('{parquet}')) TO '{csv}.partial' (FORMAT csv, HEADER)")
    Path(f"{csv}.partial").replace(csv)
