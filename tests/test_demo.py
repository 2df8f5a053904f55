"""`bastion demo`: the first run stops at the pre-training gate for what was planted; after the fixes the second run
ends in a signed package and a PENDING registry version, with its report."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import RunBastion


def test_demo_stops_at_the_gate_then_reaches_a_signed_pending_version(tmp_path: Path, run_bastion: RunBastion) -> None:
    workdir = tmp_path / "demo"
    result = run_bastion("demo", "--workdir", str(workdir), "--format", "json")
    assert result.returncode == 0, result.stderr[-3000:]
    document = json.loads(result.stdout)

    first, second = document["runs"]
    assert (first["status"], second["status"]) == ("failed", "passed")
    first_gates = [gate for gate in document["gates"] if gate["run"] == first["id"]]
    assert [(gate["name"], gate["decision"]) for gate in first_gates] == [("pre-training", "fail")]
    reasons = " ".join(first_gates[0]["reasons"])
    for planted in ("data.pii.us-ssn", "code.secret.github-token", "deps.vulnerable-package"):
        assert planted in reasons, planted
    second_gates = [(gate["name"], gate["decision"]) for gate in document["gates"] if gate["run"] == second["id"]]
    assert second_gates == [("pre-training", "pass"), ("post-training", "pass")]

    registry = document["registry"]
    assert registry == {"name": "breast-cancer-diagnosis", "version": 1, "status": "PENDING"}
    signature = document["signature"]
    assert signature["verified"] is True
    home = Path(document["home"])
    assert home == workdir.resolve() / ".bastion"
    verified = run_bastion(
        "verify",
        document["package"]["path"],
        "--key",
        str(home / "keys" / "signing" / "public.pem"),
        "--signature",
        signature["path"],
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr

    report = Path(document["report"])
    assert report.name == "report.html" and report.is_file()
    data = json.loads(report.with_suffix(".json").read_text())
    assert data["registry"] == registry
    assert data["membership_inference"]["auc"] < 0.6
    assert {facet["facet"] for facet in data["bias"]} == {"sex", "age"}

    # The admin of the demo instance (not the ml-engineer who registered) can approve: three commands to serving.
    environment = {"BASTION_HOME": str(home), "BASTION_TOKEN": document["admin_token"]}
    approved = run_bastion("models", "approve", "breast-cancer-diagnosis", "1", "--stage", "staging", env=environment)
    assert approved.returncode == 0, approved.stderr
    promoted = run_bastion("models", "promote", "breast-cancer-diagnosis", "1", "--to", "staging", env=environment)
    assert promoted.returncode == 0, promoted.stderr
    audit = run_bastion("audit", "verify", env=environment)
    assert audit.returncode == 0, audit.stdout + audit.stderr


def test_demo_refuses_a_workdir_holding_an_earlier_instance(tmp_path: Path, run_bastion: RunBastion) -> None:
    home = tmp_path / "demo" / ".bastion"
    initialised = run_bastion("init", env={"BASTION_HOME": str(home)})
    assert initialised.returncode == 0, initialised.stderr
    result = run_bastion("demo", "--workdir", str(tmp_path / "demo"))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "holds an earlier demo's instance" in result.stderr
