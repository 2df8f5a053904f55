"""Scanning on a Dask cluster: the findings of ``--scheduler`` are those of the scan in one process.

A real ``distributed.LocalCluster`` (two worker processes, on 127.0.0.1) runs the scans;
datasets are split into small row partitions so that every partition path is taken: PII counts and the cells
fetched to confirm rare hits, integrity rules with their row numbers (after a row the CSV reader rejected),
duplicates, and poisoning on its own task.
"""

from __future__ import annotations

import json
import random
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bastion.core.formats import JsonFormatter
from bastion.scanners import ScanOptions, load_scanners, scan_paths
from bastion.scanners.cluster import cluster_executor
from tests.conftest import RunBastion

distributed = pytest.importorskip("distributed")

ROWS = 1600
PARTITION_ROWS = 400
RAGGED_AT = 500
RULES = """\
- name: changed
  rule: booking_changes > 0
- name: price
  rule: price >= 0 AND price < 1000
  severity: low
"""


def people_columns() -> dict[str, list[Any]]:
    """People with names, e-mails, phones, SSNs and cards; notes with e-mails, one rare wallet late in the file;
    comments holding AWS keys in several partitions; rule breakers; exact and near duplicates; outliers."""
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(21)
    rng = random.Random(21)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    columns: dict[str, list[Any]] = {
        name: [] for name in ("name", "email", "phone", "ssn", "card", "country", "booking_changes", "price", "note", "comment")
    }
    for i in range(ROWS):
        columns["name"].append(fake.name())
        columns["email"].append(fake.email())
        columns["phone"].append(fake.phone_number())
        columns["ssn"].append(fake.ssn())
        columns["card"].append(fake.credit_card_number())
        columns["country"].append(rng.choice(["PRT", "GBR", "FRA"]) if i % 797 else "prt ")
        columns["booking_changes"].append(i % 5)
        columns["price"].append(round(rng.uniform(10, 500), 2) if i % 499 else -40.0)
        note = fake.sentence(nb_words=8)
        columns["note"].append(note + (f" Contact {fake.email()}." if i % 3 == 0 else ""))
        key = "AKIA" + "".join(rng.choice(alphabet) for _ in range(16))
        columns["comment"].append(f"export AWS_ACCESS_KEY_ID={key}" if i % 400 == 7 else f"step {i} done")
    columns["note"][1550] += " Wallet 3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy."
    columns["price"][1100] = 25_000.0
    for copy, original in ((900, 40), (1300, 41), (1500, 700)):  # exact duplicates, across partitions
        for values in columns.values():
            values[copy] = values[original]
    for values in columns.values():  # a near duplicate: the same person in capitals
        values[1400] = values[300]
    columns["name"][1400] = str(columns["name"][300]).upper()
    return columns


def write_csv(path: Path, columns: dict[str, list[Any]]) -> Path:
    import csv

    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        for row in range(ROWS):
            if row == RAGGED_AT:
                handle.write("only,three,cells\n")  # rejected by the reader: later rows shift by one
            writer.writerow([values[row] for values in columns.values()])
    return path


@pytest.fixture(scope="module")
def datasets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("datasets")
    columns = people_columns()
    write_csv(root / "people.csv", columns)
    pq.write_table(pa.table(columns), root / "people.parquet", row_group_size=500)
    (root / "rules.yaml").write_text(RULES)
    return root


@pytest.fixture(scope="module")
def single_process(datasets: Path) -> dict[str, Any]:
    """The report of the scan in one process, with the integrity rules."""
    return scan_json([datasets / "people.csv", datasets / "people.parquet"], ScanOptions(rules=datasets / "rules.yaml"))


@pytest.fixture(scope="module")
def poisoned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.data.poisoning_data import credit_table, flip_labels

    table, _ = flip_labels(credit_table(n=400, seed=3), "outcome", 0.05, seed=3)
    path = tmp_path_factory.mktemp("poisoned") / "credit.csv"
    table.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=2, processes=True, host="127.0.0.1", dashboard_address="127.0.0.1:0"
    ) as local:
        yield local


def scan_json(paths: list[Path], options: ScanOptions, scheduler: str | None = None) -> dict[str, Any]:
    """The JSON report of a scan in one process, or on the cluster at ``scheduler`` (small partitions)."""
    if scheduler is None:
        report = scan_paths([str(p) for p in paths], scanners=load_scanners(), options=options, jobs=1)
    else:
        partitioned = ScanOptions(target=options.target, rules=options.rules, partition_rows=PARTITION_ROWS)
        with cluster_executor(scheduler) as executor:
            report = scan_paths([str(p) for p in paths], scanners=load_scanners(), options=partitioned, executor=executor)
    document: dict[str, Any] = json.loads(JsonFormatter().format(report))
    return document


def task_names(client: Any) -> list[str]:
    return [str(task["key"]).split("-")[0] for task in client.get_task_stream()]


def test_partitioned_findings_equal_the_single_process_scan(datasets: Path, single_process: dict[str, Any], cluster: Any) -> None:
    expected = single_process
    paths = [datasets / "people.csv", datasets / "people.parquet"]
    with distributed.Client(cluster) as client:
        client.get_task_stream()  # start recording
        found = scan_json(paths, ScanOptions(rules=datasets / "rules.yaml"), cluster.scheduler_address)
        names = task_names(client)
    assert found == expected
    assert [artifact["status"] for artifact in found["scanned"]] == ["complete"] * 2
    # Each file was its own task, and each dataset ran 4 partition tasks and one whole-file task (quality).
    assert names.count("_scan_entry_with") == 2
    assert names.count("_partials") == 2 * 4 and names.count("_analyze") == 2
    # The findings exercise every merged part: counts, confirmed rare cells, credentials, rule rows, duplicates.
    by_rule: dict[str, dict[str, Any]] = {}
    for finding in expected["findings"]:
        if finding["location"]["path"].endswith("people.csv"):
            by_rule[f"{finding['rule_id']}:{finding['location']['field']}"] = finding
    columns = people_columns()

    def file_rows(broken: list[int]) -> list[int]:
        return [row + (row >= RAGGED_AT) for row in broken]  # the rejected line counts as a row of the file

    changed = [i for i in range(ROWS) if columns["booking_changes"][i] <= 0]
    price = [i for i in range(ROWS) if not 0 <= columns["price"][i] < 1000]
    assert by_rule["data.integrity.rule.changed:None"]["count"] == len(changed)
    assert by_rule["data.integrity.rule.changed:None"]["rows"] == file_rows(changed[:10])
    assert by_rule["data.integrity.rule.price:None"]["rows"] == file_rows(price)
    assert by_rule["data.integrity.missing-columns:None"]["location"]["row"] == RAGGED_AT
    assert by_rule["data.pii.email-address:email"]["count"] == ROWS
    assert by_rule["data.pii.email-address:note"]["count"] == sum("Contact" in note for note in columns["note"])
    assert by_rule["data.pii.crypto:note"]["count"] == 1
    assert by_rule["data.secret.aws-access-key-id:comment"]["count"] == sum("AKIA" in c for c in columns["comment"])
    assert by_rule["data.quality.duplicate-rows:None"]["count"] == 3


def test_poisoning_findings_equal_the_single_process_scan(poisoned: Path, cluster: Any) -> None:
    options = ScanOptions(target="outcome")
    expected = scan_json([poisoned], options)
    found = scan_json([poisoned], options, cluster.scheduler_address)
    assert found == expected
    assert any(f["category"] == "poisoning" and f["location"]["row"] is not None for f in expected["findings"])


def test_a_failing_analysis_stops_the_scan_as_in_one_process(datasets: Path, cluster: Any) -> None:
    # pii, quality and integrity run; poisoning, on its own task, fails on the worker: the error and the findings
    # before it come back as from one process (ScanError keeps its findings and status across pickling).
    paths = [datasets / "people.parquet"]
    options = ScanOptions(target="no_such_column", rules=datasets / "rules.yaml")
    expected = scan_json(paths, options)
    assert expected["scanned"][0]["status"] == "partial"
    assert expected["scanned"][0]["error"].startswith("data: poisoning: target column 'no_such_column' not found")
    assert {f["category"] for f in expected["findings"]} >= {"pii", "data-quality", "data-integrity"}
    assert scan_json(paths, options, cluster.scheduler_address) == expected


def test_scan_cli_on_a_running_scheduler(
    datasets: Path, single_process: dict[str, Any], cluster: Any, run_bastion: RunBastion
) -> None:
    result = run_bastion(
        "scan", str(datasets / "people.csv"), str(datasets / "people.parquet"), "--rules", str(datasets / "rules.yaml"),
        "--format", "json", "--fail-on", "critical",
        "--scheduler", cluster.scheduler_address, "--partition-rows", str(PARTITION_ROWS),
    )  # fmt: skip
    assert (result.returncode, result.stderr) == (0, "")
    document = json.loads(result.stdout)
    assert (document["scanned"], document["findings"]) == (single_process["scanned"], single_process["findings"])


@pytest.mark.slow
def test_scan_cli_on_a_local_cluster(datasets: Path, single_process: dict[str, Any], run_bastion: RunBastion) -> None:
    path = str(datasets / "people.parquet")
    rules = str(datasets / "rules.yaml")
    result = run_bastion(
        "scan", path, "--rules", rules, "--format", "json", "--fail-on", "critical", "--scheduler", "local",
        "--partition-rows", "1000",
    )  # fmt: skip
    assert (result.returncode, result.stderr) == (0, "")
    document = json.loads(result.stdout)
    assert document["scanned"] == [a for a in single_process["scanned"] if a["path"] == path]
    assert document["findings"] == [f for f in single_process["findings"] if f["location"]["path"] == path]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.parametrize("address", ["tcp://127.0.0.1:{port}", "http://127.0.0.1:{port}", "127.0.0.1:notaport"])
def test_unreachable_scheduler_is_one_line_and_exit_2(datasets: Path, run_bastion: RunBastion, address: str) -> None:
    address = address.format(port=free_port())
    result = run_bastion(
        "scan", str(datasets / "rules.yaml"), "--scheduler", address, env={"DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "1s"}
    )
    assert result.returncode == 2
    assert result.stdout == "" and len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith(f"bastion: error: --scheduler {address}: cannot reach a Dask scheduler")


def test_missing_dask_names_the_extra(datasets: Path, tmp_path: Path, run_bastion: RunBastion) -> None:
    (tmp_path / "distributed.py").write_text("raise ImportError('No module named distributed')\n")
    result = run_bastion("scan", str(datasets / "rules.yaml"), "--scheduler", "local", env={"PYTHONPATH": str(tmp_path)})
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "bastion: error: --scheduler needs Dask, which is not installed: pip install 'bastion-mlsecops[dask]'\n"
    )


def test_partition_rows_needs_a_scheduler(datasets: Path, run_bastion: RunBastion) -> None:
    result = run_bastion("scan", str(datasets / "people.parquet"), "--partition-rows", "10")
    assert result.returncode == 2 and "give --scheduler too" in result.stderr and "Traceback" not in result.stderr


def test_single_process_scan_starts_no_dask(tmp_path: Path) -> None:
    (tmp_path / "small.csv").write_text("name,email\nAda Lovelace,ada@example.org\nAlan Turing,alan@example.org\n")
    code = (
        "import sys; from bastion.cli import main\n"
        "try:\n    main(['scan', sys.argv[1], '--format', 'json'])\n"
        "except SystemExit:\n    pass\n"
        "assert 'distributed' not in sys.modules and 'dask' not in sys.modules, 'dask imported'\n"
    )
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path / "small.csv")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
