"""Postal addresses and place names in many languages: street words and places from Faker's address providers.

Faker ships street suffixes and prefixes ("Street", "rue", "Calle", "ул.") and lists of cities, states and
countries for ~70 locales inside its PyPI package; they are read on first use (~0.2 s) and completed here
with the abbreviations and compound endings (German ``-straße``, Swedish ``-gatan``) that Faker spells out.
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

_STREET_WORDS = frozenset((
    "st", "street", "ave", "avenue", "rd", "road", "blvd", "boulevard", "ln", "lane", "dr", "drive", "ct", "court", "pl",
    "place", "sq", "square", "ter", "terrace", "way", "hwy", "highway", "pkwy", "parkway", "cir", "circle", "cres",
    "crescent", "close", "grove", "row", "trail", "plaza", "alley", "path", "apt", "apartment", "suite", "ste", "unit",
    "flat", "floor", "box", "apo", "fpo", "dpo", "psc", "rue", "av", "allée", "allee", "chemin", "impasse", "quai",
    "cours", "route", "calle", "avda", "avenida", "paseo", "plaza", "camino", "carrera", "via", "viale", "piazza", "corso",
    "largo", "vicolo", "strada", "rua", "travessa", "praça", "praca", "alameda", "estrada", "ul", "ulica", "al", "aleja",
    "os", "osiedle", "ул", "улица", "пр", "просп", "проспект", "пер", "переулок", "д", "дом", "кв", "бул", "бульвар", "ш",
    "шоссе", "наб", "набережная", "пл", "площадь", "алл", "аллея", "шарع", "شارع", "straße", "strasse", "str", "gasse",
    "weg", "platz", "allee", "straat", "laan", "gracht", "plein", "vej", "gade", "gatan", "vägen", "gränd", "katu", "tie",
    "kuja", "utca",
))  # fmt: skip
_COMPOUND_ENDINGS = (
    "straße", "strasse", "str.", "weg", "gasse", "allee", "platz", "ring", "damm", "ufer", "chaussee", "steig", "pfad",
    "straat", "laan", "gracht", "plein", "kade", "singel", "dreef", "steeg", "vej", "gade", "gatan", "vägen", "väg",
    "gränd", "torget", "katu", "tie", "kuja", "veien", "vegen", "gata", "gate", "utca",
)  # fmt: skip
_CJK_ADDRESS = re.compile(
    r"[0-9０-９一二三四五六七八九十]+\s*(?:丁目|番地?|号室?|階|室|座|弄|巷|번지|층|호)"
    r"|(?:都|道|府|県|省|市|区|县|町|村|街|路|로|길|동)[^\s]{0,12}[0-9０-９]"
)
_HOUSE_NUMBER = re.compile(r"(?<![0-9A-Za-z])[0-9]{1,6}[A-Za-z]?(?:[/\-][0-9A-Za-z]{1,4})?(?![0-9])")
_TOKEN = re.compile(r"[^\W\d_][^\W\d_'’.\-]*\.?")


@dataclass(frozen=True, slots=True)
class PlaceDictionaries:
    street_words: frozenset[str]
    """Case-folded street types, prefixes and abbreviations, without trailing dots."""
    places: frozenset[str]
    """Case-folded cities, states, regions and countries."""
    city_prefixes: frozenset[str]
    city_suffixes: tuple[str, ...]


_PLACE_LISTS = (
    "cities", "city_names", "real_city_names", "towns", "countries", "states", "provinces", "regions", "region_names",
    "departments", "counties", "prefectures", "municipalities", "localities", "districts", "estados", "wilayas",
    "cantons", "communes", "metropolitan_cities", "boroughs",
)  # fmt: skip


@functools.cache
def dictionaries() -> PlaceDictionaries:
    with PROVIDERS_LOCK:
        return _load()


def _load() -> PlaceDictionaries:
    try:
        import faker.providers.address as address_pkg
    except ImportError:  # without Faker, the built-in street words remain
        return PlaceDictionaries(_STREET_WORDS, frozenset(), frozenset(), ())
    street: set[str] = set(_STREET_WORDS)
    places: set[str] = set()
    prefixes: set[str] = set()
    suffixes: set[str] = set()
    seen: set[int] = set()
    for module in pkgutil.iter_modules(address_pkg.__path__):
        provider = importlib.import_module(f"{address_pkg.__name__}.{module.name}").Provider
        for attribute in dir(provider):  # dir, not vars: many locales inherit their lists
            value = getattr(provider, attribute)
            if attribute.startswith("_") or not isinstance(value, (tuple, list, dict)) or id(value) in seen:
                continue
            seen.add(id(value))
            phrases = _phrases_of(value)
            if attribute.startswith(("street_suffix", "street_prefix", "street_title", "road_suffix", "building_prefix")):
                street.update(p.rstrip(".") for p in phrases if len(p.rstrip(".")) > 1 or not p.isascii())
            elif attribute in _PLACE_LISTS:
                places.update(phrases)
            elif attribute == "city_prefixes":
                prefixes.update(phrases)
            elif attribute == "city_suffixes":
                suffixes.update(p for p in phrases if len(p) >= 3)
    return PlaceDictionaries(frozenset(street), frozenset(places), frozenset(prefixes), tuple(sorted(suffixes)))


def _phrases_of(values: object) -> set[str]:
    phrases: set[str] = set()
    items = values.keys() if isinstance(values, dict) else values
    for item in items:  # type: ignore[attr-defined]
        for text in item if isinstance(item, tuple) else (item,):
            if isinstance(text, str) and text.strip():
                phrases.add(text.strip().casefold())
    return phrases


def is_street_address(value: str) -> bool:
    """A house number and a street word ("12 Baker Street", "Hauptstraße 5", "ул. Ленина, д. 7"), or a CJK address."""
    text = value.strip()
    if len(text) < 6 or len(text) > 300 or "@" in text or "://" in text:
        return False
    if _CJK_ADDRESS.search(text):
        return True
    if not _HOUSE_NUMBER.search(text):
        return False
    words = [w.casefold() for w in _TOKEN.findall(text)]
    if not words:
        return False
    streets = dictionaries().street_words
    return any(w.rstrip(".") in streets or w.endswith(_COMPOUND_ENDINGS) for w in words) and len(words) >= 2


def is_place(value: str) -> bool:
    """A city, region or country name: in Faker's place lists or shaped like one ("Port Jameshaven", "Amytown")."""
    text = value.strip()
    if not text or len(text) > 60 or any(ch.isdigit() or ch in "@/:_#=" for ch in text):
        return False
    folded = text.casefold()
    places = dictionaries()
    if folded in places.places:
        return True
    words = folded.split()
    if not 1 <= len(words) <= 4 or not text[0].isupper():
        return False
    return words[0] in places.city_prefixes or words[-1].endswith(places.city_suffixes)


@functools.cache
def address_text_pattern() -> str:
    """A pattern (Python and RE2 alike) for street addresses inside prose."""
    english, others = _address_patterns()
    return f"{english}|{others}"


@functools.cache
def _address_patterns() -> tuple[str, str]:
    """The English-style pattern (number, words, street word) and the rest (German, Romance, Russian, CJK)."""
    suffixes = sorted(
        {w.capitalize() for w in dictionaries().street_words if w.isascii() and w.isalpha() and len(w) >= 2}
        | {"Street", "Avenue", "Road", "Lane", "Drive", "Court", "Place", "Square", "Boulevard", "Way"},
        key=lambda w: (-len(w), w),
    )
    english = rf"\b[0-9]{{1,6}}[A-Za-z]?,? (?:[A-Z][A-Za-z'\-]*\.? ){{1,3}}(?:{'|'.join(suffixes)})\b\.?"
    compound = "|".join(re.escape(e) for e in _COMPOUND_ENDINGS)
    germanic = rf"\b[A-ZÄÖÜÅØÆ][a-zäöüßåøæé\-]*(?:{compound}) ?[0-9]{{1,4}}[a-z]?\b"
    romance_words = "rue|avenue|boulevard|allée|chemin|impasse|quai|calle|avenida|paseo|plaza|camino|via|viale|piazza|corso|rua|travessa|praça|alameda|ulica"  # noqa: E501
    romance = (
        rf"\b(?i:{romance_words}) (?:[A-Za-zÀ-ÿ'’\-]+ ){{0,3}}[A-Za-zÀ-ÿ'’\-]+,? [0-9]{{1,4}}\b"
        rf"|\b[0-9]{{1,4}},? (?i:{romance_words}) (?:[A-Za-zÀ-ÿ'’\-]+ ){{0,3}}[A-ZÀ-Ý][A-Za-zÀ-ÿ'’\-]+"
    )
    russian = r"(?:ул\.|улица|пр\.|просп\.|проспект|пер\.|бул\.|ш\.|наб\.|пл\.|алл\.) ?[А-ЯЁ][а-яё\-]+(?: [А-ЯЁа-яё\-]+)?,? (?:д\.|дом) ?[0-9]{1,4}"  # noqa: E501
    cjk = "[0-9０-９]{1,4}丁目[0-9０-９]{1,4}番地?(?:[0-9０-９]{1,4}号)?|[\u4e00-\u9fff]{1,8}(?:路|街|道)[0-9]{1,5}号"
    return english, f"{germanic}|{romance}|{russian}|{cjk}"


@functools.cache
def _address_re() -> re.Pattern[str]:
    # Python's re is slow on the long alternation of street words: take up to four capitalised words after a
    # house number, then look them up (find_addresses); the other patterns are used as they are.
    generic = r"\b[0-9]{1,6}[A-Za-z]?,? (?P<words>[A-Z][A-Za-z'\-]*(?: [A-Z][A-Za-z'\-]*\.?){1,3})"
    return re.compile(f"{generic}|{_address_patterns()[1]}")


_CAPITALISED = re.compile(r"[A-Z][A-Za-z'\-]*")


def find_addresses(text: str) -> list[EntitySpan]:
    from bastion.scanners.data.entities import EntitySpan

    streets = dictionaries().street_words
    spans = []
    for match in _address_re().finditer(text):
        if match.group("words") is None:
            spans.append(EntitySpan(match.start(), match.end(), "LOCATION", 0.75))
            continue
        # The address ends at the first street word after the first name word ("221 Baker Street").
        for word in list(_CAPITALISED.finditer(match.group("words")))[1:]:
            if word.group(0).casefold() in streets:
                spans.append(EntitySpan(match.start(), match.start("words") + word.end(), "LOCATION", 0.75))
                break
    return spans
