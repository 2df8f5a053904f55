"""The model scanners under comparison: how to invoke each on one file, and how to read its verdict.

Every tool runs as a whole process, as a user or a CI job would run it, so start-up counts.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from anchors import bin_path
from harness import Run

REPO = Path(__file__).resolve().parent.parent
DEFAULT_BASTION = REPO / ".venv" / "bin" / "bastion"
GROUP = "model_scan"

BASTION_NO_DIGEST = "bastion --no-digest"
BASTION = "bastion"
PICKLESCAN = "picklescan"
MODELSCAN = "modelscan"
FICKLING = "fickling"
ALL_TOOLS = (BASTION_NO_DIGEST, BASTION, PICKLESCAN, MODELSCAN, FICKLING)
ANCHORS = (PICKLESCAN, MODELSCAN, FICKLING)

# Verdicts on one file.
FLAGGED = "flagged"
CLEAN = "clean"
ERROR = "error"
UNSUPPORTED = "unsupported"


@dataclass(frozen=True)
class Tools:
    bastion: Path
    scratch: Path
    """Working directory for the anchors: modelscan reads ./modelscan-settings.toml and fickling writes
    ./safety_results.json, so they run in an empty directory of their own."""

    def argv(self, tool: str, path: Path, *, report: Path | None = None, fail_on: str | None = None) -> list[str]:
        """The command line for ``tool`` on ``path``. ``report``: where a tool that writes a JSON report puts it;
        ``fail_on``: Bastion's --fail-on (default: its own, high)."""
        p = str(path)
        threshold = ["--fail-on", fail_on] if fail_on else []
        if tool == BASTION_NO_DIGEST:
            return [str(self.bastion), "scan", p, "--no-digest", "--format", "json", *threshold]
        if tool == BASTION:
            return [str(self.bastion), "scan", p, "--format", "json", *threshold]
        if tool == PICKLESCAN:
            return [str(bin_path(GROUP, "picklescan")), "--path", p]
        if tool == MODELSCAN:
            extra = ["-r", "json", "-o", str(report)] if report else []
            return [str(bin_path(GROUP, "modelscan")), "-p", p, *extra]
        if tool == FICKLING:
            out = report or self.scratch / "fickling-safety.json"
            return [str(bin_path(GROUP, "fickling")), "--check-safety", "--json-output", str(out), p]
        raise ValueError(f"unknown tool {tool}")


def is_zip(path: Path) -> bool:
    try:
        return zipfile.is_zipfile(path)
    except OSError:
        return False


def verdict(tool: str, run: Run, path: Path, *, report: Path | None = None) -> tuple[str, str]:
    """(verdict, detail) by each tool's documented semantics; a finding hidden behind an error exit still counts."""
    if run.timed_out:
        return ERROR, "timeout"
    code = run.exit_code
    if tool in (BASTION, BASTION_NO_DIGEST):
        # 0 clean, 1 a finding at or above --fail-on (high), 2 usage error or incomplete scan.
        detail = _bastion_detail(run.stdout)
        return _by_code(code), detail
    if tool == PICKLESCAN:
        # 0 clean, 1 dangerous globals, 2 scan error — an error wins over findings, so read the summary too.
        infected = _summary_int(run.stdout, "Infected files:")
        if infected:
            return FLAGGED, f"{infected} infected"
        return _by_code(code), _tail(run.stdout)
    if tool == MODELSCAN:
        # 0 clean, 1 issues, 2 scan errors (wins over issues), 3 no supported file, 4 usage error.
        issues = _modelscan_issues(report)
        if issues:
            return FLAGGED, f"{issues} issues"
        if code == 3:
            return UNSUPPORTED, "no supported file (modelscan picks scanners by extension)"
        return _by_code(code), _tail(run.stdout)
    if tool == FICKLING:
        # --check-safety: 0 likely safe, 1 unsafe, 2 could not parse. The CLI reads a file as a bare pickle
        # stream; only its Hugging Face mode opens zips, so a zip container is unsupported here.
        if code == 2 and is_zip(path):
            return UNSUPPORTED, "zip container (fickling's CLI reads bare pickles)"
        return _by_code(code), _tail(run.stderr or run.stdout)
    raise ValueError(f"unknown tool {tool}")


def _by_code(code: int | None) -> str:
    return {0: CLEAN, 1: FLAGGED}.get(code if code is not None else -1, ERROR)


def bastion_report(stdout: str) -> dict[str, Any] | None:
    try:
        data = json.loads(stdout)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _bastion_detail(stdout: str) -> str:
    report = bastion_report(stdout)
    if report is None:
        return "no JSON on stdout"
    statuses = [s.get("status") for s in report.get("scanned", [])]
    errors = [s.get("error") for s in report.get("scanned", []) if s.get("error")]
    detail = f"{len(report.get('findings', []))} findings, status {','.join(str(s) for s in statuses) or 'none'}"
    if errors:
        detail += f": {str(errors[0])[:120]}"
    return detail


def _summary_int(text: str, label: str) -> int:
    for line in text.splitlines():
        if line.startswith(label):
            try:
                return int(line[len(label) :].strip())
            except ValueError:
                return 0
    return 0


def _modelscan_issues(report: Path | None) -> int:
    if report is None:
        return 0
    try:
        data = json.loads(report.read_text())
    except (OSError, ValueError):
        return 0
    summary = data.get("summary", {}) if isinstance(data, dict) else {}
    total = summary.get("total_issues")
    if isinstance(total, int):
        return total
    return len(data.get("issues", [])) if isinstance(data, dict) else 0


def _tail(text: str, n: int = 160) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:n] if lines else ""
