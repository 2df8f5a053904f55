"""Deciding what a column holds from its header and a sample of its values — pure Python, no I/O.

Evidence per (column, entity): the share of sampled values with the entity's shape that pass its validator,
how strong that shape is (a checksum beats a pattern beats nine bare digits), and whether the header names
the entity. A column can hold several entities (a contact column of e-mails and phones): candidates are
taken greedily, most confident first, each judged on the values the earlier ones did not explain.
Columns that hold none and read as prose are searched inside, like clinical notes.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bastion.scanners.data import places, validators, vocabularies
from bastion.scanners.data.entities import ENTITIES, RECOGNIZERS, Recognizer, Strength, find_entities
from bastion.scanners.data.headers import HintIndex, header_tokens
from bastion.scanners.data.names import is_person_name

PLACEHOLDERS = frozenset({"", "null", "none", "nan", "n/a", "na", "-", "--", "?", "unknown", "nil", "undefined", "#n/a"})
"""Cell values that stand for "no value"; left out of every rate."""

_BASE_CONFIDENCE = {Strength.CHECKSUM: 0.97, Strength.PATTERN: 0.9, Strength.WEAK: 0.6}
_HEADER_WEIGHT = 0.5
"""How far a matching header moves confidence towards 1."""
_THRESHOLD = {Strength.CHECKSUM: 0.6, Strength.PATTERN: 0.7, Strength.WEAK: 1.1}
"""Share of sampled values an entity must explain without a header hint (WEAK: never)."""
_HINTED_THRESHOLD = 0.3
_SECONDARY_THRESHOLD = 0.2
"""A further entity in a column that already holds one (mixed contact columns)."""
_DOB_MIN_SPAN_YEARS = 30
_EVENT_WORDS = frozenset((
    "created", "updated", "modified", "timestamp", "ts", "order", "ordered", "transaction", "event", "login", "logout",
    "ship", "shipped", "invoice", "due", "start", "end", "expiry", "expires", "expiration", "valid", "issued", "purchase",
    "payment", "delivery", "signup", "registered", "last", "first", "visit", "admission", "discharge", "report",
    "published", "release",
))  # fmt: skip
"""Header words of dates that describe events, not people: never taken for dates of birth by their spread alone."""
_DISTINCT_VALUES = 400
"""Distinct values of a column judged one by one."""
_SHORT_VALUE = 60
"""Mean length up to which a column's values may be names, places or category labels."""
_LONGEST_IDENTIFIER = 120
FREE_TEXT_SAMPLE = 500
"""Cells of a free-text column searched in Python; the counting pass covers all of them."""
_FREE_TEXT_MIN_WORDS = 4.0
_FREE_TEXT_MIN_CHARS = 25.0
_HEADER_HINTS = HintIndex({entity: info.header for entity, info in ENTITIES.items() if info.header is not None})


@dataclass(slots=True)
class EntityVerdict:
    """One entity found in a column."""

    entity: str
    confidence: float
    rate: float
    """Share of the sampled non-empty values it explains (free text: share of cells containing it)."""
    hinted: bool
    examples: list[str]
    """Up to three sampled values (or matched spans in free text): for redacted evidence only, never reported raw."""
    kind: str = ""
    """How it was recognised: checksum, pattern, weak, dictionary, vocabulary, header; "address" or "place" for LOCATION."""
    special_category: str | None = None


@dataclass(slots=True)
class ColumnVerdict:
    name: str
    sampled: int
    """Non-empty values in the sample."""
    entities: list[EntityVerdict] = field(default_factory=list)
    free_text: bool = False
    text_entities: list[EntityVerdict] = field(default_factory=list)
    """Entities found inside the sampled cells of a free-text column; ``rate`` is the share of cells."""


@dataclass(slots=True)
class _Candidate:
    entity: str
    strength: Strength
    kind: str
    matched: set[int]
    hinted: bool
    threshold: float
    special_category: str | None = None

    def confidence(self, rate: float) -> float:
        value = _BASE_CONFIDENCE[self.strength] * rate
        if self.hinted:
            value = 1 - (1 - value) * (1 - _HEADER_WEIGHT)
        return round(min(value, 0.99), 2)


def classify_column(name: str, values: Sequence[str], *, is_date: bool = False, is_integer: bool = False) -> ColumnVerdict:
    """What column ``name`` holds, judged from ``values`` (a sample of its cells as text)."""
    cells = [v.strip() for v in values if v is not None and v.strip().casefold() not in PLACEHOLDERS]
    verdict = ColumnVerdict(name, len(cells))
    if not cells:
        return verdict
    tokens = header_tokens(name)
    hints = _HEADER_HINTS.matching(tokens)
    if is_date:
        _classify_dates(verdict, cells, hints, tokens)
        return verdict
    if is_integer and not hints and max(len(c) for c in cells) < 7:
        return verdict  # small integers: counts, amounts, codes
    # The first distinct values in sample order (the sample is random): enough to estimate a share to a few points.
    weight: dict[str, int] = {}
    for cell in cells:
        if cell in weight:
            weight[cell] += 1
        elif len(weight) < _DISTINCT_VALUES:
            weight[cell] = 1
    distinct = list(weight)
    candidates = _pattern_candidates(distinct, hints)
    if not _explained(candidates, distinct):
        short = statistics.fmean(len(v) for v in distinct) <= _SHORT_VALUE
        candidates += _dictionary_candidates(distinct, hints, short=short)
        candidates += _vocabulary_candidates(distinct, hints, short=short)
    _choose(verdict, candidates, distinct, weight, sum(weight.values()), tokens)
    if not verdict.entities and not is_integer and _reads_as_prose(cells):
        verdict.free_text = True
        _search_text(verdict, cells)
    return verdict


def _explained(candidates: list[_Candidate], distinct: list[str]) -> bool:
    """A checksum or a distinctive pattern already accounts for nearly every value: dictionaries cannot add to it."""
    return any(c.strength >= Strength.PATTERN and len(c.matched) >= 0.95 * len(distinct) for c in candidates)


def _may_have_shape(value: str) -> bool:
    """Every pattern but URLs and e-mail addresses needs a digit; and no identifier is a paragraph."""
    if "@" in value or "://" in value or value[:4].lower() == "www.":
        return True
    return len(value) <= _LONGEST_IDENTIFIER and any(ch.isdigit() for ch in value)


def _pattern_candidates(distinct: list[str], hints: set[str]) -> list[_Candidate]:
    by_entity: dict[str, _Candidate] = {}
    shaped = [(index, value) for index, value in enumerate(distinct) if _may_have_shape(value)]
    for recognizer in RECOGNIZERS:
        hinted = recognizer.entity in hints
        if recognizer.strength is Strength.WEAK and not hinted:
            continue
        for index, value in shaped:
            if not recognizer.accepts(value):
                continue
            weak = recognizer.bare_digits_weak and validators.digits_of(value) == value
            if weak and not hinted:
                continue
            strength = Strength.WEAK if weak else recognizer.strength
            candidate = by_entity.get(recognizer.entity)
            if candidate is None:
                candidate = by_entity[recognizer.entity] = _Candidate(
                    recognizer.entity, strength, _kind(recognizer), set(), hinted, _threshold(strength, hinted)
                )
            elif strength > candidate.strength:
                candidate.strength, candidate.kind = strength, _kind(recognizer)
                candidate.threshold = _threshold(strength, hinted)
            candidate.matched.add(index)
    if "LOCATION" in by_entity:
        by_entity["LOCATION"].kind = "place"  # postal codes
    return list(by_entity.values())


def _kind(recognizer: Recognizer) -> str:
    return {Strength.CHECKSUM: "checksum", Strength.PATTERN: "pattern", Strength.WEAK: "weak"}[recognizer.strength]


def _threshold(strength: Strength, hinted: bool) -> float:
    return _HINTED_THRESHOLD if hinted else _THRESHOLD[strength]


def _dictionary_candidates(distinct: list[str], hints: set[str], *, short: bool) -> list[_Candidate]:
    """Personal names, street addresses and places: dictionaries of names and street words, or a header and a shape."""
    candidates = []
    tests: tuple[tuple[str, str, Callable[[str], bool], float], ...] = (
        ("PERSON", "dictionary", is_person_name, 0.6),
        ("LOCATION", "address", places.is_street_address, 0.5),
        ("LOCATION", "place", places.is_place, 0.7),
    )
    for entity, kind, test, threshold in tests:
        hinted = entity in hints
        if not short and kind != "address":
            continue  # names and places are short; prose is searched inside instead
        matched = {i for i, value in enumerate(distinct) if test(value)}
        if hinted and kind != "address":
            # A header that names people or places, and values shaped like names: dictionaries need not know them all.
            shaped = {i for i, value in enumerate(distinct) if _name_shaped(value)}
            if len(shaped) >= len(distinct) * 0.7:
                matched |= shaped
        if matched:
            strength = Strength.PATTERN
            candidates.append(_Candidate(entity, strength, kind, matched, hinted, _HINTED_THRESHOLD if hinted else threshold))
    return candidates


def _name_shaped(value: str) -> bool:
    words = value.split()
    return 1 <= len(words) <= 4 and len(value) <= 60 and all(w[:1].isalpha() and not any(c.isdigit() for c in w) for w in words)


def _vocabulary_candidates(distinct: list[str], hints: set[str], *, short: bool) -> list[_Candidate]:
    candidates = []
    for entity in (
        "MEDICAL_CONDITION",
        "NRP",
        "SEXUAL_ORIENTATION",
        "TRADE_UNION",
        "GENETIC_DATA",
        "BIOMETRIC_DATA",
        "CREDENTIAL",
    ):
        hinted = entity in hints
        if not (hinted or short):
            continue
        verdicts = [vocabularies.matches(entity, value, hinted=hinted) for value in distinct]
        matched = {i for i, verdict in enumerate(verdicts) if verdict}
        neutral = sum(verdict is None for verdict in verdicts)
        if not matched:
            continue
        # Neutral answers ("other", "prefer not to say") count for the entity once real terms are there.
        matched |= {i for i, verdict in enumerate(verdicts) if verdict is None}
        if not hinted and entity != "MEDICAL_CONDITION" and len(matched) - neutral < 3:
            continue  # two colour names are not an ethnicity column
        special = ENTITIES[entity].special_category
        if entity == "NRP":
            special = vocabularies.nrp_category([distinct[i] for i in matched]) or special
        threshold = 0.5 if hinted else 0.8
        candidates.append(_Candidate(entity, Strength.PATTERN, "vocabulary", matched, hinted, threshold, special))
    return candidates


def _choose(
    verdict: ColumnVerdict,
    candidates: list[_Candidate],
    distinct: list[str],
    weight: dict[str, int],
    total: int,
    tokens: tuple[str, ...],
) -> None:
    def share(indices: set[int]) -> float:
        return sum(weight[distinct[i]] for i in indices) / total

    ranked = sorted(candidates, key=lambda c: (-c.confidence(share(c.matched)), c.entity))
    mix = _is_mix(ranked, share)
    covered: set[int] = set()
    for candidate in ranked:
        own = candidate.matched - covered
        rate = share(own)
        secondary = (bool(verdict.entities) or mix) and (candidate.strength >= Strength.PATTERN or candidate.hinted)
        if rate < candidate.threshold and not (secondary and rate >= _SECONDARY_THRESHOLD):
            continue
        if candidate.entity == "DATE_TIME" and not _birth_dates([distinct[i] for i in own], candidate.hinted, tokens):
            covered |= own  # event dates: explained, and not personal
            continue
        if any(e.entity == candidate.entity for e in verdict.entities):
            continue
        covered |= own
        examples = [distinct[i] for i in sorted(own)[:3]]
        verdict.entities.append(
            EntityVerdict(
                candidate.entity,
                candidate.confidence(rate),
                round(rate, 4),
                candidate.hinted,
                examples,
                candidate.kind,
                candidate.special_category or ENTITIES[candidate.entity].special_category,
            )
        )


def _is_mix(ranked: list[_Candidate], share: Callable[[set[int]], float]) -> bool:
    """A column no entity explains alone may still be a mix (e-mails and phones): together they must pass the bar."""
    covered: set[int] = set()
    mixed = 0.0
    for candidate in ranked:
        own = share(candidate.matched - covered)
        if candidate.strength >= Strength.PATTERN and own >= _SECONDARY_THRESHOLD:
            covered |= candidate.matched
            mixed += own
    return mixed >= _THRESHOLD[Strength.PATTERN]


def _birth_dates(values: list[str], hinted: bool, tokens: tuple[str, ...]) -> bool:
    """Dates of birth: the header says so, or date-only values spread over decades in a column not named for an event."""
    if hinted:
        return True
    if _EVENT_WORDS.intersection(tokens) or any(":" in v for v in values):
        return False
    years = [y for y in (validators.date_year(v) for v in values) if y is not None]
    return len(years) >= 3 and max(years) - min(years) >= _DOB_MIN_SPAN_YEARS


def _classify_dates(verdict: ColumnVerdict, cells: list[str], hints: set[str], tokens: tuple[str, ...]) -> None:
    hinted = "DATE_TIME" in hints
    if _birth_dates(cells, hinted, tokens):
        confidence = 0.95 if hinted else 0.7
        verdict.entities.append(EntityVerdict("DATE_TIME", confidence, 1.0, hinted, cells[:3], "pattern"))


def _reads_as_prose(cells: list[str]) -> bool:
    words = statistics.fmean(len(c.split()) for c in cells)
    chars = statistics.fmean(len(c) for c in cells)
    return words >= _FREE_TEXT_MIN_WORDS and chars >= _FREE_TEXT_MIN_CHARS


def _search_text(verdict: ColumnVerdict, cells: list[str]) -> None:
    found: dict[str, list[str]] = {}
    cell_counts: dict[str, int] = {}
    cells = cells[:FREE_TEXT_SAMPLE]
    for cell in cells:
        spans = find_entities(cell)
        for entity in {span.entity for span in spans}:
            cell_counts[entity] = cell_counts.get(entity, 0) + 1
        for span in spans:
            examples = found.setdefault(span.entity, [])
            if len(examples) < 3:
                examples.append(cell[span.start : span.end])
    for entity, count in sorted(cell_counts.items()):
        if entity == "CREDENTIAL":
            continue  # reported through the secret rules, per rule
        rate = count / len(cells)
        confidence = round(min(0.99, 0.6 + 0.4 * min(1.0, count / 5)), 2)
        special = ENTITIES[entity].special_category
        verdict.text_entities.append(EntityVerdict(entity, confidence, round(rate, 4), False, found[entity], "text", special))
