"""The runner on a small graph of real steps: caching, parallel branches, gate stop, errors, Ctrl-C, records."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path

import pytest

from bastion.pipeline._records import list_records, read_record
from bastion.pipeline.instance import init_instance
from bastion.pipeline.interface import Step, StepError
from bastion.pipeline.lineage import trace
from bastion.pipeline.runner import RunOutcome, run_pipeline
from tests.pipeline._project import (
    Broken,
    Ingest,
    Killed,
    NotANumber,
    Recorder,
    Rendezvous,
    RendezvousTwin,
    spec_of,
    toy_steps,
    write_project,
)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("BASTION_HOME", str(home))
    monkeypatch.delenv("BASTION_STORE_URL", raising=False)
    monkeypatch.delenv("BASTION_KMS_URL", raising=False)
    init_instance()
    return home


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path / "project")


def _run(spec_path: Path, steps: tuple[Step, ...] | None = None, **options: object) -> RunOutcome:
    return run_pipeline(spec_of(spec_path), spec_path, steps=steps or toy_steps(), **options)  # type: ignore[arg-type]


def _statuses(outcome: RunOutcome) -> dict[str, str]:
    return {step.name: step.status for step in outcome.record.steps}


def test_first_run_passes_and_records_every_step(home: Path, project: Path) -> None:
    recorder = Recorder()
    outcome = _run(project, on_event=recorder)

    assert outcome.exit_status == 0
    assert _statuses(outcome) == dict.fromkeys(("ingest", "total", "side", "gate", "publish"), "passed")
    record = read_record(home, outcome.record.id)
    assert record.status == "passed"
    names = [s.name for s in record.steps]
    assert (names[0], names[-1]) == ("ingest", "publish")
    ingest = record.step("ingest")
    assert ingest is not None
    assert ingest.inputs == {"data.csv": hashlib.sha256((project.parent / "data.csv").read_bytes()).hexdigest()}
    total = record.step("total")
    assert total is not None and total.metrics == {"total": 6.0}
    assert total.upstream == {"ingest/raw": ingest.outputs["raw"]}
    assert total.environment["python"] and "packages" in total.environment
    assert total.duration_s is not None and total.fingerprint
    finished = [e for e in recorder.events if e.kind == "finished"]
    assert sorted(e.step for e in finished) == sorted(_statuses(outcome))
    assert any(e.kind == "progress" and e.message == "summed" for e in recorder.events)


def test_outputs_are_in_the_store_and_the_work_area_is_gone(home: Path, project: Path) -> None:
    from bastion.store import open_store

    outcome = _run(project)

    store = open_store()
    total = outcome.record.step("total")
    assert total is not None
    assert json.loads(store.get(total.outputs["total"])) == {"total": 6}
    bundle = outcome.record.step("publish")
    assert bundle is not None
    manifest = json.loads(store.get(bundle.outputs["package"]))
    assert sorted(manifest["files"]) == ["nested/note.txt", "side.txt"]
    assert store.get(manifest["files"]["side.txt"]) == b"SIDE BRANCH\n"
    run_directory = home / "runs" / outcome.record.id
    assert sorted(p.name for p in run_directory.iterdir()) == ["report.html", "report.json", "run.json"]


def test_second_run_is_all_cached_and_restores_outputs(home: Path, project: Path) -> None:
    first = _run(project)
    second = _run(project)

    assert set(_statuses(second).values()) == {"cached"}
    assert second.exit_status == 0
    for step in first.record.steps:
        again = second.record.step(step.name)
        assert again is not None and again.outputs == step.outputs and again.fingerprint == step.fingerprint
    total = second.record.step("total")
    assert total is not None and total.metrics == {"total": 6.0}


def test_changing_one_input_reruns_exactly_the_affected_steps(home: Path, project: Path) -> None:
    _run(project)
    (project.parent / "side.txt").write_text("changed\n")

    third = _run(project)

    assert _statuses(third) == {
        "ingest": "cached",
        "total": "cached",
        "side": "passed",
        "gate": "cached",
        "publish": "passed",
    }


def test_changing_the_raw_data_reruns_the_steps_that_read_it(home: Path, project: Path) -> None:
    _run(project)
    (project.parent / "data.csv").write_text("x,y\n1,0\n2,1\n4,0\n")

    again = _run(project)

    # publish reads only side's file and gate's result, and neither changed: it stays cached.
    assert _statuses(again) == {
        "ingest": "passed",
        "total": "passed",
        "side": "passed",
        "gate": "passed",
        "publish": "cached",
    }
    total = again.record.step("total")
    assert total is not None and total.metrics == {"total": 7.0}


def test_a_changed_upstream_result_without_files_reruns_downstream(home: Path, project: Path) -> None:
    _run(project)
    (project.parent / "limit.txt").write_text("50\n")  # the gate has no output files, only a result

    again = _run(project)

    assert _statuses(again) == {
        "ingest": "cached",
        "total": "cached",
        "side": "cached",
        "gate": "passed",
        "publish": "passed",
    }


def test_no_cache_runs_every_step(home: Path, project: Path) -> None:
    _run(project)

    forced = _run(project, use_cache=False)

    assert set(_statuses(forced).values()) == {"passed"}


def test_failed_gate_stops_the_run(home: Path, tmp_path: Path) -> None:
    spec = write_project(tmp_path / "strict", limit=5)

    outcome = _run(spec)

    assert outcome.exit_status == 1
    assert outcome.record.status == "failed"
    statuses = _statuses(outcome)
    assert statuses["gate"] == "failed"
    assert statuses["publish"] == "skipped"
    publish = outcome.record.step("publish")
    assert publish is not None and publish.outputs == {} and publish.started is None
    assert publish.message == "not run: the gate step failed"
    report = json.loads(outcome.report.read_text())
    assert report["gates"] == [{"name": "toy-gate", "decision": "fail", "reasons": ["total 6 > 5"]}]
    assert report["run"]["status"] == "failed"


def test_a_cached_failed_gate_still_stops_the_run(home: Path, tmp_path: Path) -> None:
    spec = write_project(tmp_path / "strict", limit=5)
    _run(spec)

    again = _run(spec)

    assert again.exit_status == 1
    assert _statuses(again)["gate"] == "cached"
    assert _statuses(again)["publish"] == "skipped"


def test_a_cache_entry_changed_to_write_outside_the_workdir_is_refused(home: Path, project: Path) -> None:
    from bastion.core.errors import BastionError

    first = _run(project)
    total = first.record.step("total")
    assert total is not None and total.fingerprint
    entry_path = home / "cache" / total.fingerprint[:2] / f"{total.fingerprint}.json"
    entry = json.loads(entry_path.read_text())
    escape = home.parent / "escaped.json"
    (name,) = entry["outputs"]
    entry["outputs"][name]["path"] = "../" * 8 + str(escape).lstrip("/")
    entry_path.write_text(json.dumps(entry))

    with pytest.raises(BastionError, match="points outside the step's workdir"):
        _run(project)

    assert not escape.exists()


def test_a_damaged_cache_entry_is_recomputed(home: Path, project: Path) -> None:
    first = _run(project)
    total = first.record.step("total")
    assert total is not None and total.fingerprint
    (home / "cache" / total.fingerprint[:2] / f"{total.fingerprint}.json").write_text("[]")

    again = _run(project)

    assert _statuses(again)["total"] == "passed" and _statuses(again)["ingest"] == "cached"
    assert _statuses(_run(project))["total"] == "cached"  # and rewritten


def test_independent_branches_run_at_the_same_time(home: Path, project: Path) -> None:
    outcome = _run(project, steps=(Ingest(), Rendezvous(), RendezvousTwin()))

    assert _statuses(outcome) == {"ingest": "passed", "left": "passed", "right": "passed"}


def test_step_error_is_recorded_and_raised(home: Path, project: Path) -> None:
    steps = (Ingest(), Broken())

    with pytest.raises(StepError, match="no column 'z'"):
        _run(project, steps=steps)

    (record,) = list_records(home)
    assert record.status == "failed"
    assert record.error is not None and "no column 'z'" in record.error
    broken = record.step("total")
    assert broken is not None and broken.status == "failed" and "fix inputs.target" in (broken.message or "")
    assert record.report is not None and Path(record.report).is_file()


def test_a_step_whose_process_dies_fails_the_run_with_one_line(home: Path, project: Path) -> None:
    from bastion.core.errors import BastionError

    with pytest.raises(BastionError, match="the process running the total step died"):
        _run(project, steps=(Ingest(), Killed()))

    (record,) = list_records(home)
    assert record.status == "failed"
    killed = record.step("total")
    assert killed is not None and killed.status == "failed"


def test_a_report_that_cannot_be_written_still_ends_the_run_record(home: Path, project: Path) -> None:
    from bastion.core.errors import BastionError

    with pytest.raises(BastionError, match="not plain JSON"):
        _run(project, steps=(Ingest(), NotANumber()))

    (record,) = list_records(home)
    assert record.status == "passed" and record.finished is not None and record.report is None


def test_interrupted_run_leaves_nothing_partial_and_the_next_run_resumes(home: Path, project: Path) -> None:
    flag = project.parent / "interrupt.flag"
    flag.write_text("")

    with pytest.raises(KeyboardInterrupt):
        _run(project)

    (interrupted,) = list_records(home)
    assert interrupted.status == "interrupted"
    statuses = {s.name: s.status for s in interrupted.steps}
    assert statuses == {"ingest": "passed", "total": "passed", "side": "passed", "gate": "passed", "publish": "skipped"}
    assert interrupted.steps[-1].message == "cut short: the run was interrupted"
    run_directory = home / "runs" / interrupted.id
    assert not [p for p in run_directory.iterdir() if p.name.startswith(".")], "the work area was left behind"
    store_tmp = home / "store" / "tmp"
    assert not store_tmp.exists() or not list(store_tmp.iterdir())

    flag.unlink()
    resumed = _run(project)

    assert _statuses(resumed) == {
        "ingest": "cached",
        "total": "cached",
        "side": "cached",
        "gate": "cached",
        "publish": "passed",
    }


def test_lineage_goes_back_to_the_raw_digests(home: Path, project: Path) -> None:
    outcome = _run(project)

    lineage = trace(read_record(home, outcome.record.id))

    assert lineage.target == "publish"
    assert [s.name for s in lineage.chain] == ["ingest", "total", "side", "gate", "publish"]
    raw = hashlib.sha256((project.parent / "data.csv").read_bytes()).hexdigest()
    assert {"step": "ingest", "name": "data.csv", "sha256": raw} in lineage.raw_inputs
    written = {digest for step in lineage.chain for digest in step.outputs.values()}
    for step in lineage.chain:
        assert set(step.upstream.values()) <= written, step.name
    gate_lineage = trace(read_record(home, outcome.record.id), "gate")
    assert [s.name for s in gate_lineage.chain] == ["ingest", "total", "gate"]
    assert [(i["step"], i["name"]) for i in gate_lineage.raw_inputs] == [("ingest", "data.csv"), ("gate", "limit.txt")]


def test_every_step_and_the_run_are_in_the_audit_log(home: Path, project: Path) -> None:
    from bastion.audit import AuditLog

    outcome = _run(project)

    log = AuditLog.at_home()
    try:
        entries = list(log.entries())
    finally:
        log.close()
    steps = [e for e in entries if e.action == "pipeline.step"]
    assert sorted(e.target or "" for e in steps) == sorted(f"{outcome.record.id}/{s}" for s in _statuses(outcome))
    total = next(e for e in steps if e.target == f"{outcome.record.id}/total")
    assert total.outcome == "passed"
    details: Mapping[str, object] = total.details or {}
    assert details["inputs"] == {"ingest/raw": outcome.record.step("ingest").outputs["raw"]}  # type: ignore[union-attr]
    runs = [e.outcome for e in entries if e.action == "pipeline.run"]
    assert runs == ["started", "passed"]


def test_report_json_is_assembled_from_the_steps(home: Path, project: Path) -> None:
    outcome = _run(project)

    report = json.loads(outcome.report.read_text())

    assert report["run"]["id"] == outcome.record.id
    assert report["metrics"]["values"] == {"total": 6.0, "limit": 100.0}
    assert report["package"] == {"path": "bundle", "digest": None}
    assert [s["name"] for s in report["steps"]] == ["ingest", "total", "side", "gate", "publish"]
    assert (outcome.report.parent / "report.html").is_file()


def test_step_bodies_run_on_a_dask_cluster(home: Path, project: Path) -> None:
    outcome = _run(project, scheduler="local")

    assert _statuses(outcome) == dict.fromkeys(("ingest", "total", "side", "gate", "publish"), "passed")
    total = outcome.record.step("total")
    assert total is not None and total.metrics == {"total": 6.0}
    again = _run(project)
    assert set(_statuses(again).values()) == {"cached"}


def test_a_record_with_fields_of_a_later_bastion_still_reads(home: Path, project: Path) -> None:
    outcome = _run(project)
    path = home / "runs" / outcome.record.id / "run.json"
    data = json.loads(path.read_text())
    data["added_later"] = 1
    data["steps"][0]["added_later"] = 2
    path.write_text(json.dumps(data))

    assert read_record(home, outcome.record.id).to_dict() == outcome.record.to_dict()


def test_a_damaged_record_is_named(home: Path, project: Path) -> None:
    from bastion.core.errors import BastionError

    outcome = _run(project)
    path = home / "runs" / outcome.record.id / "run.json"
    for damaged in ("{not json", "[]", '{"steps": [1]}'):  # not JSON, JSON of the wrong shape
        path.write_text(damaged)

        with pytest.raises(BastionError, match=r"run\.json: not a readable run record"):
            read_record(home, outcome.record.id)
