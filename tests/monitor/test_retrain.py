"""The retraining trigger: its policy file, its decisions, a real `bastion run` of a small pipeline started by it
(the new version registered PENDING, through every gate), and its cooldown, all in a real audit log."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from bastion.monitor.retrain import (
    Evidence,
    RetrainPolicyError,
    load_retrain_policy,
    reasons_to_retrain,
    trigger,
)

T0 = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)


def write_policy(directory: Path, pipeline: str, *, cooldown: str = "24h", when: str | None = None) -> Path:
    path = directory / "retrain.yaml"
    conditions = (
        when
        or """\
    drift_share: ">= 0.3"
    any_check: [baseline_drift_check, feature_attribution_drift_check]
    quality: {f1: "< 0.85", "DPPL[sex]": "> 0.2"}"""
    )
    path.write_text(f"retrain:\n  when:\n{conditions}\n  pipeline: {pipeline}\n  cooldown: {cooldown}\n", encoding="utf-8")
    return path


def test_the_policy_decides_from_drift_violations_and_metrics(tmp_path: Path) -> None:
    (tmp_path / "bastion.yaml").write_text("name: x\n")
    policy = load_retrain_policy(write_policy(tmp_path, "bastion.yaml", cooldown="6h"))

    assert policy.pipeline == (tmp_path / "bastion.yaml").resolve() and policy.cooldown == dt.timedelta(hours=6)
    assert reasons_to_retrain(policy, Evidence(drift_share=0.1, checks=frozenset({"completeness_check"}))) == ()
    assert reasons_to_retrain(policy, Evidence(drift_share=0.3)) == ("drift_share = 0.3 (drift_share >= 0.3)",)
    assert reasons_to_retrain(policy, Evidence(checks=frozenset({"feature_attribution_drift_check", "x"}))) == (
        "violation feature_attribution_drift_check",
    )
    assert reasons_to_retrain(policy, Evidence(metrics={"f1": 0.9, "DPPL[sex]": 0.25})) == ("DPPL[sex] = 0.25 (DPPL[sex] > 0.2)",)
    assert reasons_to_retrain(policy, Evidence(metrics={"f1": None})) == ()  # an unmeasured metric is no reason


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("retrain:\n  when: {}\n", r"retrain\.yaml:1: retrain: needs when and pipeline"),
        (
            "retrain:\n  when: {drift_share: 'about 0.3'}\n  pipeline: bastion.yaml\n",
            r"retrain\.yaml:2: retrain\.when: cannot read",
        ),
        (
            "retrain:\n  when: {drift: '>= 0.3'}\n  pipeline: bastion.yaml\n",
            r"retrain\.yaml:2: retrain\.when\.drift: unknown setting",
        ),
        (
            "retrain:\n  when: {}\n  pipeline: nowhere.yaml\n",
            r"retrain\.yaml:3: retrain\.pipeline: .*nowhere\.yaml: no such pipeline",
        ),
        (
            "retrain:\n  when: {}\n  pipeline: bastion.yaml\n  cooldown: soon\n",
            r"retrain\.yaml:4: retrain\.cooldown: cooldown 'soon'",
        ),
        ("- retrain\n", r"retrain\.yaml:1: a retraining policy is a mapping"),
    ],
)
def test_bad_policies_name_the_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "bastion.yaml").write_text("name: x\n")
    (tmp_path / "retrain.yaml").write_text(text)
    with pytest.raises(RetrainPolicyError, match=message):
        load_retrain_policy(tmp_path / "retrain.yaml")


@pytest.mark.slow
def test_violations_start_a_real_pipeline_run_and_the_cooldown_holds_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bastion.audit import open_log
    from tests.pipeline.project import init_home, write_project

    home = tmp_path / "home"
    token = init_home(home)
    for name, value in {
        "BASTION_HOME": str(home),
        "BASTION_TOKEN": token,
        "BASTION_STORE_URL": "",
        "BASTION_KMS_URL": "",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("BASTION_AUDIT_URL", raising=False)
    project = write_project(tmp_path / "project", anonymize=True)
    policy = load_retrain_policy(write_policy(tmp_path, "project/bastion.yaml"))
    drifted = Evidence(drift_share=0.5, checks=frozenset({"baseline_drift_check"}))

    started = trigger(policy, "patients", drifted, now=T0)
    held = trigger(policy, "patients", drifted, now=T0 + dt.timedelta(hours=23))
    calm = trigger(policy, "patients", Evidence(drift_share=0.0), now=T0 + dt.timedelta(hours=30))

    assert started.decision == "started" and started.exit_status == 0
    assert started.reasons == ("violation baseline_drift_check", "drift_share = 0.5 (drift_share >= 0.3)")
    assert started.run is not None and started.run["status"] == "passed"
    assert started.run["registry"] == {"name": "patients", "version": 1, "status": "PENDING"}  # awaits approval again
    assert [gate["decision"] for gate in started.run["gates"]] == ["pass", "pass"]
    assert (held.decision, held.exit_status, held.next_allowed) == ("cooldown", None, T0 + dt.timedelta(hours=24))
    assert calm.decision == "not-needed"

    (project / "bastion.yaml").write_text("name: patients\ninputs: {}\n")  # after the cooldown: a run that fails
    failed = trigger(policy, "patients", drifted, now=T0 + dt.timedelta(hours=25))
    assert failed.decision == "started" and failed.exit_status == 2

    entries = [(e.action, e.outcome) for e in open_log().entries() if e.action.startswith("monitor.retrain")]
    assert entries == [
        ("monitor.retrain.start", "ok"),
        ("monitor.retrain", "ok"),
        ("monitor.retrain", "skip"),
        ("monitor.retrain.start", "ok"),
        ("monitor.retrain", "fail"),
    ]
    (run_entry,) = [e for e in open_log().entries() if e.action == "monitor.retrain" and e.outcome == "ok"]
    assert run_entry.details["run"]["registry"]["version"] == 1 and run_entry.target == "patients"
