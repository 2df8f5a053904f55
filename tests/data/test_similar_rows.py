"""Near-duplicate rows by content (MinHash and LSH, checked exactly) on Faker records with planted near-duplicates:
each planted pair found as its own group, at its file rows; clean records give none."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import pytest
from faker import Faker

from bastion.core import Finding
from bastion.scanners.data._similar_rows import _groups
from bastion.scanners.data.dataset import Dataset
from bastion.scanners.data.quality import QualityAnalysis
from bastion.scanners.interface import ScanOptions

ROWS = 3000
FIELDS = ["customer_id", "name", "email", "street", "city", "phone", "amount", "note"]


def records(seed: int, locale: str = "en_US") -> list[dict[str, str]]:
    fake = Faker(locale)
    fake.seed_instance(seed)
    rng = random.Random(seed)
    return [
        {
            "customer_id": str(100_000 + i),
            "name": fake.name(),
            "email": fake.email(),
            "street": fake.street_address(),
            "city": fake.city(),
            "phone": fake.phone_number(),
            "amount": f"{rng.uniform(5, 5000):.2f}",
            "note": fake.sentence(nb_words=10),
        }
        for i in range(ROWS)
    ]


def typo(word: str, rng: random.Random) -> str:
    """Two different neighbouring letters swapped (one word stays one word), or the last letter doubled."""
    places = [at for at in range(len(word) - 1) if word[at].isalpha() and word[at + 1].isalpha() and word[at] != word[at + 1]]
    if not places:
        return word + word[-1]
    at = rng.choice(places)
    return word[:at] + word[at + 1] + word[at] + word[at + 2 :]


def plant(rows: list[dict[str, str]], seed: int) -> set[tuple[int, int]]:
    """Copy 30 rows over later rows with one or two small edits; the (original, copy) pairs."""
    rng = random.Random(seed)
    originals = rng.sample(range(0, ROWS // 2), 30)
    copies = rng.sample(range(ROWS // 2, ROWS), 30)
    for kind, (original, copy) in enumerate(zip(originals, copies, strict=True)):
        row = dict(rows[original], customer_id=rows[copy]["customer_id"])
        if kind % 3 == 0:  # a typo in the name
            first, *rest = row["name"].split(" ")
            row["name"] = " ".join([typo(first, rng), *rest])
        elif kind % 3 == 1:  # another amount and a typo in the note
            row["amount"] = f"{float(row['amount']) + 17.5:.2f}"
            words = row["note"].split(" ")
            longest = max(range(len(words)), key=lambda i: len(words[i]))
            words[longest] = typo(words[longest], rng)
            row["note"] = " ".join(words)
        else:  # the e-mail retyped and the city spelled in capitals
            user, domain = row["email"].split("@")
            row["email"] = typo(user, rng) + "@" + domain
            row["city"] = row["city"].upper()
        rows[copy] = row
    return set(zip(originals, copies, strict=True))


def write(path: Path, rows: list[dict[str, str]], *, ragged_before: int | None = None) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(FIELDS)
        for index, row in enumerate(rows):
            if index == ragged_before:
                writer.writerow([*row.values(), "one field too many"])  # rejected by the reader, still a data row
            writer.writerow(row.values())
    return path


def similar(path: Path) -> list[Finding]:
    with Dataset(str(path), path.name, "csv") as dataset:
        findings = QualityAnalysis().analyze(dataset, ScanOptions())
    return [f for f in findings if f.rule_id == "data.quality.similar-rows"]


@pytest.mark.parametrize(("seed", "locale"), [(1, "en_US"), (2, "de_DE"), (3, "fr_FR")])
def test_planted_near_duplicates_are_found_as_their_own_groups(tmp_path: Path, seed: int, locale: str) -> None:
    rows = records(seed, locale)
    planted = plant(rows, seed)
    (finding,) = similar(write(tmp_path / "people.csv", rows))
    assert finding.count == len(planted)
    assert {tuple(group) for group in finding.extra["groups"]} == planted
    assert finding.extra["rows"] == [copy for _, copy in sorted(planted)]
    assert finding.location.row == min(planted)[1]


def test_rows_are_file_rows_past_a_rejected_line(tmp_path: Path) -> None:
    rows = records(4)
    planted = plant(rows, 4)
    before = min(copy for _, copy in planted) - 5
    (finding,) = similar(write(tmp_path / "ragged.csv", rows, ragged_before=before))
    shifted = {(a + (a >= before), b + (b >= before)) for a, b in planted}
    assert {tuple(group) for group in finding.extra["groups"]} == shifted


@pytest.mark.parametrize(("seed", "locale"), [(5, "en_US"), (6, "ja_JP"), (7, "pt_BR")])
def test_clean_records_have_no_similar_rows(tmp_path: Path, seed: int, locale: str) -> None:
    assert similar(write(tmp_path / "clean.csv", records(seed, locale))) == []


def test_templated_text_alone_does_not_make_rows_similar(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    with path.open("w") as handle:
        handle.write("order,status,note\n")
        for i in range(2000):
            handle.write(f"{i},{['open', 'shipped', 'late'][i % 3]},order {i} shipped in {i % 9 + 1} days to warehouse {i % 4}\n")
    assert similar(path) == []


def test_linked_pairs_form_connected_groups() -> None:
    assert _groups([(1, 5), (5, 9), (2, 3), (0, 9)]) == [[0, 1, 5, 9], [2, 3]]
