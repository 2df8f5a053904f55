"""The anonymizer end to end on generated files: formats, stable pseudonyms, k-anonymity, encryption, atomicity, errors."""

from __future__ import annotations

import importlib
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from bastion.privacy import AnonymizeError, anonymize, data_key_path, decrypt_values, parse_anon_policy, read_data_key
from bastion.privacy.transforms import Encryptor
from bastion.store.keys import KeyProviderError, LocalKeyring, init_keyring
from tests.conftest import RunBastion
from tests.privacy.conftest import digest, people, read_table, write_table

Table = Callable[..., Path]

POLICY = """\
quasi_identifiers: [zip, age, sex]
columns:
  ssn: drop
  name: {action: pseudonymize, prefix: "pt_"}
  email: pseudonymize
  card: {action: mask, keep_last: 4}
  age: {action: generalize, width: 10, top: 90}
  birth_date: {action: generalize, date: year}
  zip: {action: generalize, zip: 1}
  income: {action: generalize, edges: [0, 50000, 100000]}
  diagnosis: encrypt
"""


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".parquet", ".jsonl"])
def test_every_transform_on_each_format(suffix: str, table: Table, home: Path, keyring: LocalKeyring, tmp_path: Path) -> None:
    source = table("people" + suffix)
    before = digest(source)
    output = tmp_path / ("out" + suffix)
    report = anonymize(source, output, parse_anon_policy(POLICY))

    assert digest(source) == before, "the input is never modified"
    assert (report.written, report.rows, report.format) == (True, 300, suffix.lstrip(".").replace("tab", "tsv"))
    assert [(c.column, c.action) for c in report.columns][:4] == [
        ("id", "keep"),
        ("name", "pseudonymize"),
        ("email", "pseudonymize"),
        ("ssn", "drop"),
    ]
    original, anonymized = people(300), read_table(output)
    assert len(anonymized) == 300
    assert "ssn" not in anonymized[0]
    data_key = read_data_key(data_key_path(output), keyring)
    for was, now in zip(original, anonymized, strict=True):
        assert str(now["id"]) == str(was["id"]), "kept columns are unchanged and rows keep their order"
        assert now["name"].startswith("pt_") and len(now["name"]) == 19 and was["name"] not in now["name"]
        assert len(now["email"]) == 16
        assert now["card"] == "*" * (len(str(was["card"])) - 4) + str(was["card"])[-4:]
        assert now["age"] == ("90+" if was["age"] >= 90 else f"[{was['age'] // 10 * 10}, {was['age'] // 10 * 10 + 10})")
        assert now["birth_date"] == was["birth_date"][:4]
        assert now["zip"] == was["zip"][0] + "****"
        assert now["income"] in ("[0, 50000)", "[50000, 100000)", "100000+")
        assert decrypt_values([now["diagnosis"]], data_key) == [was["diagnosis"]]
        assert now["notes"] == was["notes"] and now["sex"] == was["sex"]


def test_output_keeps_the_inputs_csv_dialect(table: Table, home: Path, tmp_path: Path) -> None:
    source = tmp_path / "semi.csv"
    source.write_text('zip;name;note\n02134;"Roe; Jane";"a ""quoted"" note"\n10001;Doe;\n', encoding="utf-8")
    output = tmp_path / "out.csv"
    anonymize(source, output, parse_anon_policy("columns:\n  name: drop\n"))
    assert output.read_text(encoding="utf-8").splitlines() == ["zip;note", '02134;"a ""quoted"" note"', "10001;"]


def test_pseudonyms_are_stable_across_runs_and_files_so_joins_still_work(table: Table, home: Path, tmp_path: Path) -> None:
    policy = parse_anon_policy("columns:\n  email: pseudonymize\n")
    csv_out, parquet_out, again = tmp_path / "a.csv", tmp_path / "b.parquet", tmp_path / "c.csv"
    anonymize(table("people.csv"), csv_out, policy)
    anonymize(table("people.csv"), again, policy)
    # Another file holding some of the same people, in another format and order.
    visits = [{"email": row["email"], "visit": i} for i, row in enumerate(reversed(people(300)[100:200]))]
    anonymize(write_table(visits, tmp_path / "data" / "visits.parquet"), parquet_out, policy)

    assert csv_out.read_bytes() == again.read_bytes()
    by_token = {row["email"]: row["id"] for row in read_table(csv_out)}
    joined = {by_token[row["email"]] for row in read_table(parquet_out)}
    assert joined == {str(i) for i in range(100, 200)}


def test_pseudonyms_differ_under_another_key(table: Table, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = table("people.csv")
    anonymize(source, tmp_path / "a.csv", parse_anon_policy("columns:\n  email: pseudonymize\n"))
    init_keyring(home / "keys" / "keyring.json", "other")
    anonymize(source, tmp_path / "b.csv", parse_anon_policy("key: other\ncolumns:\n  email: pseudonymize\n"))
    monkeypatch.setenv("BASTION_HOME", str(tmp_path / "elsewhere"))
    init_keyring(tmp_path / "elsewhere" / "keys" / "keyring.json")
    anonymize(source, tmp_path / "c.csv", parse_anon_policy("columns:\n  email: pseudonymize\n"))

    tokens = [{row["email"] for row in read_table(tmp_path / name)} for name in ("a.csv", "b.csv", "c.csv")]
    assert len(tokens[0]) == 300
    assert not tokens[0] & tokens[1] and not tokens[0] & tokens[2] and not tokens[1] & tokens[2]


KNOWN = [
    # (zip, age, sex): exact values single everyone out; by ZIP prefix and age decade the classes hold 2, 1 and 2 rows
    {"zip": "02134", "age": 31, "sex": "F", "x": 1},
    {"zip": "02139", "age": 38, "sex": "F", "x": 2},
    {"zip": "02111", "age": 45, "sex": "M", "x": 3},
    {"zip": "02115", "age": 55, "sex": "M", "x": 4},
    {"zip": "02118", "age": 57, "sex": "M", "x": 5},
]


def test_k_anonymity_before_and_after_on_a_known_table(home: Path, tmp_path: Path) -> None:
    source = write_table(KNOWN, tmp_path / "known.csv")
    policy = parse_anon_policy(
        "quasi_identifiers: [zip, age, sex]\nk: 2\ncolumns:\n"
        "  zip: {action: generalize, zip: 3}\n  age: {action: generalize, width: 10}\n"
    )
    report = anonymize(source, tmp_path / "out.csv", policy)
    assert report.k_before is not None and report.k_after is not None
    assert (report.k_before.k, report.k_before.classes, report.k_before.classes_below, report.k_before.rows_below) == (1, 5, 5, 5)
    assert (report.k_after.k, report.k_after.classes, report.k_after.classes_below, report.k_after.rows_below) == (1, 3, 1, 1)
    assert not report.written and not (tmp_path / "out.csv").exists(), "an output that misses k is not written"

    policy = parse_anon_policy(
        "quasi_identifiers: [zip, age, sex]\nk: 2\ncolumns:\n"
        "  zip: {action: generalize, zip: 3}\n  age: {action: generalize, edges: [40]}\n"
    )
    report = anonymize(source, tmp_path / "out.csv", policy)
    assert report.k_after is not None
    assert (report.written, report.k_after.k, report.k_after.classes, report.k_after.classes_below) == (True, 2, 2, 0)
    assert [row["age"] for row in read_table(tmp_path / "out.csv")] == ["<40", "<40", "40+", "40+", "40+"]


def test_dropping_a_quasi_identifier_leaves_it_out_of_the_after_measure(home: Path, tmp_path: Path) -> None:
    source = write_table(KNOWN, tmp_path / "known.csv")
    report = anonymize(source, tmp_path / "out.csv", parse_anon_policy("quasi_identifiers: [zip, sex]\ncolumns:\n  zip: drop\n"))
    assert report.k_after is not None
    assert (report.k_after.quasi_identifiers, report.k_after.k, report.k_after.classes) == (("sex",), 2, 2)


def test_encrypted_columns_decrypt_with_the_data_key_file(
    table: Table, home: Path, keyring: LocalKeyring, tmp_path: Path
) -> None:
    source = table("people.parquet")
    output = tmp_path / "out.parquet"
    report = anonymize(source, output, parse_anon_policy("columns:\n  diagnosis: encrypt\n  notes: encrypt\n"))
    assert report.data_key_file == str(data_key_path(output))
    document = json.loads(data_key_path(output).read_text())
    assert document["columns"] == ["diagnosis", "notes"]
    assert document["wrapped_key"]["provider"] == "local"
    key = read_data_key(data_key_path(output), keyring)
    rows = read_table(output)
    assert decrypt_values([r["notes"] for r in rows], key) == [p["notes"] for p in people(300)]

    other = tmp_path / "other-home" / "keys" / "keyring.json"
    init_keyring(other)
    with pytest.raises(AnonymizeError, match="cannot unwrap this data key"):
        read_data_key(data_key_path(output), LocalKeyring(other))


class FailingEncryptor(Encryptor):
    """Encrypts until row ``fail_at``, then raises what ``error`` makes."""

    fail_at = 25_000
    error: type[BaseException] = RuntimeError

    def __init__(self, data_key: bytes) -> None:
        super().__init__(data_key)
        self.rows = 0

    def __call__(self, values: pa.ChunkedArray | pa.Array) -> pa.Array:
        self.rows += len(values)
        if self.rows > self.fail_at:
            raise self.error(f"transform failed near row {self.fail_at}")
        return super().__call__(values)


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_a_failure_mid_write_leaves_no_output_and_no_temporary_file(
    error: type[BaseException], home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_table([{"id": i, "secret": f"value {i}", "pad": "x" * 40} for i in range(60_000)], tmp_path / "big.csv")
    before = digest(source)
    monkeypatch.setattr(FailingEncryptor, "error", error)
    # The module, not the function of the same name the package exports.
    monkeypatch.setattr(importlib.import_module("bastion.privacy.anonymize"), "Encryptor", FailingEncryptor)
    policy = parse_anon_policy("columns:\n  secret: encrypt\n")

    with pytest.raises(error, match="transform failed near row 25000"):
        anonymize(source, tmp_path / "out.csv", policy)
    assert sorted(os.listdir(tmp_path)) == ["big.csv", "home"]

    (tmp_path / "out.csv").write_text("the previous output\n")
    with pytest.raises(error):
        anonymize(source, tmp_path / "out.csv", policy)
    assert (tmp_path / "out.csv").read_text() == "the previous output\n", "a failed run leaves the old output as it was"
    assert sorted(os.listdir(tmp_path)) == ["big.csv", "home", "out.csv"]
    assert digest(source) == before


def test_an_existing_output_is_replaced_whole(table: Table, home: Path, tmp_path: Path) -> None:
    output = tmp_path / "out.csv"
    output.write_text("old\n" * 10_000)
    anonymize(table("people.csv"), output, parse_anon_policy("columns:\n  ssn: drop\n"))
    assert len(read_table(output)) == 300


@pytest.mark.parametrize(
    ("make_output", "message"),
    [
        (lambda src, tmp: src, r"is the input; write the anonymized data to another file"),
        (lambda src, tmp: src.parent / "." / src.name, r"is the input"),
        (lambda src, tmp: tmp / "missing" / "out.csv", r"missing: no such directory for the output"),
        (lambda src, tmp: tmp, r"is a directory; give a file name for -o"),
        (lambda src, tmp: tmp / "out.parquet", r"out\.parquet: the output is written as csv"),
    ],
)
def test_unusable_output_paths_are_refused(
    make_output: Callable[[Path, Path], Path], message: str, table: Table, home: Path, tmp_path: Path
) -> None:
    source = table("people.csv")
    before = digest(source)
    with pytest.raises(AnonymizeError, match=message):
        anonymize(source, make_output(source, tmp_path), parse_anon_policy("columns:\n  ssn: drop\n"))
    assert digest(source) == before


def test_a_hard_link_to_the_input_is_the_input(table: Table, home: Path, tmp_path: Path) -> None:
    source = table("people.csv")
    os.link(source, tmp_path / "alias.csv")
    with pytest.raises(AnonymizeError, match="is the input"):
        anonymize(source, tmp_path / "alias.csv", parse_anon_policy(""))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", r"not a dataset but an empty file"),
        (b"\x00\x01\x02binary\xff" * 50, r"not a dataset"),
        (b"a,b\n1,2\n3,4,5\n6,7\n", r"bad\.csv: .*not possible to automatically detect the CSV parsing dialect$"),
        (
            b"a,b\n" + b"1,2\n" * 30_000 + b"3,4,5\n",
            r"/bad\.csv: CSV Error on Line: 30002: Expected Number of Columns: 2 Found: 3$",
        ),
    ],
)
def test_unreadable_inputs_are_one_clear_error(content: bytes, message: str, home: Path, tmp_path: Path) -> None:
    source = tmp_path / "bad.csv"
    source.write_bytes(content)
    with pytest.raises(AnonymizeError, match=message):
        anonymize(source, tmp_path / "out.csv", parse_anon_policy(""))
    assert not (tmp_path / "out.csv").exists()


def test_a_one_column_csv_is_read_by_its_name(home: Path, tmp_path: Path) -> None:
    source = tmp_path / "emails.csv"
    source.write_text("email\na@example.com\nb@example.com\n")
    anonymize(source, tmp_path / "out.csv", parse_anon_policy("columns:\n  email: {action: mask, keep_last: 3}\n"))
    assert (tmp_path / "out.csv").read_text().splitlines() == ["email", "**********com", "**********com"]


def test_missing_keyring_and_key_say_how_to_make_them(table: Table, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BASTION_HOME", str(tmp_path / "nowhere"))
    source = table("people.csv")
    with pytest.raises(KeyProviderError, match=r"no keyring at .*keyring\.json; run `bastion keys init`"):
        anonymize(source, tmp_path / "out.csv", parse_anon_policy("columns:\n  email: pseudonymize\n"))
    init_keyring(tmp_path / "nowhere" / "keys" / "keyring.json")
    with pytest.raises(KeyProviderError, match=r"no key named 'team'; run `bastion keys init --name team`"):
        anonymize(source, tmp_path / "out.csv", parse_anon_policy("key: team\ncolumns:\n  diagnosis: encrypt\n"))
    assert not (tmp_path / "out.csv").exists()
    anonymize(source, tmp_path / "out.csv", parse_anon_policy("columns:\n  ssn: drop\n"))  # no key needed, none opened


def test_dropping_every_column_is_refused(home: Path, tmp_path: Path) -> None:
    source = write_table(KNOWN, tmp_path / "known.csv")
    with pytest.raises(AnonymizeError, match="drops every column"):
        anonymize(source, tmp_path / "out.csv", parse_anon_policy("default: drop\n"))


# --- the command ---------------------------------------------------------------------------------------------


def cli(run_bastion: RunBastion, tmp_path: Path, *args: str) -> Any:
    result = run_bastion("anonymize", *args, cwd=tmp_path, env={"BASTION_HOME": str(tmp_path / "home")})
    assert "Traceback" not in result.stderr, result.stderr
    return result


def test_cli_json_report_and_keys_init(run_bastion: RunBastion, tmp_path: Path) -> None:
    write_table(people(50), tmp_path / "people.csv")
    (tmp_path / "anon.yaml").write_text(POLICY)
    env = {"BASTION_HOME": str(tmp_path / "home")}
    missing = cli(run_bastion, tmp_path, "people.csv", "-o", "out.csv", "--policy", "anon.yaml")
    assert missing.returncode == 2
    assert missing.stderr.count("\n") == 1 and "run `bastion keys init`" in missing.stderr

    init = run_bastion("keys", "init", cwd=tmp_path, env=env)
    assert init.returncode == 0 and "Created keyring" in init.stdout
    result = cli(run_bastion, tmp_path, "people.csv", "-o", "out.csv", "--policy", "anon.yaml", "--format", "json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["rows"], report["written"], report["format"]) == (50, True, "csv")
    assert {c["column"]: c["action"] for c in report["columns"]}["ssn"] == "drop"
    assert report["k_before"]["quasi_identifiers"] == ["zip", "age", "sex"]
    assert report["k_after"]["k"] >= report["k_before"]["k"]
    assert report["data_key_file"] == "out.csv.datakey.json"

    table = cli(run_bastion, tmp_path, "people.csv", "-o", "out.csv", "--policy", "anon.yaml")
    assert table.returncode == 0
    assert "pseudonymize" in table.stdout and "k-anonymity after" in table.stdout and "Wrote 50 row(s)" in table.stdout


def test_cli_exits_1_when_the_k_target_is_missed(run_bastion: RunBastion, tmp_path: Path) -> None:
    write_table(KNOWN, tmp_path / "known.csv")
    (tmp_path / "anon.yaml").write_text("quasi_identifiers: [zip, age]\nk: 3\n")
    result = cli(run_bastion, tmp_path, "known.csv", "-o", "out.csv", "--policy", "anon.yaml")
    assert result.returncode == 1
    assert "Not written" in result.stdout and not (tmp_path / "out.csv").exists()


@pytest.mark.parametrize(
    ("args", "policy", "message"),
    [
        (("missing.csv", "-o", "out.csv"), "", r"^bastion: error: missing\.csv: no such file\n$"),
        (("known.csv", "-o", "known.csv"), "", r"^bastion: error: known\.csv: is the input; .*\n$"),
        (
            ("known.csv", "-o", "out.csv"),
            "columns:\n  zip: drop\n  nmae: drop\n",
            r"^bastion: error: anon\.yaml:3: columns\.nmae: no such column in known\.csv",
        ),
        (("known.csv", "-o", "out.csv"), "columns:\n  zip: {action: mask\n", r"^bastion: error: anon\.yaml:3: not valid YAML"),
        (
            ("known.csv", "-o", "out.csv", "--policy", "nope.yaml"),
            None,
            r"^bastion: error: nope\.yaml: anonymization policy not found",
        ),
    ],
)
def test_cli_errors_are_one_line_with_status_2(
    args: tuple[str, ...], policy: str | None, message: str, run_bastion: RunBastion, tmp_path: Path
) -> None:
    write_table(KNOWN, tmp_path / "known.csv")
    if policy is not None:
        (tmp_path / "anon.yaml").write_text(policy)
        args = (*args, "--policy", "anon.yaml")
    result = cli(run_bastion, tmp_path, *args)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert re.match(message, result.stderr), result.stderr
    assert not (tmp_path / "out.csv").exists()


def test_redaction_inside_free_text_with_the_entity_detector(home: Path, tmp_path: Path) -> None:
    rows = [{"id": p["id"], "note": f"Patient {p['name']} wrote from {p['email']} today."} for p in people(200)]
    source = write_table(rows, tmp_path / "notes.jsonl")
    anonymize(source, tmp_path / "out.jsonl", parse_anon_policy("columns:\n  note: redact\n"))
    notes = [row["note"] for row in read_table(tmp_path / "out.jsonl")]
    originals = people(200)
    assert all(note.endswith("<EMAIL_ADDRESS> today.") for note in notes)
    assert not any(p["email"] in note for p, note in zip(originals, notes, strict=True))
    names_left = sum(p["name"] in note for p, note in zip(originals, notes, strict=True))
    assert names_left <= 10, f"{names_left} of 200 names left in view"
