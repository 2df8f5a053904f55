"""Monitoring schedules: registered, fired by their cron expression under a controlled clock, checking the window of
captured traffic that ends at each firing, alerting a real receiver, and recorded in a real audit log."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bastion.monitor import MonitorError
from bastion.monitor.schedule import Schedule, add_schedule, list_schedules, new_registry, run_due
from tests.monitor.tables import people, write_parquet
from tests.monitor.test_alerts import SECRET, Receiver

UTC = dt.UTC
DAY = dt.datetime(2026, 11, 22, tzinfo=UTC)


def capture_hour(root: Path, hour: dt.datetime, table: pa.Table, *, accuracy: float = 1.0, seed: int = 0) -> None:
    """``table``'s rows captured in ``hour`` (as serving writes them, predictions all "1"), with feedback labels of which
    ``accuracy`` agree with the predictions."""
    rng = np.random.default_rng(seed)
    rows = table.num_rows
    moments = [hour + dt.timedelta(seconds=float(s)) for s in np.sort(rng.uniform(0, 3500, rows))]
    requests = [str(uuid.uuid4()) for _ in range(rows)]
    meta = {
        "request_id": pa.array(requests),
        "time": pa.array(moments, pa.timestamp("us", tz="UTC")),
        "model": pa.array(["churn"] * rows),
        "version": pa.array([3] * rows, pa.int64()),
        "variant": pa.array(["main"] * rows),
    }
    captured = pa.table({**meta, **{name: table.column(name) for name in table.column_names}})
    captured = captured.append_column("prediction", pa.array(["1"] * rows)).append_column("score", pa.array([0.8] * rows))
    labels = np.where(rng.random(rows) < accuracy, "1", "0")
    feedback = pa.table(
        {
            "request_id": pa.array(requests),
            "time": pa.array([m + dt.timedelta(seconds=30) for m in moments], pa.timestamp("us", tz="UTC")),
            "label": pa.array(labels.tolist()),
            "reward": pa.array([None] * rows, pa.float64()),
        }
    )
    for kind, written in (("capture", captured), ("feedback", feedback)):
        directory = root / kind / "churn" / f"{hour:%Y/%m/%d/%H}"
        directory.mkdir(parents=True, exist_ok=True)
        pq.write_table(written, directory / f"{uuid.uuid4().hex}.parquet")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An instance made by `bastion init`, so that runs are recorded in a real audit log."""
    home = tmp_path_factory.mktemp("instance") / "home"
    subprocess.run(
        [sys.executable, "-m", "bastion", "init", "--format", "json"],
        env={**os.environ, "BASTION_HOME": str(home)},
        capture_output=True,
        check=True,
        timeout=120,
    )
    return home


@pytest.fixture
def instance(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("BASTION_HOME", str(home))
    monkeypatch.delenv("BASTION_AUDIT_URL", raising=False)
    yield home


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from bastion.monitor import sketch_table, write_baseline

    directory = tmp_path_factory.mktemp("baseline")
    reference = write_parquet(people(5000, seed=1).drop_columns(["churned"]), directory / "reference.parquet")
    write_baseline(sketch_table(str(reference), workers=1), directory / "baseline")
    return directory / "baseline"


def audited(home: Path, action: str) -> list[dict[str, object]]:
    from bastion.audit import open_log

    return [entry.to_dict() for entry in open_log().entries() if entry.action == action]


def test_a_schedule_fires_on_its_cron_expression(
    instance: Path, baseline: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    capture = tmp_path / "served"
    capture_hour(capture, DAY.replace(hour=9), people(800, seed=3).drop_columns(["churned"]), accuracy=0.97)
    capture_hour(capture, DAY.replace(hour=10), people(800, seed=4, age_shift=20).drop_columns(["churned"]), accuracy=0.5)
    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps({"accuracy": 0.97}))
    receiver = Receiver()
    monkeypatch.setenv("BASTION_WEBHOOK_SECRET", SECRET.decode())
    try:
        add_schedule(
            Schedule(
                name="churn-hourly",
                cron="0 * * * *",
                model="churn",
                capture=str(capture),
                baseline=str(baseline),
                window="1h",
                quality_baseline=str(metrics),
                alerts=(f"slack+{receiver.url}/hook",),
                allow_networks=("127.0.0.1/32",),
            ),
            now=DAY.replace(hour=8, minute=30),
        )
        registry, gauges = new_registry()

        assert run_due(DAY.replace(hour=8, minute=59), gauges=gauges) == []  # 09:00 has not come
        (first,) = run_due(DAY.replace(hour=10, minute=0, second=30), gauges=gauges)  # 09:00 missed; runs 10:00 only
        assert run_due(DAY.replace(hour=10, minute=40), gauges=gauges) == []  # already ran for 10:00
        (second,) = run_due(DAY.replace(hour=11, minute=5), gauges=gauges)
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()

    assert (first.start, first.end, first.rows, first.error) == (DAY.replace(hour=9), DAY.replace(hour=10), 800, None)
    assert first.findings == () and first.deliveries == ()
    assert (second.start, second.end, second.rows) == (DAY.replace(hour=10), DAY.replace(hour=11), 800)
    rules = {finding.rule_id for finding in second.findings}
    assert {"monitor.baseline-drift-check", "monitor.column-drift", "monitor.model-quality-check"} <= rules
    drifted = {f.location.field for f in second.findings if f.rule_id == "monitor.column-drift"}
    assert "age" in drifted and {f.category.value for f in second.findings} == {"drift"}
    output = Path(second.output or "")
    assert {p.name for p in output.iterdir()} == {"constraint_violations.json", "drift.json", "quality.json", "findings.sarif"}
    assert json.loads((output / "findings.sarif").read_text())["runs"][0]["results"]
    assert [(d.status, d.error) for d in second.deliveries] == [(200, None)]
    ((path, body),) = receiver.received
    assert path == "/hook" and body["text"].startswith("bastion monitor churn-hourly: churn drifted:")
    from prometheus_client import generate_latest

    assert 'bastion_drift_column_drifted{column="age",model="churn"} 1.0' in generate_latest(registry).decode()
    (saved,) = [s for s in list_schedules() if s.name == "churn-hourly"]
    assert saved.last_run == DAY.replace(hour=11).isoformat()
    runs = [entry for entry in audited(instance, "monitor.schedule.run") if entry["target"] == "churn-hourly"]
    assert [(entry["outcome"], entry["details"]["end"]) for entry in runs] == [  # type: ignore[index]
        ("ok", DAY.replace(hour=10).isoformat()),
        ("fail", DAY.replace(hour=11).isoformat()),
    ]


def test_every_fifteen_minutes_on_weekdays(instance: Path, baseline: Path, tmp_path: Path) -> None:
    monday = dt.datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # a Monday
    add_schedule(
        Schedule(
            name="quarterly", cron="*/15 * * * 1-5", model="churn", capture=str(tmp_path), baseline=str(baseline), window="15m"
        ),
        now=monday - dt.timedelta(days=2),  # registered on the Saturday
    )

    assert run_due(monday - dt.timedelta(days=1), names=["quarterly"]) == []  # Sunday: never fires
    (run,) = run_due(monday + dt.timedelta(minutes=20), names=["quarterly"])

    assert (run.start, run.end, run.rows, run.findings, run.error) == (
        monday,
        monday + dt.timedelta(minutes=15),
        0,
        (),
        None,
    )


def test_a_window_that_cannot_be_read_is_an_audited_error(instance: Path, baseline: Path, tmp_path: Path) -> None:
    hour = DAY.replace(hour=14)
    broken = tmp_path / "capture" / "churn" / f"{hour:%Y/%m/%d/%H}"
    broken.mkdir(parents=True)
    (broken / "torn.parquet").write_bytes(b"PAR1 not really")
    add_schedule(
        Schedule(name="broken", cron="0 * * * *", model="churn", capture=str(tmp_path), baseline=str(baseline)), now=hour
    )

    (run,) = run_due(hour + dt.timedelta(hours=1), names=["broken"])

    assert run.error is not None and "torn.parquet: cannot read the capture file" in run.error
    (entry,) = [e for e in audited(instance, "monitor.schedule.run") if e["target"] == "broken"]
    assert entry["outcome"] == "error"


def test_bad_schedules_are_refused(instance: Path, baseline: Path, tmp_path: Path) -> None:
    good = Schedule(name="ok", cron="0 * * * *", model="churn", capture=str(tmp_path), baseline=str(baseline))
    cases = [
        (Schedule(**{**good.__dict__, "cron": "61 * * * *"}), "not a five-field cron expression"),
        (Schedule(**{**good.__dict__, "name": "../escape"}), "use letters, digits"),
        (Schedule(**{**good.__dict__, "window": "an hour"}), "give a positive whole number"),
        (Schedule(**{**good.__dict__, "alerts": ("ftp://example.org",)}), "give an http:// or https:// URL"),
        (Schedule(**{**good.__dict__, "baseline": str(tmp_path / "none")}), "no such file or directory"),
        (Schedule(**{**good.__dict__, "facets": ("sex",)}), "COLUMN=VALUE"),
    ]
    for schedule, message in cases:
        with pytest.raises(MonitorError, match=message):
            add_schedule(schedule)


def test_the_commands_register_and_run_schedules(home: Path, baseline: Path, tmp_path: Path) -> None:
    env = {**os.environ, "BASTION_HOME": str(home)}
    now = dt.datetime.now(UTC)
    capture_hour(tmp_path, now.replace(minute=0, second=0, microsecond=0), people(50, seed=4).drop_columns(["churned"]))
    capture_hour(
        tmp_path,
        now.replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=1),
        people(50, seed=5).drop_columns(["churned"]),
    )

    def bastion(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "bastion", *args], capture_output=True, text=True, env=env, timeout=300)

    refused = bastion("monitor", "schedule", "cli", "--cron", "every hour", "--model", "churn", "--capture", str(tmp_path),
                      "--baseline", str(baseline))  # fmt: skip
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1 and "not a five-field cron expression" in refused.stderr
    added = bastion("monitor", "schedule", "cli", "--cron", "* * * * *", "--model", "churn", "--capture", str(tmp_path),
                    "--baseline", str(baseline), "--window", "2h", "--alert",
                    "telegram+https://api.telegram.org/bot1:SECRET/sendMessage#chat_id=5", "--format", "json")  # fmt: skip
    assert added.returncode == 0, added.stderr
    document = json.loads(added.stdout)
    assert (document["cron"], document["window"], document["alerts"]) == ("* * * * *", "2h", ["https://api.telegram.org/…"])
    assert "SECRET" not in added.stdout
    schedule_file = home / "monitor" / "schedules" / "cli.json"
    assert oct(schedule_file.stat().st_mode & 0o777) == "0o600"
    saved = json.loads(schedule_file.read_text())
    saved["created"] = (now - dt.timedelta(minutes=5)).isoformat()  # registered a while ago: due now
    saved["alerts"] = []  # no network in tests
    schedule_file.write_text(json.dumps(saved))

    ran = bastion(
        "monitor", "run-schedules", "--once", "--schedule", "cli", "--format", "json", "--textfile", str(tmp_path / "m.prom")
    )

    (line,) = ran.stdout.splitlines()
    run = json.loads(line)
    assert ran.returncode == (1 if run["findings"] else 0), ran.stderr
    assert run["schedule"] == "cli" and run["rows"] >= 50 and run["error"] is None and run["output"]
    assert "bastion_drift_share" in (tmp_path / "m.prom").read_text()
