"""Reading a time window of captured traffic and feedback from hourly Parquet partitions (the serving contract)."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bastion.monitor import MonitorError, read_window

UTC = dt.UTC


def _flush(root: Path, model: str, moments: list[dt.datetime], kind: str) -> None:
    """One file per flush, in the hour partition of its first record, as serving writes them."""
    hour = moments[0]
    directory = root / model / f"{hour:%Y/%m/%d/%H}"
    directory.mkdir(parents=True, exist_ok=True)
    columns: dict[str, pa.Array] = {
        "request_id": pa.array([str(uuid.uuid4()) for _ in moments]),
        "time": pa.array(moments, pa.timestamp("us", tz="UTC")),
    }
    if kind == "capture":
        columns |= {
            "model": pa.array([model] * len(moments)),
            "version": pa.array([1] * len(moments), pa.int64()),
            "variant": pa.array(["main"] * len(moments)),
            "age": pa.array(list(range(len(moments))), pa.int64()),
            "prediction": pa.array(["1"] * len(moments)),
            "score": pa.array([0.9] * len(moments)),
        }
    else:
        columns |= {"label": pa.array(["1"] * len(moments)), "reward": pa.array([None] * len(moments), pa.float64())}
    pq.write_table(pa.table(columns), directory / f"{uuid.uuid4()}.parquet")


def test_a_window_keeps_the_records_inside_it(tmp_path: Path) -> None:
    start = dt.datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
    for hour in range(4):
        moments = [start + dt.timedelta(hours=hour, minutes=minute) for minute in (10, 40)]
        _flush(tmp_path / "capture", "churn", moments, "capture")
        _flush(tmp_path / "capture", "churn", [moments[0] + dt.timedelta(minutes=5)], "capture")  # a second flush
    _flush(tmp_path / "capture", "other", [start], "capture")
    table = read_window(
        str(tmp_path / "capture"), "churn", start + dt.timedelta(minutes=30), start + dt.timedelta(hours=2, minutes=15)
    )
    times = sorted(table.column("time").to_pylist())
    assert times == [
        start + dt.timedelta(minutes=40),
        start + dt.timedelta(hours=1, minutes=10),
        start + dt.timedelta(hours=1, minutes=15),
        start + dt.timedelta(hours=1, minutes=40),
        start + dt.timedelta(hours=2, minutes=10),
    ]
    assert set(table.column_names) >= {"request_id", "model", "version", "variant", "age", "prediction", "score"}


def test_feedback_windows_and_empty_windows(tmp_path: Path) -> None:
    start = dt.datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
    _flush(tmp_path / "feedback", "churn", [start + dt.timedelta(minutes=1)], "feedback")
    feedback = read_window(str(tmp_path / "feedback"), "churn", start, start + dt.timedelta(hours=1), kind="feedback")
    assert feedback.num_rows == 1 and "label" in feedback.column_names
    empty = read_window(
        str(tmp_path / "feedback"), "churn", start + dt.timedelta(days=1), start + dt.timedelta(days=2), kind="feedback"
    )
    assert empty.num_rows == 0


def test_a_window_needs_a_time_zone_and_a_known_kind(tmp_path: Path) -> None:
    with pytest.raises(MonitorError, match="time zone"):
        read_window(str(tmp_path), "churn", dt.datetime(2026, 1, 1), dt.datetime(2026, 1, 2))
    with pytest.raises(MonitorError, match="capture or feedback"):
        read_window(str(tmp_path), "churn", dt.datetime(2026, 1, 1, tzinfo=UTC), dt.datetime(2026, 1, 2, tzinfo=UTC), kind="logs")
