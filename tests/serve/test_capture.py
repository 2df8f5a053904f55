"""The capture sink: anonymized before writing (the data scanner finds no PII in its files, though it finds it in the
same records captured raw), hourly partitions in the contracted layout and types (read back with monitoring's
reader), sampling within binomial bounds, and feedback filed under the captured request's model."""

from __future__ import annotations

import datetime as dt
import math
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bastion.core import BastionError
from bastion.ml.schema import InputField, ModelSchema
from bastion.privacy import parse_anon_policy
from bastion.serve import capture as capture_module
from bastion.serve.capture import ParquetCapture, default_root, open_capture
from bastion.store.keys import LocalKeyring, init_keyring

FIRST_NAMES = ["James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth"]
LAST_NAMES = ["Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Wilson", "Taylor"]
POLICY = """
version: 1
key: default
columns:
  name: drop
  email: {action: pseudonymize, prefix: "u_"}
  phone: {action: mask, keep_last: 0}
  ssn: drop
  age: {action: generalize, width: 10}
  notes: {action: redact}
"""


def customers(count: int) -> list[dict[str, object]]:
    rows = []
    for i in range(count):
        first, last = FIRST_NAMES[i % 10], LAST_NAMES[(i * 3) % 10]
        rows.append(
            {
                "name": f"{first} {last}",
                "email": f"{first.lower()}.{last.lower()}{i}@example.com",
                "phone": f"+1-202-555-{1000 + i:04d}",
                "ssn": f"{100 + i:03d}-{10 + i % 80:02d}-{1000 + i:04d}",
                "age": 20 + i % 60,
                "tenure": i / 10,
                "notes": f"Called {first} {last} back at {first.lower()}.{last.lower()}{i}@example.com",
            }
        )
    return rows


@pytest.fixture
def keys(tmp_path: Path) -> LocalKeyring:
    path = tmp_path / "keyring.json"
    init_keyring(path)
    return LocalKeyring(path)


def pii_findings(paths: list[str]) -> list[object]:
    from bastion.scanners import scan_paths
    from bastion.scanners.data import DataScanner

    report = scan_paths(paths, scanners=[DataScanner()], jobs=1)
    assert not report.incomplete
    return [finding for finding in report.findings if finding.category.value == "pii"]


def capture_rows(sink: ParquetCapture, rows: list[dict[str, object]], model: str = "crm") -> None:
    for i, row in enumerate(rows):
        sink.record(request_id=f"req-{i}", model=model, version=1, variant="stable", rows=[row], predictions=["1"], scores=[0.75])


def test_capture_files_hold_no_raw_pii(tmp_path: Path, keys: LocalKeyring) -> None:
    rows = customers(80)
    raw = ParquetCapture(tmp_path / "raw", seed=0)
    capture_rows(raw, rows)
    raw.close()
    raw_files = sorted(str(p) for p in (tmp_path / "raw").rglob("*.parquet"))
    assert {finding.entity for finding in pii_findings(raw_files)} >= {"EMAIL_ADDRESS", "PHONE_NUMBER"}  # type: ignore[attr-defined]

    sink = ParquetCapture(tmp_path / "safe", policy=parse_anon_policy(POLICY), keys=keys, seed=0)
    capture_rows(sink, rows)
    sink.close()
    files = sorted(str(p) for p in (tmp_path / "safe").rglob("*.parquet"))
    assert files and pii_findings(files) == []
    table = pq.read_table(files[0])
    assert "name" not in table.column_names and "ssn" not in table.column_names
    assert all(value.startswith("u_") and "@" not in value for value in table.column("email").to_pylist())
    assert set(table.column("age").to_pylist()) <= {f"[{d}, {d + 10})" for d in range(20, 80, 10)}
    assert all("<EMAIL_ADDRESS>" in note and "@" not in note for note in table.column("notes").to_pylist())
    content = b"".join(Path(f).read_bytes() for f in files)
    for row in rows[:10]:
        for column in ("name", "email", "ssn"):
            assert str(row[column]).encode() not in content


def test_hourly_partitions_in_the_contracted_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bastion.monitor.capture import read_window

    schema = ModelSchema(
        inputs=(InputField("age", "integer", 40), InputField("income", "number", 50_000.0)),
        target="churn",
        classes=("0", "1"),
        positive_label="1",
        model_file="model.skops",
    )
    sink = ParquetCapture(tmp_path, schemas={"churn": schema}, seed=0)
    times = iter(
        [
            dt.datetime(2026, 11, 22, 10, 59, 59, tzinfo=dt.UTC),
            dt.datetime(2026, 11, 22, 11, 0, 1, tzinfo=dt.UTC),
            dt.datetime(2026, 11, 22, 11, 30, tzinfo=dt.UTC),
        ]
    )
    monkeypatch.setattr(capture_module, "_now", lambda: next(times))
    sink.record(
        request_id="a",
        model="churn",
        version=3,
        variant="canary",
        rows=[{"age": 41, "income": 52_000.5}, {"age": 30, "income": 10.0}],
        predictions=["1", "0"],
        scores=[0.9, None],
    )
    sink.record(
        request_id="b",
        model="churn",
        version=2,
        variant="stable",
        rows=[{"age": 50, "income": 1.0}],
        predictions=["0"],
        scores=[0.1],
    )
    sink.feedback(request_id="a", label="1", reward=1.0)
    sink.feedback(request_id="never-captured", label="0", reward=None)
    sink.close()

    hours = sorted(p.relative_to(tmp_path).parent.as_posix() for p in tmp_path.rglob("*.parquet"))
    assert hours == ["capture/churn/2026/11/22/10", "capture/churn/2026/11/22/11", "feedback/churn/2026/11/22/11"]
    (first,) = (tmp_path / "capture/churn/2026/11/22/10").glob("*.parquet")
    assert pq.read_schema(first) == pa.schema(
        [
            ("request_id", pa.string()),
            ("time", pa.timestamp("us", tz="UTC")),
            ("model", pa.string()),
            ("version", pa.int64()),
            ("variant", pa.string()),
            ("age", pa.int64()),
            ("income", pa.float64()),
            ("prediction", pa.string()),
            ("score", pa.float64()),
        ]
    )
    start, end = dt.datetime(2026, 11, 22, 10, tzinfo=dt.UTC), dt.datetime(2026, 11, 22, 12, tzinfo=dt.UTC)
    captured = read_window(str(tmp_path / "capture"), "churn", start, end).sort_by("time")
    assert captured.column("request_id").to_pylist() == ["a", "a", "b"]
    assert captured.column("score").to_pylist() == [0.9, None, 0.1]
    assert captured.column("variant").to_pylist() == ["canary", "canary", "stable"]
    feedback = read_window(str(tmp_path / "feedback"), "churn", start, end, kind="feedback")
    assert feedback.select(["request_id", "label", "reward"]).to_pylist() == [{"request_id": "a", "label": "1", "reward": 1.0}]


def test_sampling_is_within_binomial_bounds(tmp_path: Path) -> None:
    requests, fraction = 2_000, 0.1
    sink = ParquetCapture(tmp_path, sample=fraction, seed=11)
    capture_rows(sink, [{"x": i} for i in range(requests)])
    sink.close()
    captured = sum(pq.read_metadata(p).num_rows for p in tmp_path.rglob("*.parquet"))
    assert abs(captured - requests * fraction) <= 4 * math.sqrt(requests * fraction * (1 - fraction))
    assert 0 < captured < requests


def test_a_full_buffer_is_flushed_by_the_writer_thread_and_close_flushes_the_rest(tmp_path: Path) -> None:
    sink = ParquetCapture(tmp_path, flush_rows=10, flush_seconds=3600, seed=0)
    capture_rows(sink, [{"x": i} for i in range(25)])
    deadline = time.monotonic() + 120  # a bound on waiting for the writer, not a speed requirement
    while not list(tmp_path.rglob("*.parquet")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(tmp_path.rglob("*.parquet")), "the writer thread never flushed a full buffer"
    sink.close()
    assert sum(pq.read_metadata(p).num_rows for p in tmp_path.rglob("*.parquet")) == 25


def test_capture_goes_to_the_store_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BASTION_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("BASTION_STORE_URL", raising=False)
    assert default_root() == str(tmp_path / "home" / "store")
    monkeypatch.setenv("BASTION_STORE_URL", "s3://bucket/bastion")
    assert default_root() == "s3://bucket/bastion"


def test_serve_options_need_a_policy_to_capture(tmp_path: Path) -> None:
    assert open_capture(0.0, None) is None
    with pytest.raises(BastionError, match="--capture-policy"):
        open_capture(0.1, None)
    policy = tmp_path / "anon.yaml"
    policy.write_text("version: 1\ncolumns:\n  name: drop\n  ssn: drop\n")
    sink = open_capture(1.0, policy, root=str(tmp_path / "store"))
    assert sink is not None
    capture_rows(sink, customers(3))
    sink.close()
    (written,) = (tmp_path / "store").rglob("*.parquet")
    assert {"name", "ssn"}.isdisjoint(pq.read_schema(written).names) and "email" in pq.read_schema(written).names


def test_policies_that_encrypt_and_bad_sample_rates_are_refused(tmp_path: Path) -> None:
    with pytest.raises(BastionError, match="encrypts"):
        ParquetCapture(tmp_path, policy=parse_anon_policy("version: 1\ncolumns:\n  email: encrypt\n"))
    with pytest.raises(BastionError, match="capture-sample"):
        ParquetCapture(tmp_path, sample=1.5)
