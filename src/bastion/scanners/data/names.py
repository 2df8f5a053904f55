"""Personal names in many languages, by dictionary: the first, last and middle names Faker ships for ~90 locales.

No model and no download: Faker's person providers are plain tuples inside the PyPI package. They are read
once, on first use (about 0.3 s for ~31k first names and ~29k last names), and kept case-folded in sets.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bastion.scanners.data._faker import PROVIDERS_LOCK

if TYPE_CHECKING:
    from bastion.scanners.data.entities import EntitySpan

_PARTICLES = frozenset((
    "van", "von", "der", "den", "de", "del", "della", "di", "da", "das", "dos", "du", "la", "le", "el", "al", "bin",
    "binti", "ibn", "ben", "ter", "ten", "y", "e", "zu", "af", "mac", "st",
))  # fmt: skip
_TITLES = frozenset((
    "mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "dame", "lord", "lady", "herr", "frau", "fr", "hr", "sr", "sra",
    "srta", "don", "dona", "doña", "mme", "mlle", "m", "mgr", "ing", "dipl", "dott", "dottssa", "sig", "sigra", "rev",
    "fr", "jr", "sr", "ii", "iii", "iv", "phd", "md", "msc", "bsc", "mba", "esq",
))  # fmt: skip
# Capitalised words that open sentences in notes and records; never the first word of a name found in text.
_NOT_NAMES = frozenset((
    "the", "a", "an", "this", "that", "these", "those", "patient", "doctor", "nurse", "client", "customer", "user", "mr",
    "mrs", "he", "she", "they", "we", "i", "it", "his", "her", "their", "our", "on", "in", "at", "by", "for", "from", "to",
    "of", "and", "or", "but", "with", "without", "after", "before", "during", "today", "yesterday", "tomorrow", "call",
    "called", "email", "contact", "please", "note", "notes", "seen", "visit", "visited", "admitted", "discharged",
    "reports", "reported", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "january",
    "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december",
    "street", "road", "avenue", "city", "county", "state", "north", "south", "east", "west", "new",
))  # fmt: skip
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")
_WORD = re.compile(r"[^\W\d_](?:[^\W\d_]|['’\-][^\W\d_])*")


@dataclass(frozen=True, slots=True)
class NameDictionaries:
    first: frozenset[str]
    """First and middle names (and patronymics), case-folded."""
    last: frozenset[str]
    titles: frozenset[str]
    """Honorifics and degrees to skip: ``dr``, ``prof``, ``b.eng``."""
    company: frozenset[str]
    """Company suffixes (``llc``, ``gmbh``, ``and sons``): a value holding one is a firm, not a person."""


@functools.cache
def dictionaries() -> NameDictionaries:
    with PROVIDERS_LOCK:
        return _load()


def _load() -> NameDictionaries:
    try:
        import faker.providers.company as company_pkg
        import faker.providers.person as person_pkg
    except ImportError:  # without Faker, names are found by header and shape only
        return NameDictionaries(frozenset(), frozenset(), _TITLES, frozenset())
    first: set[str] = set()
    last: set[str] = set()
    titles: set[str] = set(_TITLES)
    seen: set[int] = set()
    for module in pkgutil.iter_modules(person_pkg.__path__):
        provider = importlib.import_module(f"{person_pkg.__name__}.{module.name}").Provider
        for attribute in dir(provider):  # dir, not vars: many locales inherit their lists
            value = getattr(provider, attribute)
            if attribute.startswith("_") or not isinstance(value, (tuple, list, dict)) or id(value) in seen:
                continue
            seen.add(id(value))
            words = _words_of(value)
            if attribute.startswith(("first_name", "first_romanized", "first_kana", "middle_name")):
                first.update(words)
            elif "last_name" in attribute or attribute.startswith(("last_romanized", "last_kana")):
                last.update(words)
            elif attribute.startswith(("prefixes", "suffixes", "academic_")) or attribute == "degrees":
                titles.update(word.rstrip(".") for word in words)
    company: set[str] = set()
    for module in pkgutil.iter_modules(company_pkg.__path__):
        provider = importlib.import_module(f"{company_pkg.__name__}.{module.name}").Provider
        suffixes = getattr(provider, "company_suffixes", None)
        if isinstance(suffixes, (tuple, list, dict)):
            company.update(word.rstrip(".") for word in _words_of(suffixes) if len(word) > 1)
    company.update({"llc", "inc", "ltd", "corp", "corporation", "company", "group", "holdings", "partners", "sons", "bank"})
    return NameDictionaries(frozenset(first), frozenset(last), frozenset(titles), frozenset(company - _PARTICLES))


def _words_of(values: object) -> set[str]:
    words: set[str] = set()
    items = values.keys() if isinstance(values, dict) else values
    for item in items:  # type: ignore[attr-defined]
        for text in item if isinstance(item, tuple) else (item,):
            if isinstance(text, str):
                words.update(word.casefold() for word in text.split() if word)
    return words


def _in(word: str, names: frozenset[str]) -> bool:
    """A word, or every part of a hyphenated one, is in ``names``."""
    folded = word.casefold().strip(".,")
    return folded in names or ("-" in folded and all(part in names for part in folded.split("-") if part))


def is_person_name(value: str) -> bool:
    """Whether a whole cell reads as a personal name: 1-5 name-like words, most of them known names, no digits."""
    text = value.strip()
    if not text or len(text) > 80 or any(ch.isdigit() or ch in "@/:_#|=" for ch in text):
        return False
    names = dictionaries()
    if _CJK.search(text) and " " not in text:
        return _is_cjk_name(text, names)
    words = [w for w in re.split(r"[\s,]+", text) if w]
    if any(w.casefold().rstrip(".") in names.company or w == "&" for w in words):
        return False
    core = [w for w in words if w.casefold().rstrip(".") not in names.titles and "." not in w.rstrip(".")]
    core = [w for w in core if w.casefold() not in _PARTICLES and not (len(w) == 2 and w.endswith("."))]
    if not core or len(core) > 5 or not all(_WORD.fullmatch(w.rstrip(".")) for w in core):
        return False
    if not _consistent_case(core):
        return False
    known_first = sum(_in(w, names.first) for w in core)
    known = sum(_in(w, names.first) or _in(w, names.last) for w in core)
    if len(core) == 1:
        return known == 1 and not core[0].islower()  # "white", "green": words first, surnames second
    return known * 2 >= len(core) and (known_first > 0 or known == len(core))


def _consistent_case(words: list[str]) -> bool:
    cased = [w for w in words if w.lower() != w.upper()]
    if not cased:
        return True  # scripts without case (Arabic, Hebrew, CJK)
    return all(w[0].isupper() for w in cased) or all(w.islower() for w in cased)


def _is_cjk_name(text: str, names: NameDictionaries) -> bool:
    if len(text) > 6:
        return False
    return any(text[:cut] in names.last and (text[cut:] in names.first or len(text) - cut <= 2) for cut in (1, 2))


def find_names(text: str) -> list[EntitySpan]:
    """Names inside prose: a title and a capitalised word ("Dr. Okafor"), or a known first name followed by
    capitalised words the last of which is a known name ("Maria José García")."""
    from bastion.scanners.data.entities import EntitySpan

    names = dictionaries()
    words = [(m.start(), m.end(), m.group(0)) for m in _WORD.finditer(text)]
    spans: list[EntitySpan] = []
    index = 0
    while index < len(words):
        start, _end, word = words[index]
        folded = word.casefold().rstrip(".")
        taken, score = 0, 0.0
        if folded in names.titles and folded not in _NOT_NAMES and word[0].isupper():
            taken, score = _capitalised_run(text, words, index + 1, names, need_known=False, after_title=True), 0.85
        elif word[0].isupper() and folded not in _NOT_NAMES and _in(word, names.first):
            taken, score = _capitalised_run(text, words, index + 1, names, need_known=True), 0.8
        if taken:
            spans.append(EntitySpan(start, words[index + taken][1], "PERSON", score))
        index += taken + 1
    return spans


def _capitalised_run(
    text: str,
    words: list[tuple[int, int, str]],
    index: int,
    names: NameDictionaries,
    *,
    need_known: bool,
    after_title: bool = False,
) -> int:
    """How many words from ``index`` continue a name (capitalised, separated by one space or a hyphen, or "Dr. "
    after a title); 0 if none. With ``need_known`` the run must end on a known first or last name."""
    taken = 0
    best = 0
    while index + taken < len(words) and taken < 3:
        start, _end, word = words[index + taken]
        previous_end = words[index + taken - 1][1]
        gap = text[previous_end:start]
        allowed = (" ", "-", ". ") if after_title and taken == 0 else (" ", "-")
        if gap not in allowed or not (word[0].isupper() or word.casefold() in _PARTICLES):
            break
        if word.casefold() in _NOT_NAMES:
            break
        taken += 1
        if word[0].isupper() and (not need_known or _in(word, names.last) or _in(word, names.first)):
            best = taken
    return best
