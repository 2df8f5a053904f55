"""Data quality: what the column profiles say, duplicate and near-duplicate rows, and values that break a column.

Rules (category ``data-quality``; severities stay modest, a quality problem rarely blocks alone):

- ``data.quality.empty-dataset``: no data rows (medium).
- ``data.quality.all-missing``: a column with no value (medium).
- ``data.quality.missing-values``: 20% or more of a column missing (low; medium from 50%).
- ``data.quality.constant-column``: one value in every row (low).
- ``data.quality.type-violation``: the values of a text column that are not numbers, when at
  least 90% are (low); the reader's own rejects of values breaking a column's type share the id.
- ``data.quality.outliers``: values beyond Tukey's far fences, Q1 - 3 IQR and Q3 + 3 IQR (low;
  info when they are more than 1% of the values, as in a heavy-tailed column).
- ``data.quality.negative-values``: negatives in a column at least 99% non-negative (low).
- ``data.quality.out-of-domain``: in a column of at most 20 frequent values, rare values (under
  0.1% of rows) and case, space or punctuation variants of a more frequent value (low).
- ``data.quality.duplicate-rows``: rows equal to an earlier row (low; medium from 10%).
- ``data.quality.near-duplicate-rows``: rows equal to an earlier one once normalised (low).
- ``data.quality.similar-rows``: rows sharing at least 60% of their informative words and values with an earlier
  row, found by MinHash and locality-sensitive hashing, each pair checked exactly (low; see ``_similar_rows``).

Column findings carry ``location.field`` and ``count``; those about values also carry the first
offending row (``location.row``) and, in ``rows``, the first ``ROW_EXAMPLES`` rows. Past
``COLUMN_FINDINGS_LIMIT`` findings of one rule, the rest are summed up in one more finding.

Near-duplicates: rows compared with text lower-cased, stripped of punctuation and with runs of
space collapsed, numbers rounded to 4 significant digits, and identifier columns (a distinct
value in every row) left out; past ``NORMALISED_COLUMNS`` columns the rest compare exactly.
Both kinds of duplicates come from one pass that stores two 64-bit hashes per row; the grouping
that follows keeps fixed-size state per group, so DuckDB spills it and memory stays bounded.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from bastion.core import Category, Finding, Location, Severity
from bastion.scanners.data._similar_rows import SIMILARITY, TokenSource, similar_rows
from bastion.scanners.data.dataset import Column, Dataset, quote_identifier
from bastion.scanners.data.interface import DatasetAnalysis
from bastion.scanners.data.profile import ColumnProfile, DatasetProfile, profile_dataset
from bastion.scanners.interface import ScanOptions

HIGH_MISSING = 0.2
VERY_HIGH_MISSING = 0.5
NUMERIC_TEXT_SHARE = 0.9
"""A text column whose values are at least this share numbers is a numeric column with bad values."""
FENCE = 3.0
"""Tukey's far-out fences: Q1 - 3 IQR and Q3 + 3 IQR."""
NEGATIVE_SHARE = 0.01
MIN_VALUES = 30
"""Values a column needs before outliers and negatives are judged."""
MIN_CATEGORY_VALUES = 100
"""Values a column needs before its rare categories are judged."""
DUPLICATE_SHARE = 0.1
NORMALISED_COLUMNS = 1000
"""Columns normalised for near-duplicates; further ones compare exactly, which bounds the cost on wide tables."""
ROW_EXAMPLES = 5
SIMILAR_GROUPS = 50
"""Groups of similar rows listed in the finding (``groups``); ``count`` covers them all."""
COLUMN_FINDINGS_LIMIT = 50
CHECKS_PER_QUERY = 300
"""Value checks per query; each adds three aggregates, and DuckDB plans very wide queries slowly."""


class QualityAnalysis(DatasetAnalysis):
    """Profile-based column checks, duplicates and near-duplicates, type and domain violations."""

    name: ClassVar[str] = "quality"

    def analyze(self, dataset: Dataset, options: ScanOptions) -> list[Finding]:
        profile = profile_dataset(dataset)
        return quality_findings(dataset, profile)


def quality_findings(dataset: Dataset, profile: DatasetProfile) -> list[Finding]:
    """Every quality finding of ``dataset``, whose ``profile`` is already computed."""
    path = dataset.display_path
    if profile.rows == 0:
        return [
            Finding(
                rule_id="data.quality.empty-dataset",
                category=Category.DATA_QUALITY,
                severity=Severity.MEDIUM,
                message=f"the dataset has {len(profile.columns)} column(s) and no data rows",
                location=Location(path=path),
                count=0,
                remediation="Check the export: a header without rows usually means a failed or filtered-out extract.",
            )
        ]
    findings = _column_findings(path, profile.columns)
    findings.extend(_value_findings(dataset, profile.columns))
    findings.extend(_duplicate_findings(dataset, profile))
    return _capped(findings)


# -- column checks from the profile --------------------------------------------------------------


def _column_findings(path: str, columns: Sequence[ColumnProfile]) -> list[Finding]:
    findings = []
    for column in columns:
        location = Location(path=path, field=column.name)
        if column.present == 0:
            findings.append(
                _finding(
                    "all-missing",
                    Severity.MEDIUM,
                    f"column {column.name!r} has no values",
                    location,
                    column.rows,
                    "Drop the column, or fix the extract that should fill it.",
                )
            )
            continue
        if column.missing_ratio >= HIGH_MISSING:
            severity = Severity.MEDIUM if column.missing_ratio >= VERY_HIGH_MISSING else Severity.LOW
            findings.append(
                _finding(
                    "missing-values",
                    severity,
                    f"{column.missing_ratio:.0%} of column {column.name!r} is missing ({column.missing} of {column.rows} rows)",
                    location,
                    column.missing,
                    "Impute the values, drop the column, or find why they are missing.",
                )
            )
        if column.distinct == 1 and column.present >= 2:
            value = column.top[0][0] if column.top else None
            besides = " besides missing values" if column.missing else ""
            findings.append(
                _finding(
                    "constant-column",
                    Severity.LOW,
                    f"column {column.name!r} holds one value{besides}: {value!r}",
                    location,
                    column.present,
                    "Drop the column: it carries no information.",
                    evidence=_clip(value),
                )
            )
    return findings


# -- value checks: one more pass, for the columns the profile points at ---------------------------


@dataclass(slots=True)
class _Check:
    rule: str
    column: ColumnProfile
    condition: str
    """SQL true for an offending value."""
    describe: Callable[[int, list[Any]], tuple[Severity, str]]
    """(severity, message) from the count of offending rows and example values."""
    remediation: str
    parameter: Any = None


def _value_findings(dataset: Dataset, columns: Sequence[ColumnProfile]) -> list[Finding]:
    checks = [check for column in columns for check in _checks_for(dataset.column(column.name), column)]
    results: list[Any] = []
    for start in range(0, len(checks), CHECKS_PER_QUERY):
        results.extend(_run_checks(dataset, checks[start : start + CHECKS_PER_QUERY]))
    findings = []
    for index, check in enumerate(checks):
        count, rows, examples = results[3 * index : 3 * index + 3]
        if not count:
            continue
        severity, message = check.describe(int(count), list(examples or []))
        rows = dataset.source_rows(rows)
        findings.append(
            _finding(
                check.rule,
                severity,
                message,
                Location(path=dataset.display_path, field=check.column.name, row=rows[0]),
                int(count),
                check.remediation,
                evidence=_clip(", ".join(repr(e) for e in examples or [])),
                rows=rows,
            )
        )
    return findings


def _run_checks(dataset: Dataset, checks: Sequence[_Check]) -> tuple[Any, ...]:
    """For each check: how many rows offend, the first rows, and the commonest offending values."""
    expressions, parameters = [], []
    row = quote_identifier(dataset.row_column)
    for check in checks:
        name, condition = quote_identifier(check.column.name), check.condition
        expressions += [
            f"count(*) FILTER (WHERE {condition})",
            f"min({row}, {ROW_EXAMPLES}) FILTER (WHERE {condition})",
            f"approx_top_k({name}, 3) FILTER (WHERE {condition})",
        ]
        if check.parameter is not None:  # the condition's ? appears three times
            parameters += [check.parameter] * 3
    return dataset.fetch(f"SELECT {', '.join(expressions)} FROM numbered", *parameters)[0]


def _checks_for(column: Column, profile: ColumnProfile) -> list[_Check]:
    checks: list[_Check] = []
    name = column.quoted
    numbers = profile.numeric_text or 0
    if profile.kind == "text" and NUMERIC_TEXT_SHARE * profile.present <= numbers < profile.present:

        def type_message(count: int, examples: list[Any]) -> tuple[Severity, str]:
            return Severity.LOW, (
                f"{count} value(s) of column {column.name!r} are not numbers, "
                f"while {numbers / profile.present:.1%} of its values are"
            )

        checks.append(
            _Check(
                "type-violation",
                profile,
                f"{name} IS NOT NULL AND TRY_CAST({name} AS DOUBLE) IS NULL",
                type_message,
                "Turn placeholders into missing values and fix the rest, so the column reads as numbers.",
            )
        )
    finite = profile.present - (profile.non_finite or 0)
    if profile.kind == "numeric" and profile.quartiles and finite >= MIN_VALUES:
        q1, _, q3 = profile.quartiles
        iqr = q3 - q1
        if iqr > 0:
            lower, upper = q1 - FENCE * iqr, q3 + FENCE * iqr
            beyond = f"{name}::DOUBLE < {lower!r} OR {name}::DOUBLE > {upper!r}"
            if profile.non_finite:  # NaN sorts above every number
                beyond = f"isfinite({name}) AND ({beyond})"
            if float(profile.min) < lower or float(profile.max) > upper:

                def outlier_message(count: int, examples: list[Any]) -> tuple[Severity, str]:
                    severity = Severity.LOW if count <= 0.01 * finite else Severity.INFO
                    return severity, (
                        f"{count} value(s) of column {column.name!r} lie outside [{lower:.6g}, {upper:.6g}] "
                        f"(3 interquartile ranges beyond the quartiles)"
                    )

                checks.append(
                    _Check(
                        "outliers",
                        profile,
                        beyond,
                        outlier_message,
                        "Check these values for entry or unit errors; cap or remove them if they are wrong.",
                    )
                )
        if profile.negatives and finite >= MIN_VALUES and profile.negatives <= NEGATIVE_SHARE * finite:

            def negative_message(count: int, examples: list[Any]) -> tuple[Severity, str]:
                return Severity.LOW, (
                    f"{count} negative value(s) in column {column.name!r}, whose other {finite - count} values are not negative"
                )

            checks.append(
                _Check(
                    "negative-values",
                    profile,
                    f"{name} < 0",
                    negative_message,
                    "Check the sign of these values; a non-negative quantity may have been mis-entered.",
                )
            )
    outside = out_of_domain(profile)
    if outside:

        def domain_message(count: int, examples: list[Any]) -> tuple[Severity, str]:
            shown = ", ".join(repr(value) for value in outside[:5]) + (", ..." if len(outside) > 5 else "")
            return Severity.LOW, (
                f"{count} row(s) of column {column.name!r} hold values outside its {len(profile.domain() or [])} usual "
                f"categories: {shown}"
            )

        checks.append(
            _Check(
                "out-of-domain",
                profile,
                f"list_contains(?::{column.type}[], {name})",
                domain_message,
                "Map these values onto the column's categories (case, spacing, spelling) or fix them.",
                list(outside),
            )
        )
    return checks


def out_of_domain(profile: ColumnProfile) -> list[Any]:
    """Values of a low-cardinality column outside its domain (rare values, variant spellings), rarest first."""
    domain = profile.domain()
    if domain is None or profile.value_counts is None or profile.present < MIN_CATEGORY_VALUES:
        return []
    counts = profile.value_counts
    return sorted((value for value in counts if value not in domain), key=lambda value: (counts[value], str(value)))


# -- duplicates ----------------------------------------------------------------------------------


def _duplicate_findings(dataset: Dataset, profile: DatasetProfile) -> list[Finding]:
    if profile.rows < 2:
        return []
    columns = [dataset.column(c.name) for c in profile.columns]
    exact = ", ".join(column.quoted for column in columns)
    compared = [column for column, c in zip(columns, profile.columns, strict=True) if not _is_identifier(c)]
    loose = [_normalised(column) for column in compared[:NORMALISED_COLUMNS]] + [c.quoted for c in compared[NORMALISED_COLUMNS:]]
    near = ", ".join(loose) if loose else exact  # nothing left to compare loosely
    row = quote_identifier(dataset.row_column)
    # One pass over the data; the grouping then reads three small columns, with fixed-size states that spill.
    dataset.fetch(
        f"CREATE OR REPLACE TEMP TABLE bastion_row_hashes AS SELECT {row} AS r, hash({exact}) AS exact, hash({near}) AS near "
        "FROM numbered"
    )
    try:
        repeats, pairs = _exact_duplicates(dataset)
        variants, near_groups = _near_duplicates(dataset)
        sources = [TokenSource(_normalised(column), column.type in ("VARCHAR", "JSON")) for column in compared]
        similar = similar_rows(dataset, sources, exclude_key="near")
    finally:
        dataset.fetch("DROP TABLE IF EXISTS bastion_row_hashes")
    findings = []
    path = dataset.display_path
    if repeats:
        share = repeats / profile.rows
        shown = ", ".join(f"row {b} repeats row {a}" for a, b in pairs)
        findings.append(
            _finding(
                "duplicate-rows",
                Severity.MEDIUM if share >= DUPLICATE_SHARE else Severity.LOW,
                f"{repeats} row(s) ({share:.1%}) are exact duplicates of an earlier row: {shown}",
                Location(path=path, row=pairs[0][1]),
                repeats,
                "Remove the duplicates, or check the join or export that made them; they also leak across train/test splits.",
                rows=[b for _, b in pairs],
                groups=[list(pair) for pair in pairs],
            )
        )
    if variants:
        shown = "; ".join("rows " + ", ".join(str(r) for r in group) for group in near_groups[:3])
        findings.append(
            _finding(
                "near-duplicate-rows",
                Severity.LOW,
                f"{variants} row(s) differ from an earlier row only in case, spacing, punctuation, rounding or "
                f"identifiers: {shown}",
                Location(path=path, row=near_groups[0][1]),
                variants,
                "Review these rows: they are likely the same record entered twice.",
                rows=[group[1] for group in near_groups],
                groups=near_groups,
            )
        )
    if similar.count:
        groups = [dataset.source_rows(group) for group in similar.groups[:SIMILAR_GROUPS]]
        shown = "; ".join("rows " + ", ".join(str(r) for r in group) for group in groups[:3])
        findings.append(
            _finding(
                "similar-rows",
                Severity.LOW,
                f"{similar.count} row(s) share at least {SIMILARITY:.0%} of their words and values with an earlier row "
                f"({len(similar.groups)} group(s)): {shown}",
                Location(path=path, row=groups[0][1]),
                similar.count,
                "Review these rows: they are likely the same record entered twice, with a typo or an edited field.",
                rows=[group[1] for group in groups],
                groups=groups,
            )
        )
    return findings


def _exact_duplicates(dataset: Dataset) -> tuple[int, list[tuple[int, int]]]:
    """Rows equal to an earlier row, and (original, first repeat) of the earliest groups."""
    (repeats,) = dataset.fetch(
        "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM bastion_row_hashes GROUP BY exact HAVING n > 1)"
    )[0]
    if not repeats:
        return 0, []
    groups = dataset.fetch(
        "WITH firsts AS (SELECT exact, min(r) AS first FROM bastion_row_hashes GROUP BY exact HAVING count(*) > 1 "
        f"ORDER BY first LIMIT {ROW_EXAMPLES}) "
        "SELECT min(r, 2) AS rows FROM bastion_row_hashes SEMI JOIN firsts USING (exact) GROUP BY exact ORDER BY rows"
    )
    pairs = []
    for (rows,) in groups:
        first, repeat = dataset.source_rows(rows)
        pairs.append((first, repeat))
    return int(repeats), pairs


def _near_duplicates(dataset: Dataset) -> tuple[int, list[list[int]]]:
    """Rows equal to an earlier row once normalised but not exactly, and the earliest groups of such rows."""
    rows = dataset.fetch(
        "WITH loose AS (SELECT near FROM bastion_row_hashes GROUP BY near HAVING min(exact) <> max(exact)), "
        "variants AS (SELECT near, min(r) AS first FROM bastion_row_hashes SEMI JOIN loose USING (near) GROUP BY near, exact), "
        f"groups AS (SELECT count(*) - 1 AS extra, min(first, {ROW_EXAMPLES + 1}) AS firsts FROM variants GROUP BY near) "
        f"SELECT sum(extra) OVER (), firsts FROM groups ORDER BY firsts[1] LIMIT {ROW_EXAMPLES}"
    )
    if not rows:
        return 0, []
    return int(rows[0][0]), [dataset.source_rows(firsts) for _, firsts in rows]


def _normalised(column: Column) -> str:
    name = column.quoted
    if column.type in ("VARCHAR", "JSON"):
        return f"trim(regexp_replace(lower({name}::VARCHAR), '[\\s[:punct:]]+', ' ', 'g'))"
    if column.is_numeric:  # 4 significant digits; printf keeps the plan small on wide tables, unlike CASE
        return f"printf('%.4g', {name}::DOUBLE)"
    return name


def _is_identifier(column: ColumnProfile) -> bool:
    """A key: a distinct value in (nearly) every row (HyperLogLog counts are within a few percent) of an integer
    column, or of a column named like one; free text is distinct in every row too, but is content."""
    if column.missing or column.distinct < 0.97 * column.rows:
        return False
    return Column(column.name, column.type).is_integral or bool(_IDENTIFIER_NAME.search(column.name))


_IDENTIFIER_NAME = re.compile(r"(^|[^a-z])(id|key|uuid|guid|index|idx)$|^unnamed", re.IGNORECASE)


# -- finding helpers -----------------------------------------------------------------------------


def _finding(
    rule: str,
    severity: Severity,
    message: str,
    location: Location,
    count: int,
    remediation: str,
    *,
    evidence: str | None = None,
    **extra: Any,
) -> Finding:
    return Finding(
        rule_id=f"data.quality.{rule}",
        category=Category.DATA_QUALITY,
        severity=severity,
        message=message,
        location=location,
        count=count,
        evidence=evidence,
        remediation=remediation,
        extra=extra,
    )


def _capped(findings: list[Finding]) -> list[Finding]:
    """At most ``COLUMN_FINDINGS_LIMIT`` column findings per rule; the rest become one summary finding."""
    kept: list[Finding] = []
    extra: dict[str, list[Finding]] = {}
    seen: dict[str, int] = {}
    for finding in findings:
        if finding.location.field is None:
            kept.append(finding)
            continue
        seen[finding.rule_id] = seen.get(finding.rule_id, 0) + 1
        if seen[finding.rule_id] <= COLUMN_FINDINGS_LIMIT:
            kept.append(finding)
        else:
            extra.setdefault(finding.rule_id, []).append(finding)
    for rule_id, rest in extra.items():
        worst = max(f.severity for f in rest)
        names = [f.location.field for f in rest]
        kept.append(
            Finding(
                rule_id=rule_id,
                category=Category.DATA_QUALITY,
                severity=worst,
                message=f"{len(rest)} more column(s) with the same problem, from {names[0]!r} to {names[-1]!r}",
                location=Location(path=rest[0].location.path),
                count=len(rest),
                remediation=rest[0].remediation,
                extra={"fields": names},
            )
        )
    return kept


def _clip(value: Any, limit: int = 120) -> str | None:
    if value is None:
        return None
    text = str(value).replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 1] + "…"
