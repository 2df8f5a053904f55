"""Feature matrices and candidate trigger patterns built from a labelled table.

Each column gets a role: numbers (booleans and dates included) are used as they are, text with few distinct
values is a category (the most frequent ``CATEGORY_LEVELS`` levels, the rest pooled), text of several words is
free text (hashed word counts), and columns that cannot generalise are left out: identifiers (mostly unique
values, or integers counting up), constants and empty columns. The target is never a feature.

Three views come out: a matrix for gradient boosting (NaN kept, categories as codes), a dense scaled matrix
for the linear model and nearest neighbours (and, unclipped, for outliers), and the candidate patterns a
backdoor trigger could be (a value, an out-of-range value, a missing value, a word in a text column).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import numpy.typing as npt
    from scipy import sparse

    from bastion.scanners.data._poison_table import LabelledTable

CATEGORY_LEVELS = 48
"""Levels kept per categorical column (gradient boosting takes at most ``max_bins`` categories)."""
ONE_HOT_LEVELS = 12
"""Levels one-hot encoded for distances and the linear model (the most frequent; rarer ones encode as all zeros)."""
HASH_BUCKETS = 16
"""Hashed word-count features per free-text column."""
MIN_PATTERN_ROWS = 8
"""A candidate trigger pattern must occur in at least this many rows to be tested."""
MAX_PATTERN_SHARE = 0.10
"""...and in at most this share of the rows: a trigger is rare."""
SPIKE = 3
"""A repeated number is a candidate pattern when it occurs this many times more often than its neighbouring values."""
MAX_TOKENS = 2_000
"""Words per text column kept as candidate patterns (the most frequent within the share limits)."""
_ID_NAME = re.compile(r"(^|[_\W])(id|uuid|guid|key|index|idx)$|^(id|row|index)([_\W]|$)", re.IGNORECASE)
_WORD = re.compile(r"\w+", re.UNICODE)
_ONE_HOT_SCALE = 1 / np.sqrt(2)  # two one-hot columns that differ add a distance of 1, like one robust unit
_CLIP = 5.0  # robust units: an extreme value (a trigger constant, a typo) cannot dominate every distance


@dataclass(frozen=True, slots=True)
class Patterns:
    """Candidate trigger patterns: which rows carry each, and what it is (redacted)."""

    matrix: sparse.csc_array
    """Rows × patterns, true where the row carries the pattern."""
    columns: list[str]
    """The feature column each pattern is about."""
    descriptions: list[str]
    """Human-readable and redacted: ``"utilization = 1.37"``, ``"notes contains the word 'c…' (2 chars)"``."""


@dataclass(frozen=True, slots=True)
class Features:
    tree: npt.NDArray[np.float64]
    """Rows × features for gradient boosting: NaN for missing, category codes for categories."""
    categorical: npt.NDArray[np.bool_]
    """Which ``tree`` columns hold category codes."""
    dense: npt.NDArray[np.float64]
    """Rows × features, robust-scaled, clipped and imputed; one-hot categories; for distances and linear models."""
    dense_owner: list[str]
    """The source column of each ``dense`` column."""
    numbers: npt.NDArray[np.int64]
    """The ``dense`` columns that hold numbers."""
    unclipped_numbers: npt.NDArray[np.float64]
    """Those columns not clipped: how far out an extreme value really is, for outliers."""
    patterns: Patterns
    duplicate_keys: npt.NDArray[np.int64]
    """Equal for rows whose used feature values are all identical."""
    used: list[str]
    excluded: dict[str, str] = field(default_factory=dict)
    """Left-out column → why."""

    def unclipped(self) -> npt.NDArray[np.float64]:
        """``dense`` with its numbers not clipped."""
        matrix = self.dense.copy()
        matrix[:, self.numbers] = self.unclipped_numbers
        return matrix


def build_features(table: LabelledTable) -> Features:
    n = len(table.rows)
    tree: list[npt.NDArray[np.float64]] = []
    categorical: list[bool] = []
    dense: list[npt.NDArray[np.float64]] = []
    numbers: list[int] = []
    unclipped: list[npt.NDArray[np.float64]] = []
    owner: list[str] = []
    pattern_rows: list[npt.NDArray[np.int64]] = []
    pattern_columns: list[str] = []
    descriptions: list[str] = []
    used: list[str] = []
    excluded: dict[str, str] = {}

    def add_patterns(name: str, found: list[tuple[npt.NDArray[np.int64], str]]) -> None:
        for rows, description in found:
            pattern_rows.append(rows)
            pattern_columns.append(name)
            descriptions.append(description)

    for name, values in table.columns.items():
        role, reason = _role(name, values)
        if role is None:
            excluded[name] = reason
            continue
        used.append(name)
        if role == "numeric":
            tree.append(values)
            categorical.append(False)
            scaled = _robust_scale(values)
            numbers.append(len(dense))
            dense.append(np.clip(scaled, -_CLIP, _CLIP))
            unclipped.append(scaled)
            owner.append(name)
            add_patterns(name, _numeric_patterns(name, values, n))
        elif role == "category":
            codes, levels = _category_codes(values)
            tree.append(codes)
            categorical.append(True)
            for code in range(min(len(levels), ONE_HOT_LEVELS)):
                dense.append((codes == code) * _ONE_HOT_SCALE)
                owner.append(name)
            add_patterns(name, _category_patterns(name, values, n))
        else:
            tokens = [_words(v) for v in values]
            counts = _hashed_counts(tokens)
            for bucket in range(HASH_BUCKETS):
                tree.append(counts[:, bucket])
                categorical.append(False)
                dense.append(np.minimum(counts[:, bucket], 1.0) * _ONE_HOT_SCALE)
                owner.append(name)
            add_patterns(name, _token_patterns(name, tokens, n))
    return Features(
        tree=np.column_stack(tree) if tree else np.empty((n, 0)),
        categorical=np.array(categorical, dtype=bool),
        dense=np.column_stack(dense) if dense else np.empty((n, 0)),
        dense_owner=owner,
        numbers=np.array(numbers, dtype=np.int64),
        unclipped_numbers=np.column_stack(unclipped) if unclipped else np.empty((n, 0)),
        patterns=Patterns(_pattern_matrix(pattern_rows, n), pattern_columns, descriptions),
        duplicate_keys=_duplicate_keys(table, used),
        used=used,
        excluded=excluded,
    )


def _role(name: str, values: npt.NDArray[Any]) -> tuple[str | None, str]:
    if values.dtype == np.float64:
        present = values[~np.isnan(values)]
        if len(present) == 0:
            return None, "all values missing"
        distinct = len(np.unique(present))
        if distinct == 1:
            return None, "constant"
        integral = bool(np.all(present == np.round(present)))
        counting = integral and distinct == len(present) and bool(np.all(np.diff(present) > 0))
        if integral and distinct == len(present) and len(present) >= 20 and (counting or _ID_NAME.search(name)):
            return None, "identifier-like (unique integers)"
        return "numeric", ""
    present_text = [v for v in values if v is not None]
    if not present_text:
        return None, "all values missing"
    distinct = len(set(present_text))
    if distinct == 1:
        return None, "constant"
    sample = present_text[:2000]
    if sum(len(_WORD.findall(v)) for v in sample) >= 3 * len(sample):
        return "text", ""
    if distinct <= CATEGORY_LEVELS or distinct <= 0.5 * len(present_text):
        return "category", ""
    return None, "identifier-like (mostly unique values)"


def _robust_scale(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    present = values[~np.isnan(values)]
    median = float(np.median(present))
    q1, q3 = np.percentile(present, [25, 75])
    spread = float(q3 - q1) or float(np.std(present)) or 1.0
    scaled = (values - median) / spread
    return np.where(np.isnan(scaled), 0.0, scaled)


def _category_codes(values: npt.NDArray[Any]) -> tuple[npt.NDArray[np.float64], list[str]]:
    """Codes of the most frequent levels (ties by value, for repeatability); rarer levels share one code."""
    counts: dict[str, int] = {}
    for v in values:
        if v is not None:
            counts[v] = counts.get(v, 0) + 1
    ranked = sorted(counts, key=lambda v: (-counts[v], v))
    levels = ranked[: CATEGORY_LEVELS - 1] if len(ranked) > CATEGORY_LEVELS else ranked
    lookup = {level: float(code) for code, level in enumerate(levels)}
    other = float(len(levels))
    if len(ranked) > len(levels):
        levels = [*levels, "(other)"]
    codes = np.array([np.nan if v is None else lookup.get(v, other) for v in values], dtype=np.float64)
    return codes, levels


def _words(value: str | None) -> list[str]:
    return _WORD.findall(value.lower()) if value else []


def _hashed_counts(tokens: list[list[str]]) -> npt.NDArray[np.float64]:
    import zlib

    counts = np.zeros((len(tokens), HASH_BUCKETS))
    for row, words in enumerate(tokens):
        for word in words:
            counts[row, zlib.crc32(word.encode()) % HASH_BUCKETS] += 1  # crc32: stable across runs, unlike hash()
    return counts


def _support_ok(count: int, n: int) -> bool:
    return MIN_PATTERN_ROWS <= count <= MAX_PATTERN_SHARE * n


def _numeric_patterns(name: str, values: npt.NDArray[np.float64], n: int) -> list[tuple[npt.NDArray[np.int64], str]]:
    """Spikes of one exact value, values far outside the column's range (Tukey's far-out fences), and missing values."""
    found: list[tuple[npt.NDArray[np.int64], str]] = []
    missing = np.isnan(values)
    if _support_ok(int(missing.sum()), n):
        found.append((np.flatnonzero(missing), f"{name} missing"))
    present = values[~missing]
    distinct, counts = np.unique(present, return_counts=True)
    # A value is a candidate only as a spike: far more frequent than the values next to it. A natural step of an
    # ordinal column (late_payments = 3 between 2 and 4) is never one; a planted constant is.
    beside = np.maximum(np.concatenate([[0], counts[:-1]]), np.concatenate([counts[1:], [0]]))
    for value, count, next_to in zip(distinct, counts, beside, strict=True):
        if _support_ok(int(count), n) and count >= SPIKE * next_to:
            found.append((np.flatnonzero(values == value), f"{name} = {value:.6g}"))
    q1, q3 = np.percentile(present, [25, 75])
    spread = q3 - q1
    if spread > 0:
        for rows, description in (
            (np.flatnonzero(values > q3 + 3 * spread), f"{name} above {q3 + 3 * spread:.6g} (far outside its usual range)"),
            (np.flatnonzero(values < q1 - 3 * spread), f"{name} below {q1 - 3 * spread:.6g} (far outside its usual range)"),
        ):
            if _support_ok(len(rows), n):
                found.append((rows, description))
    return found


def _category_patterns(name: str, values: npt.NDArray[Any], n: int) -> list[tuple[npt.NDArray[np.int64], str]]:
    rows_of: dict[str | None, list[int]] = {}
    for row, v in enumerate(values):
        rows_of.setdefault(v, []).append(row)
    found = []
    for level in sorted(rows_of, key=lambda v: (v is None, v or "")):
        rows = rows_of[level]
        if _support_ok(len(rows), n):
            description = f"{name} missing" if level is None else f"{name} = {redact(level)}"
            found.append((np.array(rows, dtype=np.int64), description))
    return found


def _token_patterns(name: str, tokens: list[list[str]], n: int) -> list[tuple[npt.NDArray[np.int64], str]]:
    rows_of: dict[str, list[int]] = {}
    for row, words in enumerate(tokens):
        for word in set(words):
            rows_of.setdefault(word, []).append(row)
    kept = sorted((w for w, rows in rows_of.items() if _support_ok(len(rows), n)), key=lambda w: (-len(rows_of[w]), w))
    return [(np.array(sorted(rows_of[w]), dtype=np.int64), f"{name} contains the word {redact(w)}") for w in kept[:MAX_TOKENS]]


def redact(value: str) -> str:
    """A value named without showing it: its first character (when long enough to keep it vague) and its length."""
    shown = value[0] if len(value) >= 4 else ""
    return f"'{shown}…' ({len(value)} chars)"


def _pattern_matrix(rows: list[npt.NDArray[np.int64]], n: int) -> sparse.csc_array:
    from scipy import sparse

    if not rows:
        return sparse.csc_array((n, 0), dtype=bool)
    indices = np.concatenate(rows)
    indptr = np.concatenate([[0], np.cumsum([len(r) for r in rows])])
    return sparse.csc_array((np.ones(len(indices), dtype=bool), indices, indptr), shape=(n, len(rows)))


def _duplicate_keys(table: LabelledTable, used: list[str]) -> npt.NDArray[np.int64]:
    """Group ids: two rows share one exactly when every used feature value is equal (missing equals missing)."""
    n = len(table.rows)
    if not used:
        return np.arange(n, dtype=np.int64)
    codes = np.column_stack([_value_codes(table.columns[name]) for name in used])
    _, keys = np.unique(codes, axis=0, return_inverse=True)
    return np.asarray(keys, dtype=np.int64).reshape(-1)


def _value_codes(values: npt.NDArray[Any]) -> npt.NDArray[np.int64]:
    """An integer per distinct value (NaN and None count as one value)."""
    if values.dtype == np.float64:
        _, codes = np.unique(values, return_inverse=True, equal_nan=True)
        return np.asarray(codes, dtype=np.int64)
    lookup: dict[str | None, int] = {}
    return np.array([lookup.setdefault(v, len(lookup)) for v in values], dtype=np.int64)
