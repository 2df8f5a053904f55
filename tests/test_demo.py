"""`bastion demo` builds its example project and shows the scan finding what was planted."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import RunBastion


def test_demo_builds_and_scans_the_example_project(tmp_path: Path, run_bastion: RunBastion) -> None:
    result = run_bastion("demo", "--workdir", str(tmp_path / "demo"))
    assert result.returncode == 0, result.stderr
    assert "code.secret.aws-access-key-id" in result.stdout
    assert "code.secret.github-token" in result.stdout
    for rule in ("data.pii.person", "data.pii.email-address", "data.pii.us-ssn"):
        assert rule in result.stdout, rule
    assert "Gate: FAIL" in result.stdout
    assert sorted(p.name for p in (tmp_path / "demo").iterdir()) == [
        "README.md",
        "explore.ipynb",
        "patients.csv",
        "requirements.txt",
        "train.py",
    ]
