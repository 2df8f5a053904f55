"""Shared fixtures: running the real ``bastion`` command and validating its JSON output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

ROOT = Path(__file__).resolve().parent.parent
SCAN_SCHEMA = ROOT.parent / "shared" / "schemas" / "scan-result.schema.json"


@pytest.fixture(scope="session")
def scan_schema() -> dict[str, Any]:
    if not SCAN_SCHEMA.exists():
        pytest.fail(f"the shared scan-result schema is missing at {SCAN_SCHEMA}")
    return json.loads(SCAN_SCHEMA.read_text())


RunBastion = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run_bastion() -> RunBastion:
    """Run the installed ``bastion`` entry point in a subprocess, as a user would."""

    def run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bastion", *args],
            capture_output=True,
            text=True,
            cwd=cwd,
            env={**os.environ, **(env or {})},
            timeout=300,
        )

    return run


@pytest.fixture
def scan_json(run_bastion: RunBastion, scan_schema: dict[str, Any]) -> Callable[..., tuple[int, dict[str, Any]]]:
    """``bastion scan --format json``: exit status and the output, validated against the shared schema."""

    def scan(*args: str, cwd: Path | None = None) -> tuple[int, dict[str, Any]]:
        result = run_bastion("scan", *args, "--format", "json", cwd=cwd)
        assert "Traceback" not in result.stderr, result.stderr
        document = json.loads(result.stdout)
        jsonschema.validate(document, scan_schema)
        return result.returncode, document

    return scan
