"""Offensive text: hits in each language of the list, decoys that hold an offensive word inside an innocent one (the
Scunthorpe problem) or are medical words general lists flag, the prose matcher and DuckDB's pattern agreeing, and the
count of a free-text column."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bastion.core import Category
from bastion.scanners.data.dataset import Dataset
from bastion.scanners.data.pii import SensitiveDataAnalysis
from bastion.scanners.data.vocabularies import OFFENSIVE_TERMS_BY_LANGUAGE, OFFENSIVE_TEXT, find_terms
from bastion.scanners.interface import ScanOptions

HITS = [
    ("en", "What the FUCK is this thing", "FUCK"),
    ("en", "the support agent was a total dickhead.", "dickhead"),
    ("en", "Son of a bitch, it broke again", "Son of a bitch"),
    ("en", "honestly just kill yourself", "kill yourself"),
    ("de", "Das ist doch Scheiße!", "Scheiße"),
    ("de", "Verpiss dich, du Arschloch", "Verpiss dich"),
    ("fr", "C'est de la merde, ce produit", "merde"),
    ("fr", "Quel connard, ce livreur", "connard"),
    ("es", "Qué mierda de servicio", "mierda"),
    ("es", "ese gilipollas no contesta", "gilipollas"),
    ("it", "Vaffanculo, non funziona", "Vaffanculo"),
    ("pt", "Que porra é essa?", "porra"),
    ("nl", "die klootzak belde niet terug", "klootzak"),
    ("pl", "Kurwa, znowu się zepsuło", "Kurwa"),
    ("ru", "Это пиздец, а не доставка", "пиздец"),
    ("ru", "СУКА, опять сломалось", "СУКА"),
    ("tr", "siktir git", "siktir"),
]

DECOYS = [
    "Scunthorpe United won at home",
    "the class passed its assessment",
    "a cocktail bar in Essex, Sussex and Middlesex",
    "Charles Dickens and Alfred Hitchcock",
    "shiitake mushrooms with grapes",
    "the assassin hid in the basement",
    "Penistone and Cockermouth are towns",
    "Arsenal signed a new therapist",
    "a scrapbook of the grasshopper's passion",
    "Matsushita shipped the spices",
    "our analysis of the document",
    "Scheißhausfliege",  # an offensive word opening a longer one is not matched as that word
    "Patient with HIV, uterus and ovary exam normal, urine sample taken",  # flagged by general word lists
    "God bless, a gay couple shared a vodka",
    "The dyke held; a needle prick; a chink in the armour; la zorra y la troia",
    "Klasse Arbeit, Herr Hurenberg",
]


def offensive_spans(text: str) -> list[str]:
    return [text[span.start : span.end] for span in find_terms(text) if span.entity == "OFFENSIVE_CONTENT"]


def pattern_matches(texts: list[str]) -> list[bool]:
    with duckdb.connect() as connection:
        rows = connection.execute("SELECT regexp_matches(t, ?) FROM unnest(?) AS u(t)", [OFFENSIVE_TEXT, texts]).fetchall()
    return [bool(row[0]) for row in rows]


@pytest.mark.parametrize(("language", "text", "word"), HITS)
def test_offensive_words_are_found_in_each_language(language: str, text: str, word: str) -> None:
    assert word in offensive_spans(text)
    assert word.casefold() in {term.casefold() for term in OFFENSIVE_TERMS_BY_LANGUAGE[language]}


@pytest.mark.parametrize("text", DECOYS)
def test_innocent_words_and_medical_terms_are_not_offensive(text: str) -> None:
    assert offensive_spans(text) == []


def test_the_sql_pattern_agrees_with_the_prose_matcher() -> None:
    texts = [text for _, text, _ in HITS] + DECOYS
    assert pattern_matches(texts) == [bool(offensive_spans(text)) for text in texts]


def test_every_term_matches_itself_as_a_word() -> None:
    terms = [term for terms in OFFENSIVE_TERMS_BY_LANGUAGE.values() for term in terms]
    assert [offensive_spans(f"well, {term}!") for term in terms] == [[term] for term in terms]
    assert all(pattern_matches([f"well, {term}!" for term in terms]))


def test_a_review_column_counts_its_offensive_cells(tmp_path: Path) -> None:
    reviews = [f"Great product number {i}, would buy again." for i in range(900)]
    planted = {5: "Das ist Scheiße, kaputt.", 77: "Quel connard ce vendeur.", 300: "what the fuck is this", 640: "Это пиздец."}
    for row, text in planted.items():
        reviews[row] = text
    reviews[400] = "Shipped from Scunthorpe, assessment of the class: fine."
    path = tmp_path / "reviews.parquet"
    pq.write_table(pa.table({"review": reviews}), path)
    with Dataset(str(path), path.name, "parquet") as dataset:
        findings = SensitiveDataAnalysis().analyze(dataset, ScanOptions())
    assert [(f.category, f.entity, f.count, f.location.field) for f in findings] == [
        (Category.DATA_QUALITY, "OFFENSIVE_CONTENT", len(planted), "review")
    ]
