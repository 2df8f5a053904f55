"""Decrypting an anonymized output: the round trip on each format, a wrong key or altered value as one clear error
with nothing written, and ``bastion anonymize --decrypt``."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bastion.privacy import AnonymizeError, anonymize, data_key_path, decrypt, parse_anon_policy
from bastion.store.keys import LocalKeyring, init_keyring
from tests.conftest import RunBastion
from tests.privacy.conftest import digest, people, read_table, write_table

Table = Callable[..., Path]

POLICY = "columns:\n  ssn: drop\n  name: pseudonymize\n  diagnosis: encrypt\n  notes: encrypt\n  age: encrypt\n"


def as_text(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> list[dict[str, str | None]]:
    return [{c: None if row[c] is None else str(row[c]) for c in columns} for row in rows]


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".parquet", ".jsonl"])
def test_encrypted_columns_round_trip_on_each_format(suffix: str, table: Table, home: Path, tmp_path: Path) -> None:
    source = table(f"people{suffix}")
    anonymized, restored = tmp_path / f"anon{suffix}", tmp_path / f"restored{suffix}"
    anonymize(source, anonymized, parse_anon_policy(POLICY))
    before = digest(anonymized)
    report = decrypt(anonymized, restored)
    assert (report.rows, report.columns, report.data_key_file) == (
        300,
        ("age", "diagnosis", "notes"),
        str(data_key_path(anonymized)),
    )
    original, encrypted, decrypted = read_table(source), read_table(anonymized), read_table(restored)
    secret = ("diagnosis", "notes", "age")
    assert as_text(encrypted, secret) != as_text(original, secret)
    assert as_text(decrypted, secret) == as_text(original, secret)
    assert [r["name"] for r in decrypted] == [r["name"] for r in encrypted]  # other columns pass through as they are
    assert "ssn" not in decrypted[0]
    assert digest(anonymized) == before  # the input is never modified


def test_a_data_key_file_of_another_output_is_one_clear_error(table: Table, home: Path, tmp_path: Path) -> None:
    source = table("people.csv")
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    anonymize(source, first, parse_anon_policy(POLICY))
    anonymize(source, second, parse_anon_policy(POLICY))  # a fresh data key each run
    with pytest.raises(AnonymizeError) as raised:
        decrypt(first, tmp_path / "out.csv", data_key_file=data_key_path(second))
    message = str(raised.value)
    assert "\n" not in message
    assert re.match(rf"{re.escape(str(first))}: column '(age|diagnosis|notes)' does not decrypt with the data key in ", message)
    assert f"in {data_key_path(second)}: " in message
    assert not (tmp_path / "out.csv").exists() and not list(tmp_path.glob(".out.csv.*"))


def test_an_altered_value_stops_the_decryption(table: Table, home: Path, tmp_path: Path) -> None:
    anonymized = tmp_path / "anon.csv"
    anonymize(table("people.csv"), anonymized, parse_anon_policy(POLICY))
    rows = read_table(anonymized)
    token = rows[150]["notes"]
    rows[150]["notes"] = token[:-6] + ("AAAAAA" if not token.endswith("AAAAAA") else "BBBBBB")
    tampered = write_table(rows, tmp_path / "tampered.csv")
    with pytest.raises(AnonymizeError, match=r"column 'notes' does not decrypt .*altered"):
        decrypt(tampered, tmp_path / "out.csv", data_key_file=data_key_path(anonymized))
    assert not (tmp_path / "out.csv").exists()


def test_another_keyring_cannot_unwrap_the_data_key(table: Table, home: Path, tmp_path: Path) -> None:
    anonymized = tmp_path / "anon.csv"
    anonymize(table("people.csv"), anonymized, parse_anon_policy(POLICY))
    other = tmp_path / "other" / "keyring.json"
    init_keyring(other)
    with pytest.raises(AnonymizeError, match="cannot unwrap this data key"):
        decrypt(anonymized, tmp_path / "out.csv", keys=LocalKeyring(other))
    assert not (tmp_path / "out.csv").exists()


def test_a_file_without_the_listed_columns_is_refused(table: Table, home: Path, tmp_path: Path) -> None:
    anonymized = tmp_path / "anon.csv"
    anonymize(table("people.csv"), anonymized, parse_anon_policy(POLICY))
    with pytest.raises(AnonymizeError, match=r"has no column 'age', which .* says was encrypted"):
        decrypt(write_table([{"id": 1}], tmp_path / "ids.csv"), tmp_path / "out.csv", data_key_file=data_key_path(anonymized))
    with pytest.raises(AnonymizeError, match="no such data key file"):
        decrypt(table("people.csv"), tmp_path / "out.csv")


# --- the command ---------------------------------------------------------------------------------------------


def cli(run_bastion: RunBastion, tmp_path: Path, *args: str) -> Any:
    result = run_bastion("anonymize", *args, cwd=tmp_path, env={"BASTION_HOME": str(tmp_path / "home")})
    assert "Traceback" not in result.stderr, result.stderr
    return result


def test_cli_round_trip(run_bastion: RunBastion, tmp_path: Path) -> None:
    write_table(people(40), tmp_path / "people.csv")
    (tmp_path / "anon.yaml").write_text(POLICY)
    assert run_bastion("keys", "init", cwd=tmp_path, env={"BASTION_HOME": str(tmp_path / "home")}).returncode == 0
    assert cli(run_bastion, tmp_path, "people.csv", "-o", "anon.csv", "--policy", "anon.yaml").returncode == 0
    result = cli(run_bastion, tmp_path, "anon.csv", "-o", "back.csv", "--decrypt", "--format", "json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["rows"], report["columns"], report["data_key_file"]) == (
        40,
        ["age", "diagnosis", "notes"],
        "anon.csv.datakey.json",
    )
    secret = ("diagnosis", "notes", "age")
    assert as_text(read_table(tmp_path / "back.csv"), secret) == as_text(read_table(tmp_path / "people.csv"), secret)
    text = cli(run_bastion, tmp_path, "anon.csv", "-o", "back.csv", "--decrypt")
    assert text.returncode == 0 and "Decrypted age, diagnosis, notes" in text.stdout and "wrote 40 row(s)" in text.stdout


def test_cli_wrong_key_and_misused_options_are_one_line_with_status_2(run_bastion: RunBastion, tmp_path: Path) -> None:
    write_table(people(40), tmp_path / "people.csv")
    (tmp_path / "anon.yaml").write_text(POLICY)
    run_bastion("keys", "init", cwd=tmp_path, env={"BASTION_HOME": str(tmp_path / "home")})
    for name in ("a.csv", "b.csv"):
        assert cli(run_bastion, tmp_path, "people.csv", "-o", name, "--policy", "anon.yaml").returncode == 0
    shutil.copy(tmp_path / "b.csv.datakey.json", tmp_path / "a.csv.datakey.json")
    cases = [
        (
            ("a.csv", "-o", "back.csv", "--decrypt"),
            r"a\.csv: column '(age|diagnosis|notes)' does not decrypt with the data key in a\.csv\.datakey\.json",
        ),
        (("a.csv", "-o", "back.csv", "--decrypt", "--policy", "anon.yaml"), r"--decrypt takes no --policy"),
        (("a.csv", "-o", "back.csv"), r"the --policy ANON_YAML option is required"),
        (
            ("people.csv", "-o", "back.csv", "--policy", "anon.yaml", "--data-key", "a.csv.datakey.json"),
            r"--data-key goes with --decrypt",
        ),
    ]
    for args, message in cases:
        result = cli(run_bastion, tmp_path, *args)
        assert result.returncode == 2, args
        assert result.stderr.count("\n") == 1 and re.match(r"^bastion: error: " + message, result.stderr), result.stderr
        assert not (tmp_path / "back.csv").exists()
