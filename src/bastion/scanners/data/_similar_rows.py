"""Near-duplicate rows by content: MinHash signatures, banded for locality-sensitive hashing, checked exactly.

A row's content is a set of tokens: each word of its text columns and each value of its other columns, normalised
as ``quality`` does for equal-once-normalised rows and tagged with the column. Tokens in more than
``FREQUENT_SHARE`` of rows, and more than ``FREQUENT_MIN_ROWS`` (template words, categories, common names, "gmail"),
are left out: they say little about whether two rows are the same record. Two rows are similar when the Jaccard
similarity of their remaining tokens is at least ``SIMILARITY`` and each has ``MIN_TOKENS`` of them.

MinHash (Broder, 1997) gives each row ``BANDS`` x ``BAND_WIDTH`` minima of multiply-shift hashes of its tokens; rows
that agree on every minimum of one band become candidates, so a pair at Jaccard J is found with probability
1 - (1 - J^3)^16: 0.98 at 0.6, 0.9994 at 0.8. Candidates are then checked on their exact Jaccard, so none is reported
wrongly. The signatures are computed by numpy inside a DuckDB function, a batch of rows at a time; band keys,
buckets, pairs and tokens live in DuckDB temporary tables, grouped and joined by DuckDB, which spills them: memory
stays bounded on any file. Buckets of more than ``MAX_BUCKET`` rows are left out, which bounds the pairs too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from bastion.scanners.data.dataset import Dataset, quote_identifier

if TYPE_CHECKING:
    import numpy.typing as npt

SIMILARITY = 0.6
"""Jaccard similarity of two rows' tokens from which they are near-duplicates."""
MIN_TOKENS = 3
"""Informative tokens a row needs to be compared; fewer match by chance."""
FREQUENT_SHARE = 0.0001
"""Tokens in more than this share of rows (and more than ``FREQUENT_MIN_ROWS``) are left out."""
FREQUENT_MIN_ROWS = 20
SAMPLE_ROWS = 50_000
"""Rows sampled to find the frequent tokens."""
BANDS = 16
BAND_WIDTH = 3
MAX_BUCKET = 50
"""Rows sharing a band key beyond which the bucket is left out: pairs in a bucket grow with its square."""
WORDS_PER_VALUE = 64
"""Words of a text value that become tokens; a long note is judged on its beginning."""
MAX_COLUMNS = 200
"""Columns that give tokens; wide tables are judged on their first ones."""
MAX_PAIRS = 200_000
"""Similar pairs read back to form groups; the count of similar rows stays exact beyond it."""

_SEED = 0x5111_A12D
_MIX = np.uint64(0x9E3779B97F4A7C15)


@dataclass(frozen=True, slots=True)
class TokenSource:
    """One column's contribution to a row's tokens."""

    expression: str
    """SQL of the column's normalised value over the ``numbered`` view."""
    is_text: bool
    """Whether the value is split into words (text) or taken whole (numbers, dates, ...)."""


@dataclass(frozen=True, slots=True)
class SimilarRows:
    """Rows whose content nearly repeats an earlier row's."""

    count: int
    """Rows similar to an earlier row (in the ``numbered`` view's order)."""
    groups: list[list[int]]
    """Groups of mutually linked rows, as ``numbered`` view rows, each sorted, ordered by their first row."""


def similar_rows(dataset: Dataset, sources: Sequence[TokenSource], *, exclude_key: str | None = None) -> SimilarRows:
    """Near-duplicate rows of ``dataset``; pairs equal on ``exclude_key`` (a column of the temporary table
    ``bastion_row_hashes``, keyed by row ``r``) are left out, being reported otherwise."""
    sources = list(sources)[:MAX_COLUMNS]
    if not sources:
        return SimilarRows(0, [])
    tokens = _token_sql(sources)
    row = quote_identifier(dataset.row_column)
    frequent = _frequent_tokens(dataset, tokens)
    try:
        _write_keys(dataset, f"SELECT {row} AS r, {tokens} AS t FROM numbered", frequent)
        _write_pairs(dataset)
        return _verified(dataset, exclude_key)
    finally:
        for table in _TABLES:
            dataset.fetch(f"DROP TABLE IF EXISTS {table}")


_TABLES = (
    "bastion_similar_keys",
    "bastion_similar_members",
    "bastion_similar_pairs",
    "bastion_similar_found",
)


def _token_sql(sources: Sequence[TokenSource]) -> str:
    """SQL of a row's distinct token hashes (UBIGINT[]), each word or value hashed with its column's index."""
    parts = []
    for index, source in enumerate(sources):
        if source.is_text:
            words = f"list_filter(string_split({source.expression}, ' '), lambda w: w <> '')[:{WORDS_PER_VALUE}]"
            parts.append(f"list_transform({words}, lambda w: hash(w, {index}))")
        else:
            value = source.expression
            parts.append(f"CASE WHEN {value} IS NULL THEN []::UBIGINT[] ELSE [hash({value}, {index})] END")
    return f"list_distinct(list_concat({', '.join(parts)}))" if len(parts) > 1 else f"list_distinct({parts[0]})"


def _frequent_tokens(dataset: Dataset, tokens: str) -> npt.NDArray[np.uint64]:
    """Tokens in more than ``FREQUENT_SHARE`` of a repeatable sample of rows, sorted."""
    from bastion.scanners.data.dataset import SAMPLE_SEED

    sampled = min(dataset.row_count, SAMPLE_ROWS)
    least = max(FREQUENT_SHARE * sampled, FREQUENT_MIN_ROWS * sampled / max(dataset.row_count, 1))
    rows = dataset.fetch(
        f"SELECT token FROM (SELECT unnest({tokens}) AS token FROM "
        f"(SELECT * FROM numbered USING SAMPLE reservoir({SAMPLE_ROWS} ROWS) REPEATABLE ({SAMPLE_SEED}))) "
        f"GROUP BY token HAVING count(*) > {float(least)!r} ORDER BY token"
    )
    return np.array([int(token) for (token,) in rows], dtype=np.uint64)


def _write_keys(dataset: Dataset, query: str, frequent: npt.NDArray[np.uint64]) -> None:
    """One pass: each row's band keys (``k``, ``BANDS`` of them) and informative tokens (``t``) into a temporary
    table, which DuckDB spills; rows with too few tokens are left out. Numpy computes the signatures inside a DuckDB
    function, a batch of rows at a time."""
    import duckdb
    import pyarrow as pa
    from duckdb.func import ARROW, SPECIAL
    from duckdb.sqltypes import BIGINT, UBIGINT

    rng = np.random.default_rng(_SEED)
    multipliers = rng.integers(1, 2**63, BANDS * BAND_WIDTH, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    offsets = rng.integers(0, 2**63, BANDS * BAND_WIDTH, dtype=np.uint64)

    def signed(lists: Any) -> Any:  # DuckDB evaluates these annotations at run time: no names from TYPE_CHECKING
        return _band_keys(lists.combine_chunks() if isinstance(lists, pa.ChunkedArray) else lists, frequent, multipliers, offsets)

    result = duckdb.struct_type({"k": duckdb.list_type(BIGINT), "t": duckdb.list_type(UBIGINT)})
    dataset.connection.create_function(
        "bastion_band_keys", signed, [duckdb.list_type(UBIGINT)], result, type=ARROW, null_handling=SPECIAL
    )
    try:
        dataset.fetch(
            "CREATE OR REPLACE TEMP TABLE bastion_similar_keys AS "
            f"SELECT r, s.k AS k, s.t AS t FROM (SELECT r, bastion_band_keys(t) AS s FROM ({query})) WHERE s IS NOT NULL"
        )
    finally:
        dataset.connection.remove_function("bastion_band_keys")


def _band_keys(
    lists: Any, frequent: npt.NDArray[np.uint64], multipliers: npt.NDArray[np.uint64], offsets: npt.NDArray[np.uint64]
) -> Any:
    """For an Arrow list array of token hashes, a struct array of each list's band keys (``k``) and informative tokens
    (``t``), null where fewer than ``MIN_TOKENS`` tokens are informative."""
    import pyarrow as pa
    import pyarrow.compute as pc

    count = len(lists)
    lengths = np.asarray(pc.fill_null(pc.list_value_length(lists), 0).to_numpy(zero_copy_only=False), dtype=np.int64)
    values = np.asarray(pc.list_flatten(lists).to_numpy(zero_copy_only=False), dtype=np.uint64)
    owner = np.repeat(np.arange(count), lengths)
    informative = ~_contains(frequent, values)
    values, owner = values[informative], owner[informative]
    enough = np.bincount(owner, minlength=count) >= MIN_TOKENS
    kept = enough[owner]
    values, owner = values[kept], owner[kept]
    keys = np.zeros((count, BANDS), dtype=np.uint64)
    if len(values):
        starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
        signature = np.empty((len(starts), BANDS * BAND_WIDTH), dtype=np.uint64)
        with np.errstate(over="ignore"):
            for slot, (multiplier, offset) in enumerate(zip(multipliers, offsets, strict=True)):
                signature[:, slot] = np.minimum.reduceat((values * multiplier + offset) >> np.uint64(32), starts)
            # A band's 32-bit minima fold into one 64-bit key.
            banded = signature.reshape(len(starts), BANDS, BAND_WIDTH)
            folded = banded[:, :, 0].copy()
            for slot in range(1, BAND_WIDTH):
                folded = (folded * _MIX) ^ banded[:, :, slot]
        keys[owner[starts]] = folded
    token_offsets = np.r_[0, np.cumsum(np.bincount(owner, minlength=count))].astype(np.int32)
    key_offsets = np.arange(0, BANDS * (count + 1), BANDS, dtype=np.int32)
    return pa.StructArray.from_arrays(
        [
            pa.ListArray.from_arrays(key_offsets, pa.array(keys.reshape(-1).view(np.int64))),
            pa.ListArray.from_arrays(token_offsets, pa.array(values)),
        ],
        names=["k", "t"],
        mask=pa.array(~enough),
    )


def _contains(sorted_values: npt.NDArray[np.uint64], values: npt.NDArray[np.uint64]) -> npt.NDArray[np.bool_]:
    if len(sorted_values) == 0:
        return np.zeros(len(values), dtype=bool)
    at = np.minimum(np.searchsorted(sorted_values, values), len(sorted_values) - 1)
    return np.asarray(sorted_values[at] == values, dtype=bool)


def _write_pairs(dataset: Dataset) -> None:
    """Candidate pairs into ``bastion_similar_pairs``: rows sharing a band key, band by band, in buckets of at most
    ``MAX_BUCKET`` rows. A bigger bucket gathers rows around one common token; a near-duplicate pair meets in several
    bands (about 16 J^3), so it rarely depends on one of those. Grouping and joins spill: memory stays bounded."""
    dataset.fetch("CREATE OR REPLACE TEMP TABLE bastion_similar_pairs (a BIGINT, b BIGINT)")
    for band in range(1, BANDS + 1):
        dataset.fetch(
            f"CREATE OR REPLACE TEMP TABLE bastion_similar_members AS SELECT r, k[{band}] AS key FROM bastion_similar_keys "
            f"WHERE k[{band}] IN (SELECT k[{band}] FROM bastion_similar_keys GROUP BY 1 "
            f"HAVING count(*) BETWEEN 2 AND {MAX_BUCKET})"
        )
        dataset.fetch(
            "INSERT INTO bastion_similar_pairs SELECT x.r, y.r FROM bastion_similar_members AS x "
            "JOIN bastion_similar_members AS y ON x.key = y.key AND x.r < y.r"
        )
    # A pair in several bands is checked once.
    dataset.fetch("CREATE OR REPLACE TEMP TABLE bastion_similar_pairs AS SELECT DISTINCT a, b FROM bastion_similar_pairs")


def _verified(dataset: Dataset, exclude_key: str | None) -> SimilarRows:
    """Candidate pairs from shared buckets, kept when their exact Jaccard similarity is high enough."""
    shared = "len(list_intersect(x.t, y.t))"
    hashes, excluded = "", ""
    if exclude_key is not None:
        key = quote_identifier(exclude_key)
        hashes = "JOIN bastion_row_hashes AS hx ON hx.r = p.a JOIN bastion_row_hashes AS hy ON hy.r = p.b "
        excluded = f"AND hx.{key} <> hy.{key}"
    dataset.fetch(
        "CREATE OR REPLACE TEMP TABLE bastion_similar_found AS SELECT p.a, p.b FROM bastion_similar_pairs AS p "
        f"JOIN bastion_similar_keys AS x ON x.r = p.a JOIN bastion_similar_keys AS y ON y.r = p.b {hashes}"
        f"WHERE {shared} >= {SIMILARITY!r} * (len(x.t) + len(y.t) - {shared}) {excluded}"
    )
    (count,) = dataset.fetch("SELECT count(DISTINCT b) FROM bastion_similar_found")[0]
    if not count:
        return SimilarRows(0, [])
    pairs = dataset.fetch(f"SELECT a, b FROM bastion_similar_found ORDER BY a, b LIMIT {MAX_PAIRS}")
    return SimilarRows(int(count), _groups(pairs))


def _groups(pairs: Sequence[tuple[int, int]]) -> list[list[int]]:
    """Connected groups of linked rows (union-find), each sorted, ordered by their first row."""
    parent: dict[int, int] = {}

    def root(node: int) -> int:
        parent.setdefault(node, node)
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for a, b in pairs:
        first, second = root(int(a)), root(int(b))
        if first != second:
            parent[max(first, second)] = min(first, second)
    members: dict[int, list[int]] = {}
    for node in parent:
        members.setdefault(root(node), []).append(node)
    return sorted((sorted(group) for group in members.values()), key=lambda group: group[0])
