"""The capture contract end to end: what serving's writer (bastion.serve.capture) flushes, the monitor's reader
reads back by window, from a local directory and from an fsspec URL; and the window helpers."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bastion.monitor import MonitorError
from bastion.monitor.capture import model_inputs, parse_duration, read_window
from bastion.serve.capture import ParquetCapture


def test_what_serving_writes_the_monitor_reads(tmp_path: Path) -> None:
    writer = ParquetCapture(tmp_path, flush_seconds=3600)
    try:
        for i in range(3):
            writer.record(
                request_id=f"req-{i}",
                model="churn",
                version=2,
                variant="canary" if i == 2 else "main",
                rows=[{"age": 30 + i, "income": 1000.5 * i}],
                predictions=["1" if i else "0"],
                scores=[0.9 if i else 0.2],
            )
        writer.feedback(request_id="req-1", label="1", reward=None)
        written = writer.flush()
    finally:
        writer.close()
    now = dt.datetime.now(dt.UTC)
    start, end = now - dt.timedelta(hours=2), now + dt.timedelta(minutes=1)

    captured = read_window(str(tmp_path / "capture"), "churn", start, end)
    feedback = read_window(str(tmp_path / "feedback"), "churn", start, end, kind="feedback")

    assert len(written) == 2
    assert captured.column_names == ["request_id", "time", "model", "version", "variant", "age", "income", "prediction", "score"]
    assert sorted(captured.column("request_id").to_pylist()) == ["req-0", "req-1", "req-2"]
    assert captured.schema.field("time").type == pa.timestamp("us", tz="UTC")
    assert feedback.to_pydict() | {"time": None} == {"request_id": ["req-1"], "time": None, "label": ["1"], "reward": [None]}
    assert model_inputs(captured).column_names == ["age", "income"]
    assert read_window(str(tmp_path / "capture"), "churn", end, end + dt.timedelta(hours=1)).num_rows == 0


def test_a_window_opens_only_the_hours_it_overlaps(tmp_path: Path) -> None:
    hour = dt.datetime(2026, 11, 22, 10, tzinfo=dt.UTC)
    outside = tmp_path / "churn" / f"{hour - dt.timedelta(hours=1):%Y/%m/%d/%H}"
    outside.mkdir(parents=True)
    (outside / "damaged.parquet").write_bytes(b"not parquet")  # in an hour the window does not touch: never opened
    inside = tmp_path / "churn" / f"{hour:%Y/%m/%d/%H}"
    inside.mkdir(parents=True)
    table = pa.table(
        {"request_id": ["a", "b"], "time": pa.array([hour, hour + dt.timedelta(minutes=59)], pa.timestamp("us", tz="UTC"))}
    )
    pq.write_table(table, inside / f"{uuid.uuid4().hex}.parquet")

    window = read_window(str(tmp_path), "churn", hour + dt.timedelta(minutes=1), hour + dt.timedelta(hours=1))

    assert window.column("request_id").to_pylist() == ["b"]
    with pytest.raises(MonitorError, match=r"damaged\.parquet: cannot read the capture file"):
        read_window(str(tmp_path), "churn", hour - dt.timedelta(minutes=1), hour + dt.timedelta(minutes=1))


def test_an_fsspec_url_and_other_time_zones(tmp_path: Path) -> None:
    hour = dt.datetime(2026, 11, 22, 23, tzinfo=dt.UTC)
    filesystem = fsspec.filesystem("memory")
    root = f"memory://capture-{uuid.uuid4().hex}"
    table = pa.table({"request_id": ["late"], "time": pa.array([hour + dt.timedelta(minutes=30)], pa.timestamp("us", tz="UTC"))})
    with filesystem.open(f"{root}/churn/{hour:%Y/%m/%d/%H}/{uuid.uuid4().hex}.parquet", "wb") as handle:
        pq.write_table(table, handle)
    moscow = dt.timezone(dt.timedelta(hours=3))

    window = read_window(root, "churn", dt.datetime(2026, 11, 23, 2, tzinfo=moscow), dt.datetime(2026, 11, 23, 3, tzinfo=moscow))

    assert window.column("request_id").to_pylist() == ["late"]


def test_durations_and_model_names() -> None:
    assert [parse_duration(text) for text in ("90s", "15m", "1h", "7d")] == [
        dt.timedelta(seconds=90),
        dt.timedelta(minutes=15),
        dt.timedelta(hours=1),
        dt.timedelta(days=7),
    ]
    for bad in ("0h", "1.5h", "h", "1w", ""):
        with pytest.raises(MonitorError, match="give a positive whole number with s, m, h or d"):
            parse_duration(bad, what="--window")
    with pytest.raises(MonitorError, match="is not a model name"):
        read_window("/tmp", "../etc", dt.datetime(2026, 1, 1, tzinfo=dt.UTC), dt.datetime(2026, 1, 2, tzinfo=dt.UTC))
