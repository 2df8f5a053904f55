"""Sensitive-data detection: validators, entities in prose, column-level precision and recall on generated data
(several Faker locales, fixed seeds), free-text counts, credentials, special categories, redaction, odd inputs."""

from __future__ import annotations

import hashlib
import itertools
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bastion.core import Category, Finding
from bastion.scanners.data import validators as v
from bastion.scanners.data.dataset import Dataset
from bastion.scanners.data.entities import ENTITIES, find_entities
from bastion.scanners.data.pii import SensitiveDataAnalysis, shape
from bastion.scanners.interface import ScanError, ScanOptions

# --- helpers -----------------------------------------------------------------------------------------------

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def base58check(version: int, payload: bytes) -> str:
    raw = bytes([version]) + payload
    raw += hashlib.sha256(hashlib.sha256(raw).digest()).digest()[:4]
    value, text = int.from_bytes(raw, "big"), ""
    while value:
        value, digit = divmod(value, 58)
        text = _B58[digit] + text
    return "1" * (len(raw) - len(raw.lstrip(b"\0"))) + text


def nhs_number(rng: random.Random) -> str:
    while True:
        body = [rng.randrange(10) for _ in range(9)]
        check = 11 - sum(d * w for d, w in zip(body, range(10, 1, -1), strict=True)) % 11
        if check != 10:
            digits = "".join(map(str, body)) + str(0 if check == 11 else check)
            return f"{digits[:3]} {digits[3:6]} {digits[6:]}"


def luhn_failing(rng: random.Random) -> str:
    while True:
        number = "4" + "".join(str(rng.randrange(10)) for _ in range(15))
        if not v.luhn(number):
            return number


def analyze(path: Path, fmt: str = "parquet") -> list[Finding]:
    with Dataset(str(path), path.name, fmt) as dataset:
        return SensitiveDataAnalysis().analyze(dataset, ScanOptions())


def predicted(findings: list[Finding], category: Category = Category.PII) -> dict[str, set[str]]:
    result: dict[str, set[str]] = {}
    for finding in findings:
        if finding.category is category and finding.location.field is not None and finding.entity:
            result.setdefault(finding.location.field, set()).add(finding.entity)
    return result


def write_parquet(path: Path, columns: dict[str, list[Any]]) -> Path:
    pq.write_table(pa.table(columns), path)
    return path


# --- validators --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("validator", "valid", "invalid"),
    [
        (
            v.credit_card,
            ["4111 1111 1111 1111", "378282246310005", "5555-5555-5555-4444"],
            ["4111 1111 1111 1112", "1234567812345670"],
        ),
        (v.iban, ["GB82 WEST 1234 5698 7654 32", "DE89370400440532013000"], ["DE89370400440532013001", "GB82WEST123456987654"]),
        (
            v.us_ssn,
            ["536-90-4399", "123-45-6780"],
            ["000-12-3456", "666-12-3456", "912-34-5678", "123-00-4567", "123-45-0000", "078-05-1120"],
        ),
        (v.us_itin, ["912-71-3059"], ["912-40-3059", "812-71-3059"]),
        (
            v.base58check,
            ["1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy"],
            ["1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb", "1A1zP1eP5QGefi"],
        ),
        (
            v.bech32_address,
            [
                "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4",
                "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7",
                "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
            ],
            [
                "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5",
                "BC1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
                "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj1",
            ],
        ),
        (
            v.ethereum_address,
            ["0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359", "0x" + "ab" * 20],
            ["0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeA"],
        ),
        (v.uk_nhs, ["943 476 5919"], ["943 476 5918", "111 111 1111"]),
        (v.uk_nino, ["AB 12 34 56 C"], ["QQ 12 34 56 C", "ZZ 73 46 46 T"]),
        (v.es_nif, ["12345678Z", "X1234567L"], ["12345678A", "X1234567A"]),
        (v.it_fiscal_code, ["RSSMRA85T10A562S"], ["RSSMRA85T10A562T"]),
        (v.pl_pesel, ["44051401359"], ["44051401358", "44151401359"]),
        (v.sg_nric, ["S1234567D"], ["S1234567E"]),
        (v.au_tfn, ["123 456 782"], ["123 456 781"]),
        (v.au_abn, ["51 824 753 556"], ["51 824 753 557"]),
        (v.in_aadhaar, ["4991 1866 5246"], ["4991 1866 5247", "1991 1866 5246"]),
        (v.in_pan, ["ABCPE1234F"], ["ABCXE1234F"]),
        (v.fi_hetu, ["131052-308T"], ["131052-308U", "311352-308T"]),
        (v.fr_nir, ["2 55 08 14 168 025 38"], ["2 55 08 14 168 025 39"]),
        (v.br_cpf, ["529.982.247-25"], ["529.982.247-26", "111.111.111-11"]),
        (v.nl_bsn, ["111222333"], ["111222334"]),
        (v.cn_resident_id, ["11010519491231002X"], ["110105194912310021", "11010519491331002X"]),
        (v.se_personnummer, ["811228-9874"], ["811228-9875"]),
        (v.aba_routing, ["021000021"], ["021000022", "991000021"]),
        (v.dea_number, ["AB1234563"], ["AB1234564"]),
        (v.us_npi, ["1234567893"], ["1234567894"]),
        (v.ip_address, ["192.168.10.4", "2001:db8::8a2e:370:7334"], ["256.1.1.1", "127.0.0.1", "::"]),
        (
            v.calendar_date,
            ["1985-03-12", "12.03.1985", "March 12, 1985", "12 mars 1985"],
            ["1985-02-30", "13/13/1985", "2024-13-01"],
        ),
    ],
)
def test_validators_accept_valid_and_reject_invalid(
    validator: Callable[[str], bool], valid: list[str], invalid: list[str]
) -> None:
    for value in valid:
        assert validator(value), value
    for value in invalid:
        assert not validator(value), value


def test_keccak256_matches_the_known_empty_digest() -> None:
    assert v.keccak256(b"").hex() == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"


# --- entities inside free text -----------------------------------------------------------------------------

NOTE = (
    "Patient Maria Garcia (DOB 1984-03-12, SSN 536-90-4399) was seen by Dr. Okafor. Email maria.garcia@example.com, "
    "phone +1-202-555-0143 x12. Card 4111 1111 1111 1111; order 4111 1111 1111 1112. IBAN DE89 3704 0044 0532 0130 00. "
    "Lives at 221 Baker Street. IP 10.2.3.4 and 2001:db8::8a2e:370:7334, not std::vector. Type 2 diabetes (E11.9). "
    "Wallet 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa. Key AKIAZ3MSJV4QWERTYUIO."
)


def test_find_entities_finds_each_entity_in_a_clinical_note() -> None:
    found = {(span.entity, NOTE[span.start : span.end]) for span in find_entities(NOTE)}
    expected = {
        ("PERSON", "Maria Garcia"),
        ("PERSON", "Dr. Okafor"),
        ("DATE_TIME", "1984-03-12"),
        ("US_SSN", "536-90-4399"),
        ("EMAIL_ADDRESS", "maria.garcia@example.com"),
        ("PHONE_NUMBER", "+1-202-555-0143 x12"),
        ("CREDIT_CARD", "4111 1111 1111 1111"),
        ("IBAN_CODE", "DE89 3704 0044 0532 0130 00"),
        ("LOCATION", "221 Baker Street"),
        ("IP_ADDRESS", "10.2.3.4"),
        ("IP_ADDRESS", "2001:db8::8a2e:370:7334"),
        ("MEDICAL_CONDITION", "Type 2 diabetes"),
        ("MEDICAL_CONDITION", "E11.9"),
        ("CRYPTO", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"),
        ("CREDENTIAL", "AKIAZ3MSJV4QWERTYUIO"),
    }
    assert expected <= found, expected - found
    # The Luhn-failing number and the C++ scope operator are not entities.
    assert not any("1112" in text or "std::" in text for _, text in found)


def test_find_entities_spans_do_not_overlap_and_can_be_limited() -> None:
    spans = find_entities(NOTE)
    assert all(a.end <= b.start for a, b in itertools.pairwise(spans))
    assert {s.entity for s in find_entities(NOTE, entities={"EMAIL_ADDRESS"})} == {"EMAIL_ADDRESS"}
    assert find_entities("") == []


# --- column-level detection on generated data --------------------------------------------------------------

ROWS = 1500


def _table(seed: int = 11) -> tuple[dict[str, list[Any]], dict[str, set[str]]]:
    """Columns from Faker in several locales with their ground truth; headers in several languages."""
    from faker import Faker

    fake = Faker(["en_US", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pl_PL", "ja_JP", "ru_RU", "en_GB"])
    fake.seed_instance(seed)
    rng = random.Random(seed)

    def loc(*names: str) -> Any:
        return fake[rng.choice(names)]

    spec: dict[str, tuple[set[str], Callable[[], Any]]] = {
        "Vorname": ({"PERSON"}, lambda: fake["de_DE"].first_name()),
        "surname": ({"PERSON"}, lambda: loc("fr_FR", "es_ES", "pl_PL").last_name()),
        "full_name": ({"PERSON"}, lambda: loc("ja_JP", "ru_RU", "en_GB", "it_IT").name()),
        "correo": ({"EMAIL_ADDRESS"}, lambda: fake["es_ES"].email()),
        "Telefonnummer": ({"PHONE_NUMBER"}, lambda: fake["de_DE"].phone_number()),
        "mobile": ({"PHONE_NUMBER"}, lambda: loc("fr_FR", "it_IT", "en_GB", "nl_NL").phone_number()),
        "tax_ref": ({"US_SSN"}, lambda: fake["en_US"].ssn()),
        "cc": ({"CREDIT_CARD"}, lambda: fake["en_US"].credit_card_number()),
        "bank": ({"IBAN_CODE"}, lambda: loc("nl_NL", "it_IT", "de_DE").iban()),
        "client_ip": ({"IP_ADDRESS"}, lambda: fake["en_US"].ipv6() if rng.random() < 0.5 else fake["en_US"].ipv4_public()),
        "Geburtsdatum": ({"DATE_TIME"}, lambda: fake["de_DE"].date_of_birth().strftime("%d.%m.%Y")),
        "domicile": ({"LOCATION"}, lambda: loc("it_IT", "de_DE", "en_US", "fr_FR").address().replace("\n", ", ")),
        "btc": ({"CRYPTO"}, lambda: base58check(rng.choice((0, 5)), rng.randbytes(20))),
        "homepage": ({"URL"}, lambda: fake["en_US"].url()),
        "nhs_no": ({"UK_NHS"}, lambda: nhs_number(rng)),
        "codice_fiscale": ({"IT_FISCAL_CODE"}, lambda: fake["it_IT"].ssn()),
        "pesel": ({"PL_PESEL"}, lambda: fake["pl_PL"].pesel()),
        "dni": ({"ES_NIF"}, lambda: fake["es_ES"].nif()),
        "passport": ({"US_PASSPORT"}, lambda: fake["en_US"].passport_number()),
        "ville": ({"LOCATION"}, lambda: fake["fr_FR"].city()),
        "account_number": ({"US_BANK_NUMBER"}, lambda: fake["en_US"].bban()),
        "routing": ({"ABA_ROUTING_NUMBER"}, lambda: fake["en_US"].aba()),
        # decoys
        "sku": (set(), lambda: fake["en_US"].bothify("??-####-??").upper()),
        "md5": (set(), lambda: fake["en_US"].md5()),
        "user_id": (set(), lambda: rng.randrange(10**6, 10**7)),
        "order_ref": (set(), lambda: str(rng.randrange(10**8, 10**10))),
        "card_like": (set(), lambda: luhn_failing(rng)),
        "company": (set(), lambda: loc("en_US", "de_DE", "fr_FR").company()),
        "job": (set(), lambda: fake["en_US"].job()),
        "updated_at": (set(), lambda: fake["en_US"].date_time_between("-1y").isoformat(sep=" ", timespec="seconds")),
        "score": (set(), lambda: rng.random()),
        "color": (set(), lambda: fake["en_US"].safe_color_name()),
        "uuid": (set(), lambda: fake["en_US"].uuid4()),
        "isbn": (set(), lambda: fake["en_US"].isbn13()),
        "msisdn_hash": (set(), lambda: fake["en_US"].sha1()),
        "comment": (set(), lambda: fake["en_US"].sentence(nb_words=10)),
    }
    columns = {name: [make() for _ in range(ROWS)] for name, (_, make) in spec.items()}
    return columns, {name: truth for name, (truth, _) in spec.items()}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, set[str]], dict[str, list[Any]]]:
    columns, truth = _table()
    path = write_parquet(tmp_path_factory.mktemp("pii") / "people.parquet", columns)
    return path, truth, columns


def test_column_level_precision_and_recall_per_entity(generated: tuple[Path, dict[str, set[str]], dict[str, list[Any]]]) -> None:
    path, truth, _ = generated
    got = predicted(analyze(path))
    entities = set().union(*truth.values(), *got.values())
    report = {}
    for entity in sorted(entities):
        tp = sum(entity in truth[c] and entity in got.get(c, set()) for c in truth)
        fp = sum(entity not in truth[c] and entity in got.get(c, set()) for c in truth)
        fn = sum(entity in truth[c] and entity not in got.get(c, set()) for c in truth)
        report[entity] = (tp / (tp + fp) if tp + fp else 1.0, tp / (tp + fn) if tp + fn else 1.0)
    wrong = {c: (sorted(truth[c]), sorted(got.get(c, set()))) for c in truth if truth[c] != got.get(c, set())}
    assert all(p == 1.0 and r == 1.0 for p, r in report.values()), (report, wrong)


def test_decoy_columns_are_not_flagged(generated: tuple[Path, dict[str, set[str]], dict[str, list[Any]]]) -> None:
    path, truth, _ = generated
    findings = analyze(path)
    flagged = {f.location.field for f in findings}
    assert not flagged & {c for c, t in truth.items() if not t}


def test_findings_follow_the_contract(generated: tuple[Path, dict[str, set[str]], dict[str, list[Any]]]) -> None:
    path, _, _ = generated
    findings = analyze(path)
    pairs = [(f.location.field, f.entity) for f in findings]
    assert len(pairs) == len(set(pairs)), "one finding per (column, entity)"
    for finding in findings:
        assert finding.entity in ENTITIES
        assert finding.count is not None and 0 < finding.count <= ROWS
        assert finding.confidence is not None and 0 < finding.confidence < 1
        assert finding.extra["action"] in ("remove", "anonymize", "pseudonymize", "encrypt", "filter")
        assert finding.remediation and finding.evidence
    by_pair = {(f.location.field, f.entity): f for f in findings}
    assert by_pair[("tax_ref", "US_SSN")].severity.value == "high"
    assert by_pair[("correo", "EMAIL_ADDRESS")].severity.value == "medium"
    assert by_pair[("cc", "CREDIT_CARD")].count == ROWS
    assert by_pair[("ville", "LOCATION")].severity.value == "low"  # a city is less than a street address


def test_evidence_is_redacted(generated: tuple[Path, dict[str, set[str]], dict[str, list[Any]]]) -> None:
    path, truth, columns = generated
    document = json.dumps([f.to_dict() for f in analyze(path)], ensure_ascii=False)
    for name, values in columns.items():
        if truth[name]:
            leaked = [value for value in values if isinstance(value, str) and len(value) >= 4 and value in document]
            assert not leaked, (name, leaked[:3])
    assert shape("Maria García 42") == "Xxxxx Xxxx*x ##"


def test_csv_and_parquet_give_the_same_columns(
    generated: tuple[Path, dict[str, set[str]], dict[str, list[Any]]], tmp_path: Path
) -> None:
    path, _, _ = generated
    import duckdb

    csv_path = tmp_path / "people.csv"
    with duckdb.connect() as con:
        con.execute(f"COPY (SELECT * FROM read_parquet('{path}')) TO '{csv_path}' (FORMAT csv, HEADER)")
    assert predicted(analyze(csv_path, "csv")) == predicted(analyze(path))


# --- free text, mixed columns, credentials, special categories ---------------------------------------------


def test_free_text_counts_are_exact(tmp_path: Path) -> None:
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(3)
    notes, expected = [], {"EMAIL_ADDRESS": 0, "US_SSN": 0, "PHONE_NUMBER": 0, "MEDICAL_CONDITION": 0}
    for i in range(3000):
        parts = [fake.sentence(nb_words=8)]
        if i % 3 == 0:
            parts.append(f"Contact {fake.email()}.")
            expected["EMAIL_ADDRESS"] += 1
        if i % 5 == 0:
            parts.append(f"SSN {fake.ssn()} on file.")
            expected["US_SSN"] += 1
        if i % 7 == 0:
            parts.append(f"Call (415) 555-{i % 10000:04d}.")
            expected["PHONE_NUMBER"] += 1
        if i % 4 == 0:
            parts.append("History of hypertension.")
            expected["MEDICAL_CONDITION"] += 1
        notes.append(" ".join(parts))
    notes[2999] = notes[2999] + " Rare contact: only.once@example.org"  # also i % 3 == 0 → already counted? no: 2999 % 3 == 2
    expected["EMAIL_ADDRESS"] += 1
    findings = analyze(write_parquet(tmp_path / "notes.parquet", {"clinical_note": notes}))
    counts = {f.entity: f.count for f in findings if f.category is Category.PII}
    assert {e: counts.get(e) for e in expected} == expected
    assert all(f.extra["free_text"] for f in findings)


def test_rare_entity_outside_the_sample_is_confirmed_and_counted(tmp_path: Path) -> None:
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(5)
    notes = [fake.sentence(nb_words=9) for _ in range(20_000)]
    notes[12_345] += " Wallet 3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy."
    notes[17_001] += " Card 4111-1111-1111-1112 declined."  # fails Luhn: the pattern counts it, Python rejects it
    findings = analyze(write_parquet(tmp_path / "notes.parquet", {"remarks": notes}))
    assert [(f.entity, f.count) for f in findings] == [("CRYPTO", 1)]


def test_mixed_contact_column_reports_both_entities(tmp_path: Path) -> None:
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(8)
    values = [fake.email() if i % 2 else fake.phone_number() for i in range(1000)]
    findings = analyze(write_parquet(tmp_path / "contacts.parquet", {"contact": values}))
    assert {f.entity: f.count for f in findings} == {"EMAIL_ADDRESS": 500, "PHONE_NUMBER": 500}


def test_credentials_in_cells_use_the_secret_rules(tmp_path: Path) -> None:
    rng = random.Random(9)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    keys = ["AKIA" + "".join(rng.choice(alphabet) for _ in range(16)) for _ in range(3)]
    comments = [f"deploy step {i} finished" for i in range(1000)]
    for index, key in zip((10, 500, 900), keys, strict=True):
        comments[index] = f"export AWS_ACCESS_KEY_ID={key}"
    comments[20] = "aws example key AKIAIOSFODNN7EXAMPLE"  # a placeholder: not a credential
    passwords = ["".join(rng.choice(alphabet + "abc!@#") for _ in range(12)) for _ in range(1000)]
    findings = analyze(write_parquet(tmp_path / "ops.parquet", {"comment": comments, "password": passwords}))
    by_field = {f.location.field: f for f in findings}
    assert by_field["comment"].category is Category.SECRET and by_field["comment"].count == 3
    assert by_field["comment"].rule_id == "data.secret.aws-access-key-id"
    assert by_field["password"].entity == "CREDENTIAL" and by_field["password"].count == 1000
    text = json.dumps([f.to_dict() for f in findings])
    assert not any(key in text for key in keys) and not any(p in text for p in passwords[:50])


def test_special_categories_by_header_and_vocabulary(tmp_path: Path) -> None:
    rng = random.Random(4)
    n = 800
    columns = {
        "religion": [
            rng.choice(["Catholic", "Muslim", "Jewish", "Hindu", "Buddhist", "Atheist", "prefer not to say"]) for _ in range(n)
        ],
        "ethnic_group": [
            rng.choice(["White", "Black or African American", "Asian", "Hispanic or Latino", "Other"]) for _ in range(n)
        ],
        "sexual_orientation": [rng.choice(["heterosexual", "gay", "lesbian", "bisexual"]) for _ in range(n)],
        "union_member": [rng.choice(["yes", "no"]) for _ in range(n)],
        "icd10": [rng.choice(["E11.9", "I10", "J45.909", "F32.A", "C50.911"]) for _ in range(n)],
        "Diagnose": [rng.choice(["Diabetes", "Bluthochdruck", "Asthma", "Depression"]) for _ in range(n)],
        "genotype": [f"rs{rng.randrange(10**5, 10**8)}" for _ in range(n)],
        "party": [rng.choice(["Democrat", "Republican", "Independent", "Libertarian", "Green"]) for _ in range(n)],
        # decoys: colours include "white" and "black", a yes/no flag without a union header
        "colour": [rng.choice(["white", "black", "red", "blue", "green", "orange"]) for _ in range(n)],
        "is_active": [rng.choice(["yes", "no"]) for _ in range(n)],
    }
    got = predicted(analyze(write_parquet(tmp_path / "special.parquet", columns)))
    assert got == {
        "religion": {"NRP"},
        "ethnic_group": {"NRP"},
        "sexual_orientation": {"SEXUAL_ORIENTATION"},
        "union_member": {"TRADE_UNION"},
        "icd10": {"MEDICAL_CONDITION"},
        "Diagnose": {"MEDICAL_CONDITION"},
        "genotype": {"GENETIC_DATA"},
        "party": {"NRP"},
    }


def test_offensive_text_is_a_data_quality_finding(tmp_path: Path) -> None:
    reviews = [f"Great product number {i}, would buy again." for i in range(600)]
    reviews[5] = "This is bullshit, total waste of money."
    reviews[300] = "What the fuck is this thing, awful."
    findings = analyze(write_parquet(tmp_path / "reviews.parquet", {"review": reviews}))
    assert [(f.category, f.entity, f.count, f.rule_id) for f in findings] == [
        (Category.DATA_QUALITY, "OFFENSIVE_CONTENT", 2, "data.content.offensive")
    ]


# --- odd inputs ----------------------------------------------------------------------------------------------


def test_odd_datasets_give_no_error(tmp_path: Path) -> None:
    header_only = tmp_path / "header.csv"
    header_only.write_text("name,email\n")
    assert analyze(header_only, "csv") == []
    one_column = tmp_path / "one.csv"
    one_column.write_text("email\n" + "".join(f"user{i}@example.com\n" for i in range(50)))
    assert [(f.entity, f.count) for f in analyze(one_column, "csv")] == [("EMAIL_ADDRESS", 50)]
    wide = tmp_path / "wide.csv"
    names = [f"c{i}" for i in range(10_000)]
    wide.write_text(",".join(names) + "\n" + "\n".join(",".join(str(r * i % 97) for i in range(10_000)) for r in range(3)) + "\n")
    assert analyze(wide, "csv") == []
    nulls = write_parquet(tmp_path / "nulls.parquet", {"email": pa.array([None] * 100, type=pa.string())})
    assert analyze(nulls) == []


def test_unreadable_file_is_a_scan_error(tmp_path: Path) -> None:
    binary = tmp_path / "binary.csv"
    binary.write_bytes(bytes(range(256)) * 64)
    with pytest.raises(ScanError):
        analyze(binary, "csv")


# --- through the real command ------------------------------------------------------------------------------


def _data_scanner_registered() -> bool:
    from bastion.scanners.registry import entry_points

    return any(ep.name == "data" for ep in entry_points("bastion.scanners"))


@pytest.mark.skipif(not _data_scanner_registered(), reason="the data scanner is not registered as an entry point yet")
def test_cli_scan_json_reports_pii_per_column(
    generated: tuple[Path, dict[str, set[str]], dict[str, list[Any]]], scan_json: Callable[..., tuple[int, dict[str, Any]]]
) -> None:
    path, truth, _ = generated
    status, document = scan_json(str(path))
    pii = [f for f in document["findings"] if f["category"] == "pii"]
    got: dict[str, set[str]] = {}
    for finding in pii:
        got.setdefault(finding["location"]["field"], set()).add(finding["entity"])
    assert got == {c: t for c, t in truth.items() if t}
    assert status == 1  # high-severity identifiers are in it
