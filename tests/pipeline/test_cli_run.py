"""``bastion init --template tabular`` then ``bastion run`` on it, end to end through the real command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import RunBastion


def _bastion(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bastion", *args], capture_output=True, text=True, env={**os.environ, **env}, timeout=600
    )


@pytest.fixture(scope="module")
def instance(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A starter project and an instance; the environment that points `bastion` at them, with the admin's token."""
    root = tmp_path_factory.mktemp("starter")
    env = {"BASTION_HOME": str(root / "home"), "BASTION_STORE_URL": "", "BASTION_KMS_URL": "", "BASTION_TOKEN": ""}
    written = _bastion("init", "--template", "tabular", str(root / "project"), env=env)
    assert written.returncode == 0, written.stderr
    created = _bastion("init", "--format", "json", env=env)
    assert created.returncode == 0, created.stderr
    return root / "project", {**env, "BASTION_TOKEN": json.loads(created.stdout)["token"]}


def test_template_writes_a_project_that_loads(instance: tuple[Path, dict[str, str]]) -> None:
    from bastion.pipeline.load import load_spec

    project, _ = instance
    spec = load_spec(project / "bastion.yaml")

    assert spec.steps.train is not None and spec.steps.train.estimator == "train:build_model"
    assert (project / "data" / "patients.csv").read_text().startswith("patient_id,name,email,sex,age")
    assert "# " in (project / "bastion.yaml").read_text()  # commented for the user
    for policy in ("gate-pre.yaml", "gate-post.yaml", "anonymize.yaml"):
        assert (project / "policies" / policy).is_file()


def test_template_refuses_to_overwrite(run_bastion: RunBastion, instance: tuple[Path, dict[str, str]]) -> None:
    project, env = instance
    before = (project / "bastion.yaml").read_text()

    result = run_bastion("init", "--template", "tabular", str(project), env=env)

    assert result.returncode == 2
    expected = "already exists; give `bastion init --template` an empty or new directory"
    assert result.stderr == f"bastion: error: {project / 'bastion.yaml'}: {expected}\n"
    assert (project / "bastion.yaml").read_text() == before


def test_run_passes_then_reuses_the_cache_and_lineage_reaches_the_raw_data(
    run_bastion: RunBastion, instance: tuple[Path, dict[str, str]]
) -> None:
    import hashlib

    project, env = instance

    first = run_bastion("run", "--format", "json", cwd=project, env=env)

    assert first.returncode == 0, first.stderr
    document = json.loads(first.stdout)
    assert set(document) == {"run", "status", "gates", "steps", "report", "package", "signature", "registry"}
    assert document["status"] == "passed"
    assert [(g["name"], g["decision"]) for g in document["gates"]] == [("pre-training", "pass"), ("post-training", "pass")]
    assert {s["status"] for s in document["steps"]} == {"passed"}
    assert document["registry"] == {"name": "tabular-starter", "version": 1, "status": "PENDING"}
    assert document["signature"]["verified"] is True
    assert Path(document["report"]).is_file() and Path(document["report"]).with_name("report.html").is_file()
    assert "Traceback" not in first.stderr

    second = run_bastion("run", "--format", "sarif", "-o", "bastion.sarif", cwd=project, env=env)
    assert second.returncode == 0, second.stderr
    sarif = json.loads((project / "bastion.sarif").read_text())
    assert sarif["version"] == "2.1.0"
    assert sarif["runs"][0]["results"], "the scan's findings are in the SARIF"
    newest = json.loads(run_bastion("runs", "list", "--format", "json", env=env).stdout)[0]
    shown = json.loads(run_bastion("runs", "show", newest["id"], "--format", "json", env=env).stdout)
    statuses = {s["name"]: s["status"] for s in shown["steps"]}
    assert statuses.pop("register") == "passed"  # not cacheable: registering is an effect outside the run
    assert set(statuses.values()) == {"cached"}

    lineage = run_bastion("lineage", "tabular-starter:1", "--format", "json", env=env)
    assert lineage.returncode == 0, lineage.stderr
    chain = json.loads(lineage.stdout)
    assert chain["model"] == "tabular-starter:1" and chain["run"] == document["run"]
    raw = hashlib.sha256((project / "data" / "patients.csv").read_bytes()).hexdigest()
    assert {"step": "ingest", "name": "data/patients.csv", "sha256": raw} in chain["raw_inputs"]
    assert chain["chain"][0]["step"] == "ingest"


def test_failing_gate_stops_the_run_with_its_reasons(run_bastion: RunBastion, instance: tuple[Path, dict[str, str]]) -> None:
    project, env = instance
    spec = project / "bastion.yaml"
    unprotected = project / "unprotected.yaml"
    # Without the anonymization policy, the patients' names and emails reach training.
    unprotected.write_text(spec.read_text().replace("    policy: policies/anonymize.yaml", "    policy: null"))

    result = run_bastion("run", str(unprotected), cwd=project, env=env)

    assert result.returncode == 1, result.stderr
    assert "Gate pre-training: fail" in result.stdout
    assert "pii" in result.stdout.lower()
    for step in ("split", "train", "package", "sign", "register"):
        assert "not run: the gate-pre step failed" in next(
            line for line in result.stdout.splitlines() if line.split()[:1] == [step]
        )


def test_a_target_column_that_does_not_exist_exits_2_with_one_line(
    run_bastion: RunBastion, instance: tuple[Path, dict[str, str]]
) -> None:
    project, env = instance
    misnamed = project / "misnamed.yaml"
    misnamed.write_text((project / "bastion.yaml").read_text().replace("  target: outcome", "  target: outcom"))

    result = run_bastion("run", str(misnamed), cwd=project, env=env)

    assert result.returncode == 2, result.stdout
    error = [line for line in result.stderr.splitlines() if line.startswith("bastion: error:")]
    assert len(error) == 1 and "'outcom'" in error[0] and "outcome" in error[0], result.stderr
    assert "Traceback" not in result.stderr
    newest = json.loads(run_bastion("runs", "list", "--format", "json", env=env).stdout)[0]
    assert newest["status"] == "failed"
