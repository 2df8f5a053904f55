"""Sensitive data in a dataset, column by column, like Macie and presidio-structured but without per-cell NER.

1. One repeatable row sample of every column (one query per 10,000 columns) decides what each column holds:
   header hints, shapes, checksums and dictionaries, in Python, on the sample only (``classify``).
2. One vectorised DuckDB pass then counts the matching cells of every decided (column, entity) over the whole
   file with RE2 (``regexp_full_match``), and in free-text columns the cells holding each entity the sample
   showed (``regexp_matches``) plus, in one alternation, those holding any other. DuckDB streams the file, so
   memory stays bounded; a file of 10,000 columns still takes one pass per 2,000 aggregates, not per column.
3. Rare hits the sample missed (an e-mail in one note of a million, a key in a cell) are fetched — a few
   hundred cells at most — and confirmed in Python before they are reported.

Findings follow the contract: one per (column, entity), ``count`` = cells, evidence as redacted shapes.

On a cluster, step 1 is the plan (the sample is of the whole file, so it is drawn once) and steps 2 and 3 split
by rows: counts add up, and the first cells of the whole that match a pattern are the first of each partition's.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bastion.core import Category, Finding, Location, Severity
from bastion.scanners.data import classify as cl
from bastion.scanners.data import places, vocabularies
from bastion.scanners.data.dataset import SAMPLE_SEED, Column, Dataset
from bastion.scanners.data.entities import ENTITIES, RECOGNIZERS, find_entities
from bastion.scanners.data.interface import PartitionedAnalysis
from bastion.scanners.interface import ScanOptions

if TYPE_CHECKING:
    from bastion.scanners.code.rules import SecretRule

SAMPLE_ROWS = 1000
_SAMPLE_VALUES = 200_000
"""Sampled cells across all columns: a 10,000-column table gets 50 rows (the floor), not 1,000."""
_MIN_SAMPLE_ROWS = 50
_COLUMNS_PER_QUERY = 10_000
_AGGREGATES_PER_QUERY = 2000
_MAX_SAMPLED_CHARS = 4000
"""Longer cells are cut in the sample (a quoted field that spans a whole file is still counted in full by DuckDB)."""
_FETCH_LIMIT = 500
"""Cells fetched to confirm hits the sample missed."""

_INTEGER_TYPES = frozenset(
    {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT"}
)
_DATE_TYPES = ("DATE", "TIMESTAMP")
_NESTED = ("STRUCT", "MAP", "JSON", "UNION")


@dataclass(frozen=True, slots=True)
class SensitiveDataPlan:
    """What each column was decided to hold, from the sample, and the aggregates that count it."""

    columns: list[Column]
    """The columns that may hold personal data (text, integers, dates, nested values)."""
    verdicts: dict[str, cl.ColumnVerdict]
    """By column name: what the sample showed."""
    aggregates: list[tuple[tuple[str, str], str]]
    """(column, what is counted) and its SQL aggregate: an entity, "nonnull", "others" or "secret"."""


@dataclass(frozen=True, slots=True)
class SensitiveDataCounts:
    """The counting pass over some rows."""

    counts: dict[tuple[str, str], int]
    """By (column, what is counted), as the plan's aggregates."""
    cells: dict[tuple[str, str], list[str]]
    """By (column, "others" or "secret") where some cell matched: the first ``_FETCH_LIMIT`` matching cells, in row order,
    to confirm in Python."""


class SensitiveDataAnalysis(PartitionedAnalysis[SensitiveDataPlan, SensitiveDataCounts]):
    """Personal data, GDPR special categories, credentials and offensive text, one finding per (column, entity)."""

    name = "pii"

    def plan(self, dataset: Dataset, options: ScanOptions) -> SensitiveDataPlan:
        columns = [c for c in dataset.columns if _cell_sql(c) is not None]
        samples = _sample(dataset, columns) if columns else {}
        verdicts = {
            c.name: cl.classify_column(c.name, samples.get(c.name, []), is_date=_is_date(c), is_integer=_is_integer(c))
            for c in columns
        }
        counter = _Counter()
        for column in columns:
            _add_counts(counter, column, verdicts[column.name])
        return SensitiveDataPlan(columns, verdicts, counter.aggregates)

    def partial(self, dataset: Dataset, plan: SensitiveDataPlan) -> SensitiveDataCounts:
        counts = _count(dataset, plan.aggregates)
        cells: dict[tuple[str, str], list[str]] = {}
        for column in plan.columns:
            cell = _cell_sql(column)
            if counts.get((column.name, "others")):
                unseen = _text_patterns_union(_unseen_entities(plan.verdicts[column.name]))
                cells[(column.name, "others")] = _first_cells(
                    dataset, f"left({cell}, {_MAX_SAMPLED_CHARS})", f"regexp_matches({cell}, {_sql(unseen)})"
                )
            if counts.get((column.name, "secret")):
                prefilter = _sql(_credential_prefilter())
                cells[(column.name, "secret")] = _first_cells(
                    dataset, column.quoted, f"regexp_matches({column.quoted}, {prefilter})"
                )
        return SensitiveDataCounts(counts, cells)

    def merge(self, partials: Sequence[SensitiveDataCounts]) -> SensitiveDataCounts:
        counts: dict[tuple[str, str], int] = {}
        cells: dict[tuple[str, str], list[str]] = {}
        for part in partials:
            for key, count in part.counts.items():
                counts[key] = counts.get(key, 0) + count
            for key, found in part.cells.items():
                cells[key] = (cells.get(key, []) + found)[:_FETCH_LIMIT]
        return SensitiveDataCounts(counts, cells)

    def finish(self, dataset: Dataset, plan: SensitiveDataPlan, merged: SensitiveDataCounts) -> list[Finding]:
        counts = merged.counts
        findings: list[Finding] = []
        for column in plan.columns:
            verdict = plan.verdicts[column.name]
            nonnull = counts.get((column.name, "nonnull"), 0)
            for found in verdict.entities:
                findings.append(
                    _column_finding(dataset, column, verdict, found, counts.get((column.name, found.entity), 0), nonnull)
                )
            if verdict.free_text:
                others = merged.cells.get((column.name, "others"), [])
                findings.extend(_text_findings(dataset, column, verdict, counts, nonnull, others))
            secrets = merged.cells.get((column.name, "secret"), [])
            findings.extend(_credential_findings(dataset, column, verdict, counts.get((column.name, "secret"), 0), secrets))
        return findings


def _first_cells(dataset: Dataset, selected: str, condition: str) -> list[str]:
    rows = dataset.fetch(f"SELECT {selected} FROM data WHERE {condition} LIMIT {_FETCH_LIMIT}")
    return [str(value) for (value,) in rows]


def _unseen_entities(verdict: cl.ColumnVerdict) -> list[str]:
    """Entities a free-text column's sample did not show, counted together in the pass and confirmed afterwards."""
    return sorted(_text_patterns().keys() - {found.entity for found in verdict.text_entities})


def _text_patterns_union(entities: Sequence[str]) -> str:
    patterns = _text_patterns()
    return _union([patterns[e] for e in entities])


def _add_counts(counter: _Counter, column: Column, verdict: cl.ColumnVerdict) -> None:
    """The aggregates one column needs in the counting pass."""
    cell = _cell_sql(column)
    if verdict.entities or verdict.free_text:
        counter.add((column.name, "nonnull"), f"count({cell})")
    for found in verdict.entities:
        counter.add((column.name, found.entity), f"count(*) FILTER (WHERE {_cell_predicate(column, found)})")
    if verdict.free_text:
        # Entities the sample showed are counted one by one; all others together, confirmed afterwards if any.
        patterns = _text_patterns()
        seen = {found.entity for found in verdict.text_entities}
        for entity in sorted(seen & patterns.keys()):
            counter.add((column.name, entity), f"count(*) FILTER (WHERE regexp_matches({cell}, {_sql(patterns[entity])}))")
        unseen = _unseen_entities(verdict)
        if unseen:
            union = _sql(_text_patterns_union(unseen))
            counter.add((column.name, "others"), f"count(*) FILTER (WHERE regexp_matches({cell}, {union}))")
    if column.is_text and not _fully_typed(verdict):
        counter.add((column.name, "secret"), f"count(*) FILTER (WHERE regexp_matches({cell}, {_sql(_credential_prefilter())}))")


def _fully_typed(verdict: cl.ColumnVerdict) -> bool:
    """A column whose every value is an e-mail address or an IBAN holds no API key: skip the credential search."""
    return any(found.kind in ("checksum", "pattern") and found.rate >= 0.99 for found in verdict.entities)


# --- reading ------------------------------------------------------------------------------------------------


def _is_integer(column: Column) -> bool:
    return column.type in _INTEGER_TYPES


def _is_date(column: Column) -> bool:
    return column.type.startswith(_DATE_TYPES)


def _cell_sql(column: Column) -> str | None:
    """The cell as text in SQL, or None for types that hold no personal data (floats, booleans, blobs, UUIDs)."""
    if column.is_text:
        return column.quoted
    if _is_integer(column) or _is_date(column) or column.type.startswith(_NESTED) or column.type.endswith("[]"):
        return f"CAST({column.quoted} AS VARCHAR)"
    return None


def _sample(dataset: Dataset, columns: Sequence[Column]) -> dict[str, list[str]]:
    """A repeatable row sample of every column, as text: one query per 10,000 columns, not one per column."""
    rows = max(_MIN_SAMPLE_ROWS, min(SAMPLE_ROWS, _SAMPLE_VALUES // len(columns)))
    result: dict[str, list[str]] = {}
    for start in range(0, len(columns), _COLUMNS_PER_QUERY):
        chunk = columns[start : start + _COLUMNS_PER_QUERY]
        selected = ", ".join(f"left({_cell_sql(c)}, {_MAX_SAMPLED_CHARS})" for c in chunk)
        table = dataset.query(
            f"SELECT {selected} FROM data USING SAMPLE reservoir({rows} ROWS) REPEATABLE ({SAMPLE_SEED})"
        ).fetchall()
        for index, column in enumerate(chunk):
            result[column.name] = [row[index] for row in table if row[index] is not None]
    return result


class _Counter:
    """Aggregates gathered from every check, to run together (``_count``)."""

    def __init__(self) -> None:
        self.aggregates: list[tuple[tuple[str, str], str]] = []

    def add(self, key: tuple[str, str], sql: str) -> None:
        """``key`` is (column, what is counted): an entity, "nonnull", "others" or "secret"."""
        self.aggregates.append((key, sql))


def _count(dataset: Dataset, aggregates: list[tuple[tuple[str, str], str]]) -> dict[tuple[str, str], int]:
    """Every aggregate's count: one pass over the file per 2,000 of them."""
    counts: dict[tuple[str, str], int] = {}
    for start in range(0, len(aggregates), _AGGREGATES_PER_QUERY):
        chunk = aggregates[start : start + _AGGREGATES_PER_QUERY]
        row = dataset.query(f"SELECT {', '.join(sql for _, sql in chunk)} FROM data").fetchone()
        counts.update({key: int(value or 0) for (key, _), value in zip(chunk, row or (), strict=False)})
    return counts


def _sql(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# --- structured columns -------------------------------------------------------------------------------------


def _cell_predicate(column: Column, found: cl.EntityVerdict) -> str:
    """Which cells of a column decided to hold ``found.entity`` count: its shapes in RE2, or a dictionary entity's form."""
    cell = f"trim({_cell_sql(column)})"
    if _is_date(column):
        return f"{column.quoted} IS NOT NULL"
    placeholders = ", ".join(_sql(p) for p in sorted(cl.PLACEHOLDERS))
    present = f"{cell} IS NOT NULL AND lower({cell}) NOT IN ({placeholders})"
    shapes = [r.value for r in RECOGNIZERS if r.entity == found.entity]
    if found.kind in ("checksum", "pattern", "weak") and shapes:
        return f"{present} AND regexp_full_match({cell}, {_sql(_union(shapes))})"
    if found.entity == "PERSON" or found.kind == "place":
        return f"{present} AND regexp_matches({cell}, '\\pL') AND NOT regexp_matches({cell}, '[0-9@]')"
    if found.kind == "address":
        return f"{present} AND regexp_matches({cell}, '[0-9]') AND regexp_matches({cell}, '\\pL\\pL')"
    return present


def _union(patterns: Sequence[str]) -> str:
    return "|".join(f"(?:{p})" for p in patterns)


def _column_finding(
    dataset: Dataset, column: Column, verdict: cl.ColumnVerdict, found: cl.EntityVerdict, count: int, nonnull: int
) -> Finding:
    info = ENTITIES[found.entity]
    place = found.entity == "LOCATION" and found.kind == "place"
    description = "place names or postal codes" if place else info.description
    basis = f"{found.rate:.0%} of {verdict.sampled:,} sampled values"
    if found.kind == "checksum":
        basis += " passed the checksum"
    elif found.kind in ("dictionary", "address", "place", "vocabulary"):
        basis += f" matched the {found.kind} {'lists' if found.kind != 'address' else 'patterns'}"
    else:
        basis += " matched the pattern"
    if found.hinted:
        basis += "; the header names it"
    return _finding(
        dataset,
        column,
        found.entity,
        category=Category.SECRET if found.entity == "CREDENTIAL" else Category.PII,
        severity=Severity.LOW if place else info.severity,
        message=f"Column {column.name!r}: {count:,} of {nonnull:,} non-empty cells hold {description}",
        count=count,
        confidence=found.confidence,
        evidence=f"{_shapes(found.examples)} ({basis})",
        extra={"free_text": False, "sampled": verdict.sampled},
        special_category=found.special_category,
    )


# --- free text ----------------------------------------------------------------------------------------------


@functools.cache
def _text_patterns() -> dict[str, str]:
    """Entity → one RE2 pattern finding it inside prose (PERSON has none: names in prose are judged on the sample)."""
    patterns: dict[str, list[str]] = {}
    for recognizer in RECOGNIZERS:
        if recognizer.text:
            patterns.setdefault(recognizer.entity, []).append(recognizer.text)
    patterns["LOCATION"] = [places.address_text_pattern()]
    patterns["MEDICAL_CONDITION"] = [vocabularies.HEALTH_TEXT, vocabularies.ICD10_TEXT]
    patterns["OFFENSIVE_CONTENT"] = [vocabularies.OFFENSIVE_TEXT]
    return {entity: _union(parts) for entity, parts in patterns.items()}


@functools.cache
def _credential_prefilter() -> str:
    return vocabularies.credential_prefilter()


def _text_findings(
    dataset: Dataset,
    column: Column,
    verdict: cl.ColumnVerdict,
    counts: dict[tuple[str, str], int],
    nonnull: int,
    others_cells: list[str],
) -> list[Finding]:
    patterns = _text_patterns()
    seen = {found.entity: found for found in verdict.text_entities}
    counted = {entity: counts.get((column.name, entity), 0) for entity in seen if entity in patterns}
    others = counts.get((column.name, "others"), 0)
    if others:
        for entity, (found, count) in _confirm_in_text(others_cells, _unseen_entities(verdict), others).items():
            seen[entity] = found
            counted[entity] = count
    findings = []
    for entity, found in sorted(seen.items()):
        estimated = entity not in patterns or found.kind == "estimated"
        if entity in counted:
            count = counted[entity]
        elif found.rate * min(verdict.sampled, cl.FREE_TEXT_SAMPLE) >= 2:
            count = round(found.rate * nonnull)  # names in prose: judged on the sample, scaled to the column
        else:
            continue  # one capitalised pair in the sample is too little to call a column of names
        if not count:
            continue
        info = ENTITIES[entity]
        offensive = entity == "OFFENSIVE_CONTENT"
        findings.append(
            _finding(
                dataset,
                column,
                entity,
                category=Category.DATA_QUALITY if offensive else Category.PII,
                severity=info.severity,
                message=f"Column {column.name!r} (free text): {'about ' if estimated else ''}{count:,} of {nonnull:,} cells "
                f"mention {'personal names' if entity == 'PERSON' else info.description}",
                count=count,
                confidence=found.confidence,
                evidence=f"{_shapes(found.examples)} (matched spans inside the text, redacted)",
                extra={"free_text": True, "sampled": verdict.sampled, **({"estimated": True} if estimated else {})},
                special_category=found.special_category,
                rule_id="data.content.offensive" if offensive else None,
            )
        )
    return findings


def _confirm_in_text(rows: list[str], entities: list[str], candidates: int) -> dict[str, tuple[cl.EntityVerdict, int]]:
    """Entities the sample did not show but the counting pass may have: the first 500 cells matching any of their
    patterns (``rows``) are confirmed in Python (checksums, dictionaries), and the share confirmed scaled to
    ``candidates``."""
    found: dict[str, cl.EntityVerdict] = {}
    cells: dict[str, int] = {}
    for text in rows:
        spans = find_entities(str(text), entities=entities)
        for entity in {span.entity for span in spans}:
            cells[entity] = cells.get(entity, 0) + 1
        for span in spans:
            verdict = found.setdefault(span.entity, cl.EntityVerdict(span.entity, 0.8, 0.0, False, [], "text"))
            verdict.special_category = ENTITIES[span.entity].special_category
            if len(verdict.examples) < 3:
                verdict.examples.append(str(text)[span.start : span.end])
    exact = len(rows) >= candidates
    result = {}
    for entity, verdict in found.items():
        if not exact:
            verdict.kind = "estimated"
        result[entity] = (verdict, round(cells[entity] * candidates / len(rows)))
    return result


# --- credentials --------------------------------------------------------------------------------------------


def _credential_findings(
    dataset: Dataset, column: Column, verdict: cl.ColumnVerdict, candidates: int, rows: list[str]
) -> list[Finding]:
    """Cells holding a credential by the secret scanner's rules (keywords, pattern, entropy, checksum), confirmed on the
    first 500 cells the prefilter matched (``rows``)."""
    if not candidates:
        return []
    from bastion.scanners.code.secrets import redact

    cells: dict[str, int] = {}
    examples: dict[str, list[str]] = {}
    rules: dict[str, SecretRule] = {}
    for text in rows:
        matches = vocabularies.credential_matches(text)
        for rule in {rule.id: rule for _span, rule in matches}.values():
            rules[rule.id] = rule
            cells[rule.id] = cells.get(rule.id, 0) + 1
        for span, rule in matches:
            examples.setdefault(rule.id, []).append(text[span.start : span.end])
    # The prefilter's count over the whole column, scaled by the share of fetched cells that hold a credential.
    scale = candidates / len(rows) if rows else 1.0
    findings = []
    for rule_id, rule in sorted(rules.items()):
        count = round(cells[rule_id] * scale)
        shown = examples[rule_id][:2]
        findings.append(
            _finding(
                dataset,
                column,
                "CREDENTIAL",
                category=Category.SECRET,
                severity=rule.severity,
                message=f"Column {column.name!r}: {'about ' if scale > 1 else ''}{count:,} cells hold a {rule.description}",
                count=count,
                confidence=0.95,
                evidence=", ".join(redact(s) for s in shown),
                extra={"free_text": verdict.free_text, "secret_rule": rule_id},
                special_category=None,
                rule_id="data.secret." + rule_id.rsplit(".", 1)[-1],
                remediation=rule.remediation,
            )
        )
    return findings


# --- findings -----------------------------------------------------------------------------------------------


def _finding(
    dataset: Dataset,
    column: Column,
    entity: str,
    *,
    category: Category,
    severity: Severity,
    message: str,
    count: int,
    confidence: float,
    evidence: str,
    extra: dict[str, Any],
    special_category: str | None,
    rule_id: str | None = None,
    remediation: str | None = None,
) -> Finding:
    info = ENTITIES[entity]
    extra = {"action": info.action, **extra}
    if special_category:
        extra["special_category"] = special_category
    return Finding(
        rule_id=rule_id or "data.pii." + entity.lower().replace("_", "-"),
        category=category,
        severity=severity,
        message=message,
        location=Location(path=dataset.display_path, field=column.name),
        entity=entity,
        count=count,
        confidence=confidence,
        evidence=evidence,
        remediation=remediation or info.remediation,
        extra=extra,
    )


_SHAPE_WIDTH = 32


def shape(value: str) -> str:
    """A value's form without its content: letters as x/X, digits as #, other scripts as *, punctuation kept."""
    out = []
    for char in value[:_SHAPE_WIDTH]:
        if char.isdigit():
            out.append("#")
        elif char.isascii() and char.isalpha():
            out.append("X" if char.isupper() else "x")
        elif char.isalpha():
            out.append("*")
        elif char in "\r\n\t":
            out.append(" ")
        else:
            out.append(char)
    return "".join(out) + ("…" if len(value) > _SHAPE_WIDTH else "")


def _shapes(examples: Sequence[str]) -> str:
    unique = list(dict.fromkeys(shape(e) for e in examples))[:2]
    return ", ".join(f"'{s}'" for s in unique) if unique else "(no example)"
