"""The gate: thresholds per category, allow/deny lists, waivers with expiry, metric thresholds."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from bastion.core import Artifact, Category, Finding, Kind, Location, ScanStatus, Severity
from bastion.gate import MetricThreshold, Policy, PolicyError, evaluate, parse_policy, path_glob

TODAY = dt.date(2026, 11, 22)


def finding(
    rule: str = "code.secret.aws-access-key-id", severity: Severity = Severity.HIGH, path: str = "src/app.py", **kw: Any
) -> Finding:
    category = kw.pop("category", Category.SECRET)
    return Finding(rule, category, severity, "something found", Location(path=path, line=3), **kw)


def test_default_policy_fails_on_high_and_above() -> None:
    policy = Policy()
    assert evaluate(policy, findings=[finding(severity=Severity.MEDIUM)]).decision == "pass"
    result = evaluate(
        policy, findings=[finding(severity=Severity.HIGH), finding(severity=Severity.CRITICAL, rule="model.pickle.x")]
    )
    assert result.decision == "fail"
    assert result.violations == 2
    assert result.reasons[0].startswith("code.secret.aws-access-key-id (high)")


def test_category_thresholds_and_never() -> None:
    policy = parse_policy("fail_on: critical\ncategories:\n  secret: low\n  data-quality: never\n")
    assert policy.threshold(Category.SECRET) is Severity.LOW
    assert policy.threshold(Category.DATA_QUALITY) is None
    assert policy.threshold(Category.PII) is Severity.CRITICAL
    assert evaluate(policy, findings=[finding(severity=Severity.LOW)]).decision == "fail"
    dq = finding(rule="data.quality.missing", severity=Severity.CRITICAL, category=Category.DATA_QUALITY)
    assert evaluate(policy, findings=[dq]).decision == "pass"


def test_deny_fails_at_any_severity_and_allow_never_fails() -> None:
    policy = parse_policy("rules:\n  deny: ['model.pickle.*']\n  allow: ['code.secret.*']\n")
    result = evaluate(policy, findings=[finding(rule="model.pickle.unknown-class", severity=Severity.INFO)])
    assert result.decision == "fail"
    assert "denied" in result.reasons[0]
    assert evaluate(policy, findings=[finding(severity=Severity.CRITICAL)]).decision == "pass"


def test_findings_of_one_rule_are_summarised_in_one_reason() -> None:
    findings = [finding(path=f"src/m{i}.py") for i in range(5)] + [finding(path="src/m0.py")]
    result = evaluate(Policy(), findings=findings)
    assert result.violations == 6
    assert result.reasons == (
        "code.secret.aws-access-key-id (high): something found, 6 findings in 5 file(s), first src/m0.py:3",
    )


WAIVER = """
waivers:
  - rule: code.secret.aws-access-key-id
    path: "tests/fixtures/**"
    reason: revoked key kept as a fixture
    owner: alice@example.com
    expires: {expires}
"""


def test_active_waiver_lets_matching_findings_through_and_records_them() -> None:
    policy = parse_policy(WAIVER.format(expires="2027-01-31"))
    waived = finding(path="tests/fixtures/deep/keys.py")
    other_path = finding(path="src/keys.py")
    other_rule = finding(rule="code.secret.github-token", path="tests/fixtures/keys.py")
    result = evaluate(policy, findings=[waived, other_path, other_rule], today=TODAY)
    assert result.decision == "fail"
    assert [w.path for w in result.waived] == ["tests/fixtures/deep/keys.py"]
    assert result.waived[0].owner == "alice@example.com"
    assert result.violations == 2
    assert evaluate(policy, findings=[waived], today=TODAY).decision == "pass"


def test_waiver_applies_through_its_expiry_day_and_stops_after() -> None:
    policy = parse_policy(WAIVER.format(expires="2026-11-22"))
    waived = finding(path="tests/fixtures/keys.py")
    assert evaluate(policy, findings=[waived], today=TODAY).decision == "pass"
    later = evaluate(policy, findings=[waived], today=TODAY + dt.timedelta(days=1))
    assert later.decision == "fail"
    assert later.waived == ()
    assert any("expired on 2026-11-22" in r and "no longer applies" in r for r in later.reasons)


def test_an_expired_waiver_is_reported_even_when_nothing_matches_it() -> None:
    policy = parse_policy(WAIVER.format(expires="2025-01-01"))
    result = evaluate(policy, findings=[], today=TODAY)
    assert result.decision == "pass"
    assert result.reasons == (
        "waiver for code.secret.aws-access-key-id on tests/fixtures/** (owner alice@example.com) expired on 2025-01-01",
    )


def test_waiver_paths_match_with_a_leading_dot_slash() -> None:
    policy = parse_policy(WAIVER.format(expires="2027-01-31"))
    assert evaluate(policy, findings=[finding(path="./tests/fixtures/k.py")], today=TODAY).decision == "pass"


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("tests/*.py", "tests/a.py", True),
        ("tests/*.py", "tests/sub/a.py", False),
        ("tests/**/*.py", "tests/a.py", True),
        ("tests/**/*.py", "tests/x/y/a.py", True),
        ("**", "anything/at/all", True),
        ("data/?.csv", "data/a.csv", True),
        ("data/?.csv", "data/ab.csv", False),
        ("a+b/[x].py", "a+b/[x].py", True),
    ],
)
def test_path_globs(pattern: str, path: str, matches: bool) -> None:
    assert (path_glob(pattern).fullmatch(path) is not None) is matches


def test_metric_thresholds_are_judged_and_missing_metrics_fail() -> None:
    policy = parse_policy("metrics:\n  - recall >= 0.95\n  - abs(dpl) <= 0.1\n  - auc > 0.8\n")
    assert evaluate(policy, metrics={"recall": 0.96, "dpl": -0.05, "auc": 0.9}).decision == "pass"
    result = evaluate(policy, metrics={"recall": 0.91, "dpl": -0.2})
    assert result.decision == "fail"
    assert result.reasons == (
        "metric recall = 0.91 fails recall >= 0.95",
        "metric dpl = -0.2 fails abs(dpl) <= 0.1",
        "metric auc was not measured; the policy requires auc > 0.8",
    )
    assert evaluate(policy, findings=[]).decision == "pass", "without metrics only findings are judged"


def test_bias_metrics_name_their_facet_in_brackets() -> None:
    policy = parse_policy("metrics:\n  - abs(DPPL[sex]) <= 0.1\n  - DI[age] >= 0.8\n")
    assert [str(threshold) for threshold in policy.metrics] == ["abs(DPPL[sex]) <= 0.1", "DI[age] >= 0.8"]
    assert evaluate(policy, metrics={"DPPL[sex]": -0.05, "DI[age]": 0.9}).decision == "pass"
    assert evaluate(policy, metrics={"DPPL[sex]": -0.05, "DI[age]": 0.7}).reasons == (
        "metric DI[age] = 0.7 fails DI[age] >= 0.8",
    )


@pytest.mark.parametrize(
    ("text", "value", "holds"),
    [("x >= 1", 1.0, True), ("x > 1", 1.0, False), ("x < 1e-3", 0.0001, True), ("x == 2", 2.0, True), ("x != 2", 2.0, False)],
)
def test_metric_operators(text: str, value: float, holds: bool) -> None:
    assert MetricThreshold.parse(text).holds(value) is holds


def test_incomplete_scans_fail_the_gate_without_counting_as_violations() -> None:
    scanned = [Artifact("a.pt", Kind.MODEL, "pickle", status=ScanStatus.PARTIAL, error="truncated")]
    result = evaluate(Policy(), scanned=scanned)
    assert (result.decision, result.violations, result.incomplete) == ("fail", 0, ("a.pt",))


def test_policy_file_end_to_end(tmp_path: Path, run_bastion: Any) -> None:
    fixtures = tmp_path / "tests" / "fixtures"
    fixtures.mkdir(parents=True)
    (fixtures / "keys.py").write_text('k = "AKIA' + 'QX7RZ2M5T6L3B4N7"\n')
    (tmp_path / "policy.yaml").write_text(WAIVER.format(expires="2099-12-31"))
    result = run_bastion("scan", "tests", "--policy", "policy.yaml", "--format", "json", cwd=tmp_path)
    assert result.returncode == 0, result.stdout
    gate = json.loads(result.stdout)["gate"]
    assert gate["decision"] == "pass"
    assert gate["waived"][0]["reason"] == "revoked key kept as a fixture"

    (tmp_path / "policy.yaml").write_text(WAIVER.format(expires="2020-01-01"))
    result = run_bastion("scan", "tests", "--policy", "policy.yaml", "--format", "json", cwd=tmp_path)
    assert result.returncode == 1
    assert any("expired on 2020-01-01" in reason for reason in json.loads(result.stdout)["gate"]["reasons"])


def test_fail_on_overrides_the_policy_default(tmp_path: Path, run_bastion: Any) -> None:
    (tmp_path / "k.py").write_text('k = "AKIA' + 'QX7RZ2M5T6L3B4N7"\n')
    (tmp_path / "policy.yaml").write_text("fail_on: low\n")
    args = ("scan", "k.py", "--policy", "policy.yaml", "--format", "json")
    assert run_bastion(*args, cwd=tmp_path).returncode == 1
    assert run_bastion(*args, "--fail-on", "critical", cwd=tmp_path).returncode == 0


def test_policy_errors_name_the_line() -> None:
    with pytest.raises(PolicyError, match=r"^p.yaml:4: waivers.0.owner: "):
        parse_policy("waivers:\n  - rule: a.b\n    reason: why\n    owner: ''\n    expires: 2030-01-01\n", "p.yaml")
    with pytest.raises(PolicyError, match=r"^p.yaml:2: categories.secrets: "):
        parse_policy("categories:\n  secrets: high\n", "p.yaml")


def test_sarif_marks_waived_findings_as_suppressed(tmp_path: Path, run_bastion: Any) -> None:
    fixtures = tmp_path / "tests" / "fixtures"
    fixtures.mkdir(parents=True)
    (fixtures / "keys.py").write_text('k = "AKIA' + 'QX7RZ2M5T6L3B4N7"\n')
    (tmp_path / "policy.yaml").write_text(WAIVER.format(expires="2099-12-31"))
    result = run_bastion("scan", "tests", "--policy", "policy.yaml", "--format", "sarif", cwd=tmp_path)
    assert result.returncode == 0
    (sarif_result,) = json.loads(result.stdout)["runs"][0]["results"]
    (suppression,) = sarif_result["suppressions"]
    assert suppression["kind"] == "external"
    assert "revoked key kept as a fixture" in suppression["justification"]
