"""`bastion init` and `bastion audit` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import RunBastion


def test_init_then_log_verify_prove(tmp_path: Path, run_bastion: RunBastion) -> None:
    env = {"BASTION_HOME": str(tmp_path / "home")}
    init = run_bastion("init", "--format", "json", env=env)
    assert init.returncode == 0, init.stderr
    created = json.loads(init.stdout)
    assert Path(created["audit_public_key"]).exists()
    assert oct((tmp_path / "home").stat().st_mode & 0o777) == "0o700"
    assert run_bastion("init", env=env).returncode == 0  # again: keeps what exists

    log = run_bastion("audit", "log", "--format", "jsonl", env=env)
    entries = [json.loads(line) for line in log.stdout.splitlines()]
    # The first init also creates the registry's first admin and trusts the instance's signing key.
    assert [(e["seq"], e["action"]) for e in entries] == [(0, "init"), (1, "user.add"), (2, "key.trust"), (3, "init")]
    assert run_bastion("audit", "log", "--action", "scan", "--format", "json", env=env).stdout == ""
    assert run_bastion("audit", "log", "--since", "2999-01-01", "--format", "jsonl", env=env).stdout == ""

    verify = run_bastion("audit", "verify", "--format", "json", env=env)
    assert verify.returncode == 0 and json.loads(verify.stdout)["entries"] == 4
    proof = json.loads(run_bastion("audit", "prove", "1", "--format", "json", env=env).stdout)
    assert proof["checkpoint"]["size"] == 4 and len(proof["path"]) == 2

    segment = next((tmp_path / "home" / "audit").glob("segment-*.jsonl"))
    segment.write_bytes(segment.read_bytes().replace(b'"action":"init"', b'"action":"tini"', 1))
    tampered = run_bastion("audit", "verify", env=env)
    assert tampered.returncode == 1
    assert tampered.stdout.strip() == (
        "TAMPERED: segment-00000001.jsonl line 1 (entry 0): its hash does not match its content (edited)"
    )


def test_verify_with_an_outside_key(tmp_path: Path, run_bastion: RunBastion) -> None:
    env = {"BASTION_HOME": str(tmp_path / "home")}
    run_bastion("init", env=env)
    other = {"BASTION_HOME": str(tmp_path / "other")}
    run_bastion("init", env=other)
    foreign = run_bastion("audit", "verify", "--key", str(tmp_path / "other" / "keys" / "audit-public.pem"), env=env)
    assert foreign.returncode == 1 and "not the given key" in foreign.stdout


def test_bad_input_is_one_line(tmp_path: Path, run_bastion: RunBastion) -> None:
    env = {"BASTION_HOME": str(tmp_path / "nowhere")}
    missing = run_bastion("audit", "verify", env=env)
    assert missing.returncode == 2
    assert missing.stderr.strip().endswith("no audit log here; run 'bastion init', or set BASTION_HOME or BASTION_AUDIT_URL")
    run_bastion("init", env=env)
    for args, message in [
        (("audit", "verify", "--key", str(tmp_path / "absent.pem")), "no such public key"),
        (("audit", "prove", "5"), "entry 5 is not under a checkpoint yet"),
        (("audit", "log", "--since", "yesterday"), "not an ISO date or time"),
    ]:
        result = run_bastion(*args, env=env)
        assert result.returncode == 2, args
        assert message in result.stderr and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_commands_record_their_actions(tmp_path: Path, run_bastion: RunBastion) -> None:
    """Scans with their gate decision, store writes and reads, package builds land in the instance's log."""
    env = {"BASTION_HOME": str(tmp_path / "home")}
    assert run_bastion("init", env=env).returncode == 0
    project = tmp_path / "project"
    project.mkdir()
    (project / "settings.py").write_text('aws_key = "AKIA' + 'QX7RZ2M5T6L3B4N7"\n')
    assert run_bastion("scan", str(project), "--scanners", "secrets", env=env).returncode == 1
    digest = run_bastion("store", "put", str(project / "settings.py"), env=env).stdout.strip()
    assert run_bastion("store", "get", digest, "-o", str(tmp_path / "copy.py"), env=env).returncode == 0
    log = run_bastion("audit", "log", "--format", "jsonl", env=env)
    entries = [json.loads(line) for line in log.stdout.splitlines()]
    scan = next(e for e in entries if e["action"] == "scan")
    assert (scan["outcome"], scan["target"], scan["details"]["findings"]) == ("fail", str(project), {"high": 1})
    assert scan["actor"].startswith("os:")
    assert [e["target"] for e in entries if e["action"].startswith("store.")] == [digest, digest]
    verify = run_bastion("audit", "verify", "--format", "json", env=env)
    assert verify.returncode == 0 and json.loads(verify.stdout)["checkpoints"] >= 1


def test_a_scan_outside_an_instance_leaves_nothing(tmp_path: Path, run_bastion: RunBastion) -> None:
    (tmp_path / "a.py").write_text("x = 1\n")
    result = run_bastion("scan", str(tmp_path / "a.py"), cwd=tmp_path, env={"BASTION_HOME": ""})
    assert result.returncode == 0
    assert not (tmp_path / ".bastion").exists()
