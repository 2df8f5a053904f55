"""The data steps on a real project: ingest into the store, profile, anonymize, pre-training bias, split."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from bastion.pipeline.interface import StepError, StepResult
from bastion.pipeline.steps import AnonymizeStep, SplitStep
from tests.pipeline.project import context_for, init_home, run_steps, write_project


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("instance") / "home"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BASTION_HOME", str(home))
        init_home(home)
        yield home


@pytest.fixture(scope="module")
def anonymized(home: Path) -> tuple[Path, dict[str, StepResult]]:
    project = write_project(home.parent / "anonymized", anonymize=True)
    return project, run_steps(project, home, until="bias-pre", run_id="data")


def test_ingest_stores_every_input_by_its_digest(home: Path, anonymized: tuple[Path, dict[str, StepResult]]) -> None:
    from bastion.store import open_store

    project, results = anonymized
    stored = results["ingest"].details["inputs"]
    assert set(stored) == {"data/patients.csv", "src/train.py", "requirements.txt"}
    store = open_store()
    for name, digest in stored.items():
        content = (project / name).read_bytes()
        assert digest == hashlib.sha256(content).hexdigest()
        assert store.get(f"sha256:{digest}") == content
    # The store holds the data encrypted at rest: no blob file contains a patient's e-mail address in clear.
    email = (project / "data" / "patients.csv").read_text().splitlines()[1].split(",")[1]
    blobs = [path for path in (home / "store").rglob("*") if path.is_file()]
    assert blobs
    assert not any(email.encode() in path.read_bytes() for path in blobs)


def test_anonymize_drops_and_pseudonymizes_and_finds_no_pii_left(anonymized: tuple[Path, dict[str, StepResult]]) -> None:
    _, results = anonymized
    result = results["anonymize"]
    header, first = result.outputs["table"].read_text().splitlines()[:2]
    assert header.split(",") == ["email", "sex", "age", "x1", "x2", "x3", "label"]
    assert first.startswith("em_")
    assert "@" not in result.outputs["table"].read_text()
    assert result.findings == ()
    scanned = json.loads(result.outputs["report"].read_text())["scanned"]
    assert [(item["path"], item["status"]) for item in scanned] == [("data/patients.csv", "complete")]
    actions = {c["column"]: c["action"] for c in result.details["anonymize"]["columns"]}
    assert actions["patient_name"] == "drop" and actions["email"] == "pseudonymize" and actions["age"] == "keep"


def test_an_anonymization_that_misses_its_k_target_stops_the_run(
    home: Path, anonymized: tuple[Path, dict[str, StepResult]]
) -> None:
    _, results = anonymized
    project = write_project(home.parent / "k-target", anonymize=True)
    (project / "anon.yaml").write_text("version: 1\nquasi_identifiers: [age, sex]\nk: 50\ncolumns:\n  patient_name: drop\n")
    step = AnonymizeStep()
    context = context_for(project, home, step, results, run_id="k-target")
    with pytest.raises(StepError, match=r"^anon.yaml: the anonymized table would have k = \d+, below the policy's target 50;"):
        step.run(context)
    assert list(context.workdir.iterdir()) == []  # nothing half-written


def test_pre_training_bias_is_measured_on_the_facet(anonymized: tuple[Path, dict[str, StepResult]]) -> None:
    project, results = anonymized
    bias = results["bias-pre"]
    (report,) = bias.details["bias"]
    assert report["facet"] == "sex" and report["label"] == "label"
    rows = (project / "data" / "patients.csv").read_text().splitlines()[1:]
    n_d = sum(1 for row in rows if row.split(",")[2] == "F")
    assert (report["n_d"], report["n_a"]) == (n_d, len(rows) - n_d)
    assert bias.metrics["CI[sex]"] == pytest.approx((len(rows) - 2 * n_d) / len(rows))  # CI = (n_a - n_d) / n
    json.dumps(dict(bias.details))  # the report section is JSON as it is


def test_profile_describes_the_raw_table(home: Path, anonymized: tuple[Path, dict[str, StepResult]]) -> None:
    project, _ = anonymized
    profile = run_steps(project, home, until="profile", run_id="profile")["profile"]
    document = profile.details["data_profile"]
    assert document["rows"] == 300
    assert [c["name"] for c in document["columns"]] == ["patient_name", "email", "sex", "age", "x1", "x2", "x3", "label"]
    statistics = json.loads(profile.outputs["statistics"].read_text())
    assert statistics["dataset"]["item_count"] == 300


def test_split_is_stratified_and_keeps_features_facets_and_target(
    home: Path, anonymized: tuple[Path, dict[str, StepResult]]
) -> None:
    project, results = anonymized
    split = _split(project, home, results, "split-ok")
    train, test = pq.read_table(split.outputs["train"]), pq.read_table(split.outputs["test"])
    assert (train.num_rows, test.num_rows) == (210, 90)
    assert train.column_names == ["age", "x1", "x2", "x3", "sex", "label"]
    assert json.loads(split.outputs["features"].read_text()) == ["age", "x1", "x2", "x3"]
    share = sum(train.column("label").to_pylist()) / train.num_rows
    assert share == pytest.approx(sum(test.column("label").to_pylist()) / test.num_rows, abs=0.02)


def test_the_default_features_are_every_column_but_the_target_and_the_facets(
    home: Path, anonymized: tuple[Path, dict[str, StepResult]]
) -> None:
    _, results = anonymized
    project = write_project(home.parent / "default-features", anonymize=True, features=None)
    split = _split(project, home, results, "split-default")
    assert json.loads(split.outputs["features"].read_text()) == ["email", "age", "x1", "x2", "x3"]


def test_a_target_column_that_does_not_exist_is_one_clear_line(
    home: Path, anonymized: tuple[Path, dict[str, StepResult]]
) -> None:
    _, results = anonymized
    project = write_project(home.parent / "wrong-target", anonymize=True, target="diagnosis")
    with pytest.raises(StepError) as raised:
        _split(project, home, results, "split-wrong")
    message = str(raised.value)
    assert "\n" not in message
    assert "'diagnosis'" in message and "data/patients.csv" in message
    assert "email, sex, age, x1, x2, x3, label" in message  # the columns that do exist


def _split(project: Path, home: Path, results: dict[str, StepResult], run_id: str) -> StepResult:
    # The split reads only the anonymized table; the pre-training gate is upstream for ordering alone.
    upstream = {"anonymize": results["anonymize"], "gate-pre": StepResult(status="passed")}
    return SplitStep().run(context_for(project, home, SplitStep(), upstream, run_id=run_id))
