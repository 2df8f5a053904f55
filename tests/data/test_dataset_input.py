"""The dataset layer on real and bad input: dialects, encodings, rejected rows, JSON Lines, Parquet, fsspec URLs,
the locked-down connection, bounded memory; and the issue's bad files through the real CLI."""

from __future__ import annotations

import codecs
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bastion.core import Finding
from bastion.scanners.data.dataset import Dataset
from bastion.scanners.interface import ScanError
from tests.conftest import RunBastion


def open_dataset(path: Path, fmt: str = "csv", **options: Any) -> Dataset:
    return Dataset(str(path), path.name, fmt, **options)


def rows_of(path: Path, fmt: str = "csv") -> list[tuple[Any, ...]]:
    with open_dataset(path, fmt) as dataset:
        return [tuple(row) for row in dataset.query("SELECT * FROM data").fetchall()]


def by_rule(findings: list[Finding]) -> dict[str, Finding]:
    return {finding.rule_id: finding for finding in findings}


# -- CSV dialects ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("delimiter", "fmt"), [(",", "csv"), (";", "csv"), ("|", "csv"), ("\t", "tsv")])
def test_delimiters_are_sniffed_and_quoted_newlines_kept(tmp_path: Path, delimiter: str, fmt: str) -> None:
    d = delimiter
    text = f'id{d}note{d}price\n1{d}"two\nlines"{d}2.5\n2{d}"has {d} inside"{d}3.0\n3{d}plain{d}4.25\n'
    path = tmp_path / f"table.{fmt}"
    path.write_text(text)
    with open_dataset(path, fmt) as dataset:
        assert [(c.name, c.type) for c in dataset.columns] == [("id", "BIGINT"), ("note", "VARCHAR"), ("price", "DOUBLE")]
        assert dataset.query("SELECT * FROM data").fetchall() == [
            (1, "two\nlines", 2.5),
            (2, f"has {d} inside", 3.0),
            (3, "plain", 4.25),
        ]
        assert dataset.read_problems() == []


def test_rows_are_numbered_in_file_order(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("x\n" + "".join(f"{i * 7 % 10}\n" for i in range(10)))
    with open_dataset(path) as dataset:
        rows = dataset.query(f'SELECT "{dataset.row_column}", x FROM numbered').fetchall()
    assert rows == [(i, i * 7 % 10) for i in range(10)]


def test_a_column_named_like_the_row_index_keeps_its_name(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("__row,v\n5,a\n6,b\n")
    with open_dataset(path) as dataset:
        assert dataset.row_column != "__row"
        assert dataset.query(f'SELECT "{dataset.row_column}", "__row" FROM numbered').fetchall() == [(0, 5), (1, 6)]


# -- encodings ------------------------------------------------------------------------------------

PEOPLE = "name,city,price\nJosé,Zürich,5€\nRenée “Zoë”,Köln,7€\n"


@pytest.mark.parametrize(
    ("encoded", "encoding"),
    [
        (PEOPLE.encode("utf-8"), "utf-8"),
        (codecs.BOM_UTF8 + PEOPLE.encode("utf-8"), "utf-8-sig"),
        (PEOPLE.encode("utf-16"), "utf-16"),
        (codecs.BOM_UTF16_BE + PEOPLE.encode("utf-16-be"), "utf-16"),
        (PEOPLE.encode("utf-32"), "utf-32"),
        (PEOPLE.encode("cp1252"), "cp1252"),
    ],
    ids=["utf-8", "utf-8-bom", "utf-16-le", "utf-16-be", "utf-32", "cp1252"],
)
def test_encodings_are_decided_by_trying(tmp_path: Path, encoded: bytes, encoding: str) -> None:
    path = tmp_path / "people.csv"
    path.write_bytes(encoded)
    with open_dataset(path) as dataset:
        assert dataset.encoding == encoding
        assert [c.name for c in dataset.columns] == ["name", "city", "price"]
        assert dataset.query("SELECT * FROM data").fetchall() == [("José", "Zürich", "5€"), ("Renée “Zoë”", "Köln", "7€")]
        assert dataset.read_problems() == []


def test_latin1_bytes_cp1252_leaves_undefined_still_read(tmp_path: Path) -> None:
    path = tmp_path / "odd.csv"
    path.write_bytes(b"a,b\nx\x81y,1\n\xe9t\xe9,2\n")  # 0x81 is undefined in cp1252
    assert rows_of(path) == [("x\x81y", 1), ("été", 2)]


def test_mixed_encodings_keep_every_row_and_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    path.write_bytes(
        "name,city\nJosé,Zürich\n".encode()
        + "Renée,Köln\n".encode("cp1252")
        + "Ana,Łódź\n".encode()
        + "Zoë,Besançon\n".encode("cp1252")
    )
    with open_dataset(path) as dataset:
        assert dataset.encoding == "mixed"
        assert dataset.query("SELECT * FROM data").fetchall() == [
            ("José", "Zürich"),
            ("Renée", "Köln"),
            ("Ana", "Łódź"),
            ("Zoë", "Besançon"),
        ]
        (finding,) = dataset.read_problems()
    assert finding.rule_id == "data.integrity.mixed-encodings"
    assert (finding.location.line, finding.count) == (3, 2)


def test_invalid_utf8_past_the_head_is_reported_not_silently_dropped(tmp_path: Path) -> None:
    path = tmp_path / "late.csv"
    with path.open("wb") as handle:
        handle.write(b"id,text\n")
        for i in range(60_000):  # more than the 1 MiB head that decides the encoding
            handle.write(f"{i},plain ascii text {i}\n".encode())
        handle.write("60000,Köln\n".encode("cp1252"))
        handle.write(b"60001,end\n")
    with open_dataset(path) as dataset:
        assert dataset.encoding == "utf-8"
        assert dataset.row_count == 60_001
        (finding,) = dataset.read_problems()
    assert finding.rule_id == "data.integrity.mixed-encodings"
    assert (finding.location.line, finding.count) == (60_002, 1)


# -- rows the reader rejects ----------------------------------------------------------------------


def test_ragged_rows_are_findings_with_their_lines(tmp_path: Path) -> None:
    path = tmp_path / "ragged.csv"
    path.write_text('a,b,c\n1,"x\ny",2.5\n2,y\n3,z,1.0,extra\n4,w,0.5\n5,v\n')
    with open_dataset(path) as dataset:
        assert dataset.row_count == 2
        findings = by_rule(dataset.read_problems())
        assert dataset.source_rows([0, 1]) == [0, 3]
    missing, extra = findings["data.integrity.missing-columns"], findings["data.integrity.too-many-columns"]
    # Line 4 of the file (the quoted newline makes row 1 two lines), data row 1, at byte 19.
    assert (missing.location.line, missing.location.row, missing.location.offset) == (4, 1, 19)
    assert (missing.count, missing.evidence) == (2, "9,x")  # the shape of the line, never its content
    assert (extra.location.line, extra.location.row, extra.count) == (5, 2, 1)


def test_rows_in_findings_are_the_files_data_rows(tmp_path: Path) -> None:
    from bastion.scanners.data.integrity import evaluate_rules, parse_rules
    from bastion.scanners.data.quality import QualityAnalysis
    from bastion.scanners.interface import ScanOptions

    path = tmp_path / "shifted.csv"
    lines = ["id,amount"] + [f"{i},{10 + i % 50}" for i in range(200)]
    lines[3] = "2,11,oops"  # data row 2: rejected, so view rows from there on are one less than data rows
    lines[11] = "10,-5"  # data row 10
    path.write_text("\n".join(lines) + "\n")
    with open_dataset(path) as dataset:
        quality = by_rule(QualityAnalysis().analyze(dataset, ScanOptions()))
        (rule,) = evaluate_rules(dataset, parse_rules("- name: positive\n  rule: amount > 0\n"))
    assert quality["data.quality.negative-values"].location.row == 10
    assert (rule.location.row, rule.extra["rows"]) == (10, [10])


def test_a_value_breaking_the_sniffed_type_is_a_type_violation(tmp_path: Path) -> None:
    path = tmp_path / "late_text.csv"
    lines = ["id,amount"] + [f"{i},{i * 2}" for i in range(30_000)] + ["30000,oops"] + [f"{i},{i}" for i in range(30_001, 30_010)]
    path.write_text("\n".join(lines) + "\n")
    with open_dataset(path) as dataset:
        assert dataset.column("amount").type == "BIGINT"  # decided by the sniffer's sample
        (finding,) = dataset.read_problems()
    assert finding.rule_id == "data.quality.type-violation"
    assert (finding.location.field, finding.location.line, finding.count) == ("amount", 30_002, 1)


def test_a_rejected_row_is_gone_whatever_columns_a_query_reads(tmp_path: Path) -> None:
    path = tmp_path / "late_text.csv"
    lines = ["a,b"] + [f"{i},{i}" for i in range(30_000)] + ["30000,oops"] + [f"{i},{i}" for i in range(30_001, 30_005)]
    path.write_text("\n".join(lines) + "\n")
    with open_dataset(path) as dataset:
        counts = [dataset.scalar(f"SELECT count({what}) FROM data") for what in ("*", "a", "b")]
        last = [dataset.query(f'SELECT max("{dataset.row_column}"), max({c}) FROM numbered').fetchall() for c in ("a", "b")]
    assert counts == [30_004, 30_004, 30_004]
    assert last == [[(30_003, 30_004)], [(30_003, 30_004)]]


def test_a_quote_that_never_closes_is_reported_with_what_it_swallowed(tmp_path: Path) -> None:
    path = tmp_path / "quote.csv"
    with path.open("w") as handle:
        handle.write("id,text,n\n")
        for i in range(25_000):  # quoted fields in the sniffer's sample: the quote character is '"'
            handle.write(f'{i},"hello, {i}",{i}\n')
        handle.write('25000,"this quote never ends,5\n')
        for i in range(25_001, 30_000):
            handle.write(f"{i},plain {i},{i}\n")
    with open_dataset(path) as dataset:
        (finding,) = dataset.read_problems()
        assert dataset.row_count == 25_000
    assert finding.rule_id == "data.integrity.unquoted-value"
    assert finding.location.line == 25_002
    assert "the file has 30001 lines, of which 25000 were read as rows" in finding.message
    assert finding.evidence == '99999,"xxxx xxxxx xxxxx xxxx,9'


# -- JSON Lines, Parquet --------------------------------------------------------------------------


def test_json_lines_with_a_bom_malformed_lines_and_nested_values(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    lines = [
        '{"id": 1, "tags": ["a"], "user": {"age": 30}}',
        '{"id": 2, "tags": [], "user": {"age": 41}}',
        '{"id": 3, "tags"',
        "not json",
    ]
    path.write_bytes(codecs.BOM_UTF8 + ("\n".join([*lines, '{"id": 5, "tags": ["b"], "user": null}']) + "\n").encode())
    with open_dataset(path, "jsonl") as dataset:
        assert dataset.encoding == "utf-8-sig"
        assert [c.name for c in dataset.columns] == ["id", "tags", "user"]
        assert (dataset.column("tags").type, dataset.column("user").type) == ("VARCHAR[]", "STRUCT(age BIGINT)")
        assert dataset.query("SELECT id FROM data").fetchall() == [(1,), (2,), (None,), (None,), (5,)]
        (finding,) = dataset.read_problems()
    assert finding.rule_id == "data.integrity.malformed-json"
    assert (finding.location.row, finding.count) == (2, 2)


def test_parquet_of_every_kind_of_column_is_profiled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import datetime as dt
    import decimal

    import pyarrow as pa
    import pyarrow.parquet as pq

    from bastion.scanners.data import profile as profile_module
    from bastion.scanners.data.profile import DatasetProfile, profile_dataset
    from bastion.scanners.data.quality import QualityAnalysis
    from bastion.scanners.interface import ScanOptions

    n = 600
    utc = dt.UTC
    table = pa.table(
        {
            "price": pa.array([decimal.Decimal(i) / 100 for i in range(n)], pa.decimal128(10, 2)),
            "at": pa.array(
                [dt.datetime(2024, 1, 1, tzinfo=utc) + dt.timedelta(hours=i) for i in range(n)], pa.timestamp("us", tz="UTC")
            ),
            "day": pa.array([dt.date(2024, 1, 1) + dt.timedelta(days=i % 40) for i in range(n)]),
            "blob": pa.array([bytes([i % 256]) for i in range(n)]),
            "tags": pa.array([[i, i + 1] for i in range(n)]),
            "user": pa.array([{"age": i % 90} for i in range(n)]),
            "ratio": pa.array([i / 3 for i in range(n)], pa.float32()),
            "small": pa.array([i % 200 for i in range(n)], pa.uint8()),
            "huge": pa.array([i * 10**15 for i in range(n)], pa.int64()),
            "kind": pa.array(["a", "b", "c"] * (n // 3)).dictionary_encode(),
        }
    )
    path = tmp_path / "kinds.parquet"
    pq.write_table(table, path)
    with open_dataset(path, "parquet") as dataset:
        profile = {c.name: c for c in profile_dataset(dataset).columns}
        QualityAnalysis().analyze(dataset, ScanOptions())
        monkeypatch.setattr(profile_module, "UNPIVOT_COLUMNS", 1)  # pass 1 per column type over unpivoted rows
        assert profile_dataset(dataset).to_dict() == DatasetProfile(path.name, "parquet", n, list(profile.values())).to_dict()
    assert (profile["at"].min, profile["at"].inferred_type) == ("2024-01-01 00:00:00+00", "String")
    assert profile["day"].distinct_exact and profile["day"].distinct == 40
    assert [profile[name].inferred_type for name in ("blob", "tags", "user")] == ["Unknown"] * 3
    assert profile["huge"].max == 599 * 10**15 and sum(b.count for b in profile["huge"].histogram) == n
    assert profile["kind"].top == [("a", 200), ("b", 200), ("c", 200)]


def test_parquet_is_read_as_it_is(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"x": [1, 2, None], "s": ["a", None, "c"]}), path)
    with open_dataset(path, "parquet") as dataset:
        assert dataset.encoding == "binary"
        assert dataset.query("SELECT * FROM numbered").fetchall() == [(0, 1, "a"), (1, 2, None), (2, None, "c")]
        assert dataset.read_problems() == []


# -- fsspec URLs ----------------------------------------------------------------------------------


@pytest.fixture
def memory_files() -> Iterator[Any]:
    import fsspec

    filesystem = fsspec.filesystem("memory")
    yield filesystem
    filesystem.rm("/bastion-tests", recursive=True)


def test_memory_urls_are_read_through_fsspec(memory_files: Any) -> None:
    with memory_files.open("/bastion-tests/t.csv", "wb") as handle:
        handle.write(b"a,b\n1,x\n2,y\n")
    with memory_files.open("/bastion-tests/l.csv", "wb") as handle:
        handle.write("a,b\n1,José\n".encode("cp1252"))
    with memory_files.open("/bastion-tests/other.csv", "wb") as handle:
        handle.write(b"secret\n42\n")
    with Dataset("memory://bastion-tests/t.csv", "t.csv", "csv") as dataset:
        assert dataset.query("SELECT * FROM data").fetchall() == [(1, "x"), (2, "y")]
        with pytest.raises(ScanError, match="disabled by configuration"):
            dataset.query("SELECT * FROM read_csv('memory://bastion-tests/other.csv')")
    with Dataset("memory://bastion-tests/l.csv", "l.csv", "csv") as dataset:
        assert (dataset.encoding, dataset.query("SELECT b FROM data").fetchall()) == ("cp1252", [("José",)])


def test_file_urls_are_local_paths(tmp_path: Path) -> None:
    path = tmp_path / "my data.csv"
    path.write_text("a\n1\n2\n")
    with Dataset(path.as_uri(), "my data.csv", "csv") as dataset:
        assert dataset.row_count == 2


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("memory://bastion-tests/missing.csv", "no such file"),
        ("nosuchprotocol://bucket/x.csv", "Protocol not known"),
    ],
)
def test_unreadable_sources_are_one_line_scan_errors(source: str, message: str) -> None:
    with pytest.raises(ScanError, match=message) as caught:
        Dataset(source, source, "csv")
    assert "\n" not in str(caught.value)


def test_empty_and_binary_content_are_scan_errors_not_tracebacks(tmp_path: Path) -> None:
    empty, binary = tmp_path / "empty.csv", tmp_path / "binary.csv"
    empty.write_bytes(b"")
    binary.write_bytes(bytes(range(256)) * 4)
    for path in (empty, binary):
        try:
            with open_dataset(path) as dataset:
                dataset.read_problems()
        except ScanError as exc:
            assert "\n" not in str(exc)


# -- the locked-down connection -------------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_text('/etc/hostname')",
        "SELECT * FROM glob('/*')",
        "COPY (SELECT 1) TO '{tmp}/leak.csv'",
        "COPY data TO '{tmp}/leak.parquet'",
        "ATTACH '{tmp}/other.duckdb' AS other",
        "INSTALL httpfs",
        "LOAD httpfs",
        "SET enable_external_access = true",
        "SET allowed_directories = ['/']",
        "RESET lock_configuration",
    ],
)
def test_the_connection_reads_the_dataset_and_nothing_else(tmp_path: Path, statement: str) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a\n1\n")
    with open_dataset(path) as dataset:
        with pytest.raises(ScanError):
            dataset.query(statement.format(tmp=tmp_path)).fetchall()
        assert dataset.query("SELECT a FROM data").fetchall() == [(1,)]  # the view still reads
    assert not list(tmp_path.glob("leak*")) and not (tmp_path / "other.duckdb").exists()


def test_the_work_directory_is_removed_on_close(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes("a\nJosé\n".encode("cp1252"))  # transcoded into the work directory
    dataset = open_dataset(path)
    workdir = Path(dataset._workdir)
    assert (workdir / "utf8.csv").exists()
    dataset.close()
    dataset.close()
    assert not workdir.exists()


# -- bounded memory -------------------------------------------------------------------------------

_MEMORY_PROBE = textwrap.dedent(
    """
    import json, resource, sys
    from bastion.scanners.data.dataset import Dataset
    from bastion.scanners.data.integrity import evaluate_rules, parse_rules
    from bastion.scanners.data.quality import QualityAnalysis
    from bastion.scanners.interface import ScanOptions

    path, small, limit = sys.argv[1:4]
    with Dataset(small, "small.csv", "csv", memory_limit=limit) as dataset:  # imports and first allocations
        QualityAnalysis().analyze(dataset, ScanOptions())
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with Dataset(path, "big.csv", "csv", memory_limit=limit) as dataset:
        problems = dataset.read_problems()
        findings = QualityAnalysis().analyze(dataset, ScanOptions())
        findings += evaluate_rules(dataset, parse_rules("- name: ok\\n  rule: amount >= 0\\n"))
        rows = dataset.row_count
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    print(json.dumps({"rows": rows, "grown_kib": grown, "rules": sorted(f.rule_id for f in problems + findings)}))
    """
)


@pytest.mark.slow
def test_memory_stays_bounded_on_a_file_far_larger_than_the_limit(tmp_path: Path) -> None:
    import duckdb

    big, small = tmp_path / "big.csv", tmp_path / "small.csv"
    rows = 4_500_000
    with duckdb.connect() as connection:
        connection.execute(
            f"COPY (SELECT i AS id, (i * 7919) % 100003 AS amount, 'customer ' || (i % 5003) AS name, md5(i::VARCHAR) AS token, "
            f"CASE WHEN i = 17 THEN -5 ELSE i % 97 END AS quantity FROM range({rows}) t(i)) TO '{big}'"
        )
    small.write_text("id,amount\n1,2\n2,3\n")
    result = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE, str(big), str(small), "128MB"], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr
    probe = json.loads(result.stdout)
    size, limit = big.stat().st_size, 128 * 1024 * 1024
    assert size > 2 * limit
    assert probe["rows"] == rows
    assert "data.quality.negative-values" in probe["rules"]
    # DuckDB keeps to its limit and spills; the rest is Arrow batches and sketches of bounded size.
    grown = probe["grown_kib"] * 1024
    assert grown < limit + 96 * 1024 * 1024 < size, f"memory grew by {grown >> 20} MiB on a {size >> 20} MiB file"


# -- the bad input through the real CLI ---------------------------------------------------


def _scanned(report: dict[str, Any]) -> dict[str, Any]:
    (artifact,) = report["scanned"]
    return artifact


def _data_findings(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["rule_id"]: f for f in report["findings"] if f["category"] in ("data-quality", "data-integrity")}


def test_cli_empty_file(tmp_path: Path, scan_json: Any) -> None:
    (tmp_path / "empty.csv").write_bytes(b"")
    status, report = scan_json(str(tmp_path / "empty.csv"))
    assert status == 0
    assert _scanned(report) | {"sha256": None} == {
        "path": str(tmp_path / "empty.csv"),
        "kind": "unknown",
        "format": "empty",
        "sha256": None,
        "bytes": 0,
        "status": "complete",
        "error": None,
    }
    finding = _data_findings(report)["data.input.empty"]
    assert (finding["severity"], finding["message"]) == ("low", "empty file: no header and no rows to check")


def test_cli_binary_file_named_csv_never_reaches_the_dataset_reader(tmp_path: Path, scan_json: Any) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes(os.urandom(4096) + b"\x00")
    status, report = scan_json(str(path))
    artifact = _scanned(report)
    assert status == 2
    assert (artifact["kind"], artifact["format"], artifact["status"]) == ("unknown", "binary", "partial")
    assert artifact["error"].startswith("data: named as a dataset, but the content is binary")
    assert _data_findings(report)["data.input.not-a-table"]["severity"] == "medium"


def test_cli_header_only_and_one_column(tmp_path: Path, scan_json: Any, run_bastion: RunBastion) -> None:
    header, single = tmp_path / "header.csv", tmp_path / "single.csv"
    header.write_text("id,name,amount\n")
    single.write_text("email\n" + "".join(f"user{i}@example.com\n" for i in range(20)))
    for path in (header, single):
        _, report = scan_json(str(path))
        assert _scanned(report)["status"] == "complete"
    # `bastion profile` reads what its name says when the content is plain text.
    result = run_bastion("profile", str(header), "--format", "json")
    assert result.returncode == 0, result.stderr
    profile = json.loads(result.stdout)
    assert (profile["rows"], [c["name"] for c in profile["columns"]]) == (0, ["id", "name", "amount"])
    result = run_bastion("profile", str(single), "--format", "json")
    assert result.returncode == 0, result.stderr
    (column,) = json.loads(result.stdout)["columns"]
    assert (column["name"], column["distinct"], column["missing"]) == ("email", 20, 0)


def test_cli_mixed_encodings(tmp_path: Path, scan_json: Any) -> None:
    path = tmp_path / "mixed.csv"
    path.write_bytes("id,city\n1,Zürich\n".encode() + "2,Köln\n".encode("cp1252") + b"3,Paris\n")
    _, report = scan_json(str(path))
    assert _scanned(report)["status"] == "complete"
    finding = _data_findings(report)["data.integrity.mixed-encodings"]
    assert (finding["location"]["line"], finding["count"], finding["severity"]) == (3, 1, "low")


def test_cli_quoted_field_spanning_the_whole_file(tmp_path: Path, scan_json: Any, run_bastion: RunBastion) -> None:
    early, late = tmp_path / "early.csv", tmp_path / "late.csv"
    # From the second line on, one quoted value: the table's name sends it to the reader, which reads
    # the unclosed quote as a literal character, so every line stays a row and nothing is swallowed.
    early.write_text('id,text\n1,"a quote that never closes\n' + "".join(f"{i},row {i}\n" for i in range(2, 5000)))
    _, report = scan_json(str(early))
    assert (_scanned(report)["kind"], _scanned(report)["status"]) == ("dataset", "complete")
    profile = run_bastion("profile", str(early), "--format", "json")
    assert json.loads(profile.stdout)["rows"] == 4999
    # Past detection's and the sniffer's samples, the reader meets it: one finding says what it swallowed.
    with late.open("w") as handle:
        handle.write("id,text,n\n")
        handle.writelines(f'{i},"hello, {i}",{i}\n' for i in range(25_000))
        handle.write('25000,"this quote never ends,5\n')
        handle.writelines(f"{i},plain {i},{i}\n" for i in range(25_001, 30_000))
    _, report = scan_json(str(late))
    assert (_scanned(report)["kind"], _scanned(report)["status"]) == ("dataset", "complete")
    finding = _data_findings(report)["data.integrity.unquoted-value"]
    assert (finding["location"]["line"], finding["severity"]) == (25_002, "medium")
    assert "the file has 30001 lines, of which 25000 were read as rows" in finding["message"]


def _wide_csv(path: Path, columns: int, rows: int) -> None:
    with path.open("w") as handle:
        handle.write(",".join(f"c{i}" for i in range(columns)) + "\n")
        for r in range(rows):
            handle.write(",".join(str((r * i) % 7) for i in range(columns)) + "\n")


@pytest.mark.slow
def test_cli_ten_thousand_columns(tmp_path: Path, scan_json: Any, run_bastion: RunBastion) -> None:
    path = tmp_path / "wide.csv"
    _wide_csv(path, 10_000, 20)
    _, report = scan_json(str(path))
    assert _scanned(report)["status"] == "complete"  # its 59 KB header line is longer than detection's sample: text
    result = run_bastion("profile", str(path), "--format", "json", "--constraints", str(tmp_path / "constraints.json"))
    assert result.returncode == 0, result.stderr
    profile = json.loads(result.stdout)
    assert (profile["rows"], len(profile["columns"])) == (20, 10_000)
    assert profile["columns"][3]["distinct"] == 7
    assert len(json.loads((tmp_path / "constraints.json").read_text())["features"]) == 10_000


@pytest.mark.slow
def test_quality_checks_of_ten_thousand_columns_are_bounded(tmp_path: Path) -> None:
    from bastion.scanners.data.quality import COLUMN_FINDINGS_LIMIT, QualityAnalysis
    from bastion.scanners.interface import ScanOptions

    path = tmp_path / "wide.csv"
    _wide_csv(path, 10_000, 20)
    with open_dataset(path) as dataset:
        assert dataset.read_problems() == []
        findings = QualityAnalysis().analyze(dataset, ScanOptions())
    constant = [f for f in findings if f.rule_id == "data.quality.constant-column"]
    assert len(constant) == COLUMN_FINDINGS_LIMIT + 1  # every 7th column is all zeros: 1,429 of them
    summary = constant[-1]
    assert summary.location.field is None and summary.count == 1429 - COLUMN_FINDINGS_LIMIT
    assert by_rule(findings)["data.quality.duplicate-rows"].count == 13  # rows r and r + 7 agree on every column
