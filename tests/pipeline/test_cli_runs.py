"""``bastion runs``, ``bastion lineage`` and ``bastion run``'s project errors, through the real command."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from bastion.pipeline.instance import init_instance
from bastion.pipeline.runner import RunOutcome, run_pipeline
from tests.conftest import RunBastion
from tests.pipeline._project import spec_of, toy_steps, write_project


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("BASTION_HOME", str(home))
    monkeypatch.delenv("BASTION_STORE_URL", raising=False)
    monkeypatch.delenv("BASTION_KMS_URL", raising=False)
    init_instance()
    return home


@pytest.fixture
def toy_run(home: Path, tmp_path: Path) -> RunOutcome:
    spec = write_project(tmp_path / "project")
    return run_pipeline(spec_of(spec), spec, steps=toy_steps())


def test_runs_list_and_show(run_bastion: RunBastion, toy_run: RunOutcome) -> None:
    listed = run_bastion("runs", "list", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    assert [(r["id"], r["status"], r["pipeline"]) for r in json.loads(listed.stdout)] == [(toy_run.record.id, "passed", "toy")]

    shown = run_bastion("runs", "show", toy_run.record.id, "--format", "json")
    assert shown.returncode == 0, shown.stderr
    document = json.loads(shown.stdout)
    assert document == json.loads(json.dumps(toy_run.record.to_dict()))

    table = run_bastion("runs", "show", toy_run.record.id)
    assert table.returncode == 0
    assert "publish" in table.stdout and "passed" in table.stdout


def test_runs_show_unknown_run(run_bastion: RunBastion, home: Path) -> None:
    result = run_bastion("runs", "show", "20000101T000000Z-000000")

    assert result.returncode == 2
    assert result.stderr.startswith("bastion: error: no run 20000101T000000Z-000000 in ")
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1


def test_lineage_of_a_run(run_bastion: RunBastion, toy_run: RunOutcome, tmp_path: Path) -> None:
    result = run_bastion("lineage", toy_run.record.id, "--format", "json")

    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["model"] is None and document["run"] == toy_run.record.id
    assert [step["step"] for step in document["chain"]] == ["ingest", "total", "side", "gate", "publish"]
    raw = hashlib.sha256((tmp_path / "project" / "data.csv").read_bytes()).hexdigest()
    assert document["raw_inputs"][0] == {"step": "ingest", "name": "data.csv", "sha256": raw}
    assert document["chain"][0]["inputs"] == {"data.csv": raw}


def test_run_with_a_misspelt_key_exits_2_with_the_line(run_bastion: RunBastion, home: Path, tmp_path: Path) -> None:
    spec = write_project(tmp_path / "project")
    spec.write_text(spec.read_text().replace("  target: y", "  targte: y"))

    result = run_bastion("run", str(spec))

    assert result.returncode == 2
    assert result.stderr == f"bastion: error: {spec}:4: inputs.targte: unknown setting; check its spelling\n"


def test_run_without_a_pipeline_file(run_bastion: RunBastion, home: Path, tmp_path: Path) -> None:
    result = run_bastion("run", cwd=tmp_path)

    assert result.returncode == 2
    assert result.stderr == "bastion: error: bastion.yaml: pipeline file not found; check the path\n"
