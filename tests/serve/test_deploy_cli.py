"""``bastion deploy``: each rollout mode set, shown and cleared through the CLI, every change audited; refusals (no
permission, unapproved version, bad options) in one line with the right exit status."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bastion.cli import main
from bastion.registry import Stage
from tests.serve.conftest import ApprovedModel, Instance, model_directory


def bastion(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_:
        main(list(argv))
    out, err = capsys.readouterr()
    return int(exit_.value.code or 0), out, err


def deploy_json(capsys: pytest.CaptureFixture[str], instance: Instance, *options: str, role: str = "mlops") -> dict[str, Any]:
    status, out, err = bastion(capsys, "deploy", "churn", *options, "--token", instance.tokens[role], "--format", "json")
    assert (status, err) == (0, ""), err
    document: dict[str, Any] = json.loads(out)
    return document


@pytest.fixture
def three_versions(approved_model: ApprovedModel, churn_source_v2: Path, tmp_path: Path) -> Instance:
    instance = approved_model.instance
    instance.publish("churn", churn_source_v2, stage=Stage.DEV)
    instance.publish("churn", model_directory(tmp_path / "v3", 2), stage=Stage.DEV)
    return instance


def test_each_mode_is_set_shown_cleared_and_audited(three_versions: Instance, capsys: pytest.CaptureFixture[str]) -> None:
    from bastion.audit import open_log

    instance = three_versions
    canary = deploy_json(
        capsys, instance, "--canary", "2", "--weight", "10", "--rollback-error-rate", "0.05", "--rollback-p99", "250ms"
    )
    assert canary["deployment"] | {"created_at": None} == {
        "model": "churn",
        "mode": "canary",
        "stable": 1,  # the newest version in prod
        "candidates": [2],
        "share": 10.0,
        "sticky_key": None,
        "policy": None,
        "rollback_error_rate": 0.05,
        "rollback_p99_ms": 250.0,
        "rolled_back": False,
        "created_by": "mlops",
        "created_at": None,
        "arms": [],
        "rollbacks": [],
        "versions": [1, 2],
    }
    shown = deploy_json(capsys, instance, "--show", role="auditor")
    assert shown["deployment"]["mode"] == "canary"

    shadow = deploy_json(capsys, instance, "--shadow", "3", "--fraction", "0.2", "--stable", "2")["deployment"]
    assert (shadow["mode"], shadow["stable"], shadow["candidates"], shadow["share"]) == ("shadow", 2, [3], 0.2)
    ab = deploy_json(capsys, instance, "--ab", "2", "--split", "30", "--key", "header:X-Tenant")["deployment"]
    assert (ab["mode"], ab["share"], ab["sticky_key"]) == ("ab", 30.0, "header:X-Tenant")
    bandit = deploy_json(capsys, instance, "--bandit", "1,2,3", "--policy", "epsilon-greedy")["deployment"]
    assert (bandit["stable"], bandit["candidates"], bandit["policy"]) == (1, [2, 3], "epsilon-greedy")
    assert bandit["arms"] == [{"version": v, "rewards": 0, "reward_sum": 0.0} for v in (1, 2, 3)]

    status, out, _ = bastion(capsys, "deploy", "churn", "--show", "--token", instance.tokens["mlops"])
    assert status == 0 and "bandit epsilon-greedy" in out and "v3: 0 rewards" in out
    assert deploy_json(capsys, instance, "--clear") == {"name": "churn", "deployment": None}
    assert deploy_json(capsys, instance, "--show")["deployment"] is None

    actions = [(e.action, e.actor, e.target) for e in open_log().entries() if e.action.startswith("deploy.")]
    assert actions == [("deploy.set", "mlops", "churn")] * 4 + [("deploy.clear", "mlops", "churn")]


@pytest.mark.parametrize(
    ("options", "role", "status", "message"),
    [
        (("--canary", "2"), "data-scientist", 3, "lacks the permission model.deploy"),
        (("--canary", "4"), "mlops", 1, "churn:4 is pending"),
        (("--canary", "9"), "mlops", 1, "has no version 9"),
        (("--canary", "2", "--weight", "150"), "mlops", 1, "percentage in [0, 100]"),
        (("--ab", "2", "--key", "cookie:x"), "mlops", 1, "--key header:NAME"),
        (("--canary", "2", "--rollback-p99", "fast"), "mlops", 2, "not a duration"),
        (("--bandit", "2"), "mlops", 2, "at least two versions"),
        (("--clear",), "mlops", 1, "has no deployment"),
    ],
)
def test_refusals(
    three_versions: Instance,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    options: tuple[str, ...],
    role: str,
    status: int,
    message: str,
) -> None:
    instance = three_versions
    instance.publish("churn", model_directory(tmp_path / "v4", 3), approve=False)
    code, out, err = bastion(capsys, "deploy", "churn", *options, "--token", instance.tokens[role])
    assert (code, out) == (status, "")
    assert message in err and err.count("\n") == 1 and "Traceback" not in err, err


def test_a_version_approved_for_staging_alone_takes_no_prod_traffic(
    three_versions: Instance, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bastion.registry import approval_problem

    instance = three_versions  # version 1 in prod, approved for prod
    registry = instance.registry
    version = instance.publish("churn", model_directory(tmp_path / "v4", 3), approve=False)
    registry.approve(registry.authenticate(instance.tokens["approver"]), "churn", version, stage=Stage.STAGING)
    assert approval_problem(registry.engine, "churn", version, Stage.STAGING) is None
    assert "not approved for prod" in (approval_problem(registry.engine, "churn", version, Stage.PROD) or "")

    code, out, err = bastion(capsys, "deploy", "churn", "--canary", str(version), "--token", instance.tokens["mlops"])
    assert (code, out) == (1, "")
    assert f"churn:{version} cannot take prod traffic" in err and err.count("\n") == 1, err
