"""Bandit as a library: its results on a real Python file become Bastion findings, through `bastion scan`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema

from bastion.core import Category, Kind, Severity
from bastion.scanners import ScanTarget
from bastion.scanners.code.static_analysis import BanditScanner
from tests.conftest import RunBastion

UNSAFE_MODULE = '''\
"""A model-serving helper with the mistakes Bandit knows."""
import hashlib
import pickle
import subprocess

import yaml


def load_model(blob: bytes):
    return pickle.loads(blob)


def convert(path: str) -> None:
    subprocess.call(f"convert {path}", shell=True)


def fingerprint(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def settings(text: str):
    return yaml.load(text)


def reviewed(blob: bytes):
    return pickle.loads(blob)  # nosec B301


DB_PASSWORD = "correct-horse-battery-staple"
'''


def target(path: Path) -> ScanTarget:
    return ScanTarget(path, path.name, Kind.CODE, "python", path.stat().st_size)


def test_bandit_results_map_to_findings(tmp_path: Path) -> None:
    path = tmp_path / "serve.py"
    path.write_text(UNSAFE_MODULE)
    findings = BanditScanner().scan(target(path))
    by_rule = {(f.rule_id, f.location.line): f for f in findings}
    assert sorted(by_rule) == [
        ("code.bandit.b301", 10),
        ("code.bandit.b324", 18),
        ("code.bandit.b403", 3),
        ("code.bandit.b404", 4),
        ("code.bandit.b506", 22),
        ("code.bandit.b602", 14),
    ], "line 26 is marked nosec; the password (B105) is left to the secrets scanner"
    shell = by_rule[("code.bandit.b602", 14)]
    assert (shell.category, shell.severity, shell.confidence) == (Category.UNSAFE_CODE, Severity.HIGH, 0.9)
    assert (shell.location.path, shell.location.column) == ("serve.py", 5)
    assert shell.extra["cwe"] == "CWE-78" and shell.extra["bandit"]["test"] == "subprocess_popen_with_shell_equals_true"
    assert "shell=True" in shell.message
    assert by_rule[("code.bandit.b506", 22)].severity is Severity.MEDIUM
    assert all("correct-horse" not in (f.message + str(f.evidence)) for f in findings)


def test_scan_runs_bandit_only_on_python(tmp_path: Path, run_bastion: RunBastion, scan_schema: dict[str, Any]) -> None:
    (tmp_path / "serve.py").write_text(UNSAFE_MODULE)
    (tmp_path / "notes.txt").write_text("subprocess.call(cmd, shell=True)\n")
    (tmp_path / "broken.py").write_text("def oops(:\n    pass\n")
    result = run_bastion("scan", str(tmp_path), "--format", "json", "--fail-on", "critical")
    assert "Traceback" not in result.stderr and result.stderr == "", result.stderr
    report = json.loads(result.stdout)
    jsonschema.validate(report, scan_schema)
    bandit = [f for f in report["findings"] if f["rule_id"].startswith("code.bandit.")]
    assert {f["location"]["path"] for f in bandit} == {str(tmp_path / "serve.py")}
    assert len(bandit) == 6
    broken = next(a for a in report["scanned"] if a["path"].endswith("broken.py"))
    assert broken["status"] == "error"
    assert broken["error"] == "bandit: not valid Python 3 (line 1: invalid syntax); static analysis skipped"
    assert result.returncode == 2, "a file that could not be analysed is an incomplete scan"


NOSEC_ACROSS_LINES = """\
import subprocess

subprocess.call(
    "ls",
    shell=True,  # nosec B602
)
subprocess.call(
    "ls",  # an ordinary comment
    shell=True,
)
"""


def test_nosec_inside_a_multi_line_call_is_honoured(tmp_path: Path) -> None:
    path = tmp_path / "calls.py"
    path.write_text(NOSEC_ACROSS_LINES)
    shell = [f.location.line for f in BanditScanner().scan(target(path)) if f.rule_id == "code.bandit.b602"]
    assert shell == [9], "Bandit points at the shell=True line of the call it reports; the first call is marked nosec"


def test_the_linear_nosec_lookup_finds_what_bandits_own_does(tmp_path: Path) -> None:
    # Real code with issues, comments and large literals: the standard library's own modules.
    import subprocess as stdlib_subprocess
    import tarfile

    from bandit.core import utils

    scanner = BanditScanner()
    (tmp_path / "calls.py").write_text(NOSEC_ACROSS_LINES)
    sources = [Path(stdlib_subprocess.__file__), Path(tarfile.__file__), tmp_path / "calls.py"]
    linear = [scanner.scan(target(path)) for path in sources]
    bandits_own = utils.get_nosec._bastion_original
    patched, utils.get_nosec = utils.get_nosec, bandits_own
    try:
        original = [scanner.scan(target(path)) for path in sources]
    finally:
        utils.get_nosec = patched
    assert linear == original
    assert sum(len(found) for found in linear) >= 8


def test_assert_is_reported_outside_test_code_only(tmp_path: Path) -> None:
    code = "def check(x):\n    assert x > 0\n    return x\n"
    (tmp_path / "tests").mkdir()
    places = ["lib.py", "tests/helpers.py", "test_lib.py", "lib_test.py", "conftest.py"]
    for name in places:
        (tmp_path / name).write_text(code)
    reported = {
        name: [f.rule_id for f in BanditScanner().scan(ScanTarget(tmp_path / name, name, Kind.CODE, "python", 1))]
        for name in places
    }
    assert reported == {
        "lib.py": ["code.bandit.b101"],
        "tests/helpers.py": [],
        "test_lib.py": [],
        "lib_test.py": [],
        "conftest.py": [],
    }
