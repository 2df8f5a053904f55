"""The pre-training gate judges PII as training would see it: after anonymization."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bastion.pipeline.interface import StepResult
from bastion.pipeline.steps import AnonymizeStep, PreTrainingBiasStep, PreTrainingGate, ScanStep
from tests.pipeline.project import context_for, init_home, run_steps, write_project


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("instance") / "home"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BASTION_HOME", str(home))
        init_home(home)
        yield home


@pytest.fixture(scope="module")
def raw(home: Path) -> dict[str, StepResult]:
    return run_steps(write_project(home.parent / "raw"), home, until="gate-pre", run_id="raw")


def test_raw_pii_fails_the_gate_with_its_reasons(raw: dict[str, StepResult]) -> None:
    gate = raw["gate-pre"]
    assert gate.status == "failed"
    details = gate.details["gate"]
    assert details["name"] == "pre-training" and details["decision"] == "fail"
    failing = sorted(reason.split(" ", 1)[0] for reason in details["reasons"])
    assert failing == ["data.pii.email-address", "data.pii.person"]
    assert "data/patients.csv[email]" in gate.message and "data/patients.csv[patient_name]" in gate.message
    # The scan reports project-relative paths, the ones a waiver names.
    assert {f.location.path for f in raw["scan"].findings} >= {"data/patients.csv", "requirements.txt"}


def test_the_gate_passes_once_anonymization_dropped_and_pseudonymized_the_pii(home: Path) -> None:
    results = run_steps(write_project(home.parent / "anonymized", anonymize=True), home, until="gate-pre", run_id="anon")
    assert any(f.category == "pii" for f in results["scan"].findings)  # the raw table still has PII ...
    assert results["anonymize"].findings == ()  # ... its anonymized copy has none
    gate = results["gate-pre"]
    assert gate.status == "passed", gate.message
    assert gate.details["gate"] == {
        "name": "pre-training",
        "decision": "pass",
        "reasons": [],
        "violations": 0,
        "incomplete": [],
        "waived": [],
    }


def test_a_column_the_policy_leaves_alone_still_fails(home: Path, raw: dict[str, StepResult]) -> None:
    project = write_project(home.parent / "names-only", anonymize=True)
    (project / "anon.yaml").write_text("version: 1\ncolumns:\n  patient_name: drop\n")
    # The same table was scanned for the raw project; this run anonymizes it under its own policy.
    results = {"ingest": raw["ingest"], "scan": raw["scan"]}
    for step in (AnonymizeStep(), PreTrainingBiasStep(), PreTrainingGate()):
        results[step.name] = step.run(context_for(project, home, step, results, run_id="names-only"))
    assert [f.location.field for f in results["anonymize"].findings] == ["email"]
    gate = results["gate-pre"]
    assert gate.status == "failed"
    assert [reason.split(" ", 1)[0] for reason in gate.details["gate"]["reasons"]] == ["data.pii.email-address"]


def test_a_policy_file_with_a_waiver_lets_the_finding_through(home: Path, raw: dict[str, StepResult]) -> None:
    project = write_project(home.parent / "waived", extra="gates: {pre_training: pre.yaml}\n")
    (project / "pre.yaml").write_text(
        "version: 1\n"
        "categories: {pii: medium}\n"
        "waivers:\n"
        "  - {rule: 'data.pii.*', path: 'data/*.csv', reason: synthetic test identities, owner: dpo@example.org,"
        " expires: 2999-01-01}\n"
    )
    results = {"ingest": raw["ingest"], "scan": raw["scan"]}
    for step in (AnonymizeStep(), PreTrainingBiasStep(), PreTrainingGate()):
        results[step.name] = step.run(context_for(project, home, step, results, run_id="waived"))
    gate = results["gate-pre"]
    assert gate.status == "passed", gate.message
    assert len(gate.details["gate"]["waived"]) == 2
    assert "under pre.yaml, 2 finding(s) waived" in (gate.message or "")


def test_a_waiver_that_expired_since_a_cached_pass_changes_the_gate_key_and_fails(
    home: Path, raw: dict[str, StepResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    import datetime as dt

    from bastion.pipeline.steps import gate as gate_module
    from tests.pipeline.project import spec_of

    project = write_project(home.parent / "expiring", extra="gates: {pre_training: pre.yaml}\n")
    (project / "pre.yaml").write_text(
        "version: 1\n"
        "categories: {pii: medium}\n"
        "waivers:\n"
        "  - {rule: 'data.pii.*', path: 'data/*.csv', reason: synthetic test identities, owner: dpo@example.org,"
        " expires: 2030-01-01}\n"
    )
    step, verdicts, keys = PreTrainingGate(), {}, {}
    for day in (dt.date(2029, 12, 31), dt.date(2030, 1, 2)):
        monkeypatch.setattr(gate_module, "_today", lambda day=day: day)
        results = {"ingest": raw["ingest"], "scan": raw["scan"]}
        for dependency in (AnonymizeStep(), PreTrainingBiasStep()):
            results[dependency.name] = dependency.run(context_for(project, home, dependency, results, run_id=f"exp-{day}"))
        verdicts[day] = step.run(context_for(project, home, step, results, run_id=f"exp-{day}-gate")).status
        keys[day] = dict(step.params(spec_of(project)))
    assert list(verdicts.values()) == ["passed", "failed"]
    # The cache key differs between the days, so the first day's pass is not reused on the second.
    assert keys[dt.date(2029, 12, 31)] != keys[dt.date(2030, 1, 2)]


def test_the_scan_key_follows_the_advisories_it_matched(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import datetime as dt

    from bastion.pipeline.steps import scan as scan_module
    from bastion.scanners.code.advisories import read_meta
    from tests.pipeline.project import spec_of

    project = write_project(home.parent / "advisories")
    offline = spec_of(project)
    # Offline: the mirror's snapshot, so that `bastion vulndb update` makes the next run rescan the requirements.
    assert ScanStep().params(offline)["advisories"] == read_meta(home / "vulndb" / "osv.sqlite")["snapshot"]
    # Online: the day, since the service's answers change without any input changing.
    (project / "bastion.yaml").write_text((project / "bastion.yaml").read_text() + "  scan: {offline: false}\n")
    monkeypatch.setattr(scan_module, "_today", lambda: dt.date(2030, 1, 2))
    assert ScanStep().params(spec_of(project))["advisories"] == "2030-01-02"


def test_an_incomplete_scan_never_passes(home: Path, raw: dict[str, StepResult]) -> None:
    project = write_project(home.parent / "no-mirror", anonymize=True)
    mirror, hidden = home / "vulndb", home / "vulndb-away"
    mirror.rename(hidden)  # the offline advisory mirror is gone: the requirements cannot be checked
    try:
        results = {"ingest": raw["ingest"]}
        for step in (ScanStep(), AnonymizeStep(), PreTrainingBiasStep(), PreTrainingGate()):
            results[step.name] = step.run(context_for(project, home, step, results, run_id="no-mirror"))
    finally:
        hidden.rename(mirror)
    assert "1 file(s) not scanned completely" in (results["scan"].message or "")
    gate = results["gate-pre"]
    assert gate.status == "failed"
    assert gate.details["gate"]["incomplete"] == ["requirements.txt"]
    assert any(r.startswith("requirements.txt: scan partial") for r in gate.details["gate"]["reasons"])
