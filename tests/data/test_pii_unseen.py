"""Column-level detection on data shaped unlike the benchmark's (``benchmarks/pii_data.py``) and ``test_pii``'s tables:
other header spellings and abbreviations in several languages, Faker locales de_DE, fr_FR, ru_RU, ja_JP and pt_BR,
mixed-case values, formatted numbers, 30% missing cells, decoys (order ids, SKUs, hashes, versions, barcodes,
timestamps) and free-text notes with entities inside. Column-level F1 over (column, entity) pairs must be >= 0.95."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from faker import Faker

from bastion.core import Category, Finding
from bastion.scanners.data.dataset import Dataset
from bastion.scanners.data.pii import SensitiveDataAnalysis
from bastion.scanners.interface import ScanOptions

ROWS = 1200
MISSING = 0.3


def _table(seed: int) -> tuple[dict[str, list[Any]], dict[str, set[str]]]:
    fake = Faker(["de_DE", "fr_FR", "ru_RU", "ja_JP", "pt_BR", "en_US"])
    fake.seed_instance(seed)
    rng = random.Random(seed)

    def mixed_case(text: str) -> str:
        return text.upper() if rng.random() < 0.3 else text

    def grouped(digits: str, sep: str = " ") -> str:
        return sep.join(digits[i : i + 4] for i in range(0, len(digits), 4))

    def note() -> str:
        words = fake["en_US"].sentence(nb_words=8).rstrip(".")
        if rng.random() < 0.5:
            return f"{words}; reach me at {fake['fr_FR'].email()} after 5pm."
        return f"{words}. Call back on {fake['en_US'].phone_number()} please."

    spec: dict[str, tuple[set[str], Callable[[], Any]]] = {
        "E-mail Addr": ({"EMAIL_ADDRESS"}, lambda: mixed_case(fake["fr_FR"].email())),
        "tel": ({"PHONE_NUMBER"}, lambda: fake["pt_BR"].phone_number()),
        "cust_nm": ({"PERSON"}, lambda: fake["pt_BR"].name()),
        "Nachname": ({"PERSON"}, lambda: fake["de_DE"].last_name()),
        "prénom": ({"PERSON"}, lambda: fake["fr_FR"].first_name()),
        "ФИО": ({"PERSON"}, lambda: fake["ru_RU"].name()),
        "氏名": ({"PERSON"}, lambda: fake["ja_JP"].name()),
        "Tel.-Nr.": ({"PHONE_NUMBER"}, lambda: fake["de_DE"].phone_number()),
        "num_tel": ({"PHONE_NUMBER"}, lambda: fake["fr_FR"].phone_number()),
        "Anschrift": ({"LOCATION"}, lambda: fake["de_DE"].address().replace("\n", ", ")),
        "endereco": ({"LOCATION"}, lambda: fake["pt_BR"].address().replace("\n", ", ")),
        "geb_dat": ({"DATE_TIME"}, lambda: fake["de_DE"].date_of_birth().strftime("%d.%m.%Y")),
        "DOB": ({"DATE_TIME"}, lambda: fake["en_US"].date_of_birth().isoformat()),
        "IbanNr": ({"IBAN_CODE"}, lambda: grouped(fake[rng.choice(("de_DE", "fr_FR"))].iban())),
        "CardNo": ({"CREDIT_CARD"}, lambda: grouped(fake["en_US"].credit_card_number(), rng.choice(" -"))),
        "Soc_Sec_No": ({"US_SSN"}, lambda: fake["en_US"].ssn()),
        "cpf": ({"BR_CPF"}, lambda: fake["pt_BR"].cpf()),
        "ip addr": ({"IP_ADDRESS"}, lambda: fake["en_US"].ipv4_public()),
        "Website": ({"URL"}, lambda: fake["fr_FR"].url()),
        "e_mail": ({"EMAIL_ADDRESS"}, lambda: fake["pt_BR"].free_email()),
        "Mobil": ({"PHONE_NUMBER"}, lambda: "+49 " + fake["de_DE"].msisdn()[2:]),
        "Имя": ({"PERSON"}, lambda: fake["ru_RU"].first_name()),
        "姓": ({"PERSON"}, lambda: fake["ja_JP"].last_name()),
        "住所": ({"LOCATION"}, lambda: fake["ja_JP"].address()),
        "cidade": ({"LOCATION"}, lambda: fake["pt_BR"].city()),
        "Strasse": ({"LOCATION"}, lambda: fake["de_DE"].street_address()),
        "Notizen": ({"EMAIL_ADDRESS", "PHONE_NUMBER"}, note),
        # decoys
        "order_id": (set(), lambda: f"ORD-{rng.randrange(10**6, 10**7)}"),
        "SKU": (set(), lambda: fake["en_US"].bothify("???-####-??").upper()),
        "sha256": (set(), lambda: fake["en_US"].sha256()),
        "version": (set(), lambda: f"{rng.randrange(0, 12)}.{rng.randrange(0, 40)}.{rng.randrange(0, 200)}"),
        "ean": (set(), lambda: fake["en_US"].ean13()),
        "created_at": (set(), lambda: fake["en_US"].date_time_between("-2y").isoformat(timespec="seconds")),
        "amount": (set(), lambda: round(rng.uniform(1, 900), 2)),
        "status": (set(), lambda: rng.choice(["OPEN", "shipped", "Cancelled"])),
        "Produkt": (set(), lambda: fake["en_US"].catch_phrase()),
    }
    columns: dict[str, list[Any]] = {}
    for name, (_, make) in spec.items():
        columns[name] = [None if rng.random() < MISSING else make() for _ in range(ROWS)]
    return columns, {name: truth for name, (truth, _) in spec.items()}


def _predicted(findings: list[Finding]) -> dict[str, set[str]]:
    got: dict[str, set[str]] = {}
    for finding in findings:
        if finding.category is Category.PII and finding.location.field is not None and finding.entity:
            got.setdefault(finding.location.field, set()).add(finding.entity)
    return got


def _f1(truth: dict[str, set[str]], got: dict[str, set[str]]) -> tuple[float, dict[str, tuple[list[str], list[str]]]]:
    tp = sum(len(truth[c] & got.get(c, set())) for c in truth)
    fp = sum(len(got.get(c, set()) - truth[c]) for c in truth)
    fn = sum(len(truth[c] - got.get(c, set())) for c in truth)
    wrong = {c: (sorted(truth[c]), sorted(got.get(c, set()))) for c in truth if truth[c] != got.get(c, set())}
    return (2 * tp / (2 * tp + fp + fn) if tp else 0.0), wrong


@pytest.mark.parametrize(("seed", "fmt"), [(21, "parquet"), (22, "csv"), (23, "jsonl")])
def test_column_level_f1_on_unseen_shapes(tmp_path: Path, seed: int, fmt: str) -> None:
    columns, truth = _table(seed)
    table = pa.table(columns)
    path = tmp_path / f"customers.{fmt}"
    if fmt == "parquet":
        pq.write_table(table, path)
    elif fmt == "csv":
        pcsv.write_csv(table, path)
    else:
        path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in table.to_pylist()), encoding="utf-8")
    with Dataset(str(path), path.name, fmt) as dataset:
        findings = SensitiveDataAnalysis().analyze(dataset, ScanOptions())
    f1, wrong = _f1(truth, _predicted(findings))
    print(f"column-level F1 {f1:.3f}; differences: {wrong}")
    assert f1 >= 0.95, (f1, wrong)
