"""PII benchmark: Bastion against Presidio on one generated table with known column-level ground truth, in one run.

    .venv/bin/python benchmarks/pii_scan.py [--rows 1000000] [--presidio-rows 2000] [--workdir DIR]

Generates a ROWS x 20 table (Faker, several locales; decoys included; see pii_data.py) as Parquet and CSV in
the work directory (reused on later runs), installs the anchors in their own venv (benchmarks/.venv-anchors/pii),
then times:
- Bastion's analysis API (``SensitiveDataAnalysis`` alone) on the Parquet and the CSV file, whole table;
- Bastion's command, ``bastion scan FILE --format json --no-digest`` (every dataset analysis, not only PII);
- Presidio's ``BatchAnalyzerEngine`` (pattern recognizers; blank spaCy pipeline) on the first PRESIDIO_ROWS rows,
  since at its speed the whole table would take hours: throughput is compared in rows per second;
- presidio-structured's ``PandasAnalysisBuilder`` (default ``most_common``) on a 1,000-row sample.
Prints rows/s, the ratio, and per-entity column-level precision, recall and F1 of each; writes everything to
results-pii_scan.json in the work directory.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script: import the sibling modules

import pii_data
from anchors import AnchorError, ensure_anchors, installed_versions, venv_dir
from harness import Run, fmt_seconds, print_rows, run_once

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
DEFAULT_WORKDIR = BENCH_DIR / ".work"
GROUP = "pii"
PRESIDIO_SHARE = 0.10
"""Presidio's batch analyzer finds entities per cell; a column is said to hold an entity found in >= 10% of its cells."""

_API = """
import json, sys, time
from bastion.scanners.data.dataset import Dataset
from bastion.scanners.data.pii import SensitiveDataAnalysis
from bastion.scanners.interface import ScanOptions
path, fmt = sys.argv[1], sys.argv[2]
with Dataset(path, path, fmt) as dataset:
    findings = SensitiveDataAnalysis().analyze(dataset, ScanOptions())
print()
print(json.dumps([f.to_dict() for f in findings]))
"""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the generated table")
    parser.add_argument("--presidio-rows", type=int, default=2000, help="rows Presidio's batch analyzer is timed on")
    parser.add_argument("--structured-sample", type=int, default=1000, help="rows presidio-structured samples")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR, help="where the table and results go")
    parser.add_argument("--bastion", type=Path, default=REPO / ".venv" / "bin" / "bastion", help="the bastion executable")
    parser.add_argument("--no-cli", action="store_true", help="skip the bastion command (API only)")
    parser.add_argument("--timeout", type=float, default=3600.0, help="per-run timeout in seconds")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    workdir: Path = args.workdir.resolve()
    parquet, csv = workdir / f"pii-{args.rows}.parquet", workdir / f"pii-{args.rows}.csv"
    print(f"table: {parquet.name} and {csv.name} ({args.rows:,} rows x {len(pii_data.COLUMNS)} columns)", flush=True)
    pii_data.generate(args.rows, parquet, csv)
    truth = pii_data.truth()
    results: dict[str, Any] = {"rows": args.rows, "columns": len(truth), "truth": {k: sorted(v) for k, v in truth.items()}}

    runs: dict[str, tuple[Run, dict[str, set[str]]]] = {}
    python = str(REPO / ".venv" / "bin" / "python")
    for fmt, path in (("parquet", parquet), ("csv", csv)):
        print(f"bastion API on {fmt} ...", flush=True)
        run = run_once([python, "-c", _API, str(path), fmt], timeout=args.timeout)
        runs[f"API {fmt}"] = (run, _bastion_columns(_json_tail(run.stdout, "[") or []))
    if not args.no_cli:
        for fmt, path in (("parquet", parquet), ("csv", csv)):
            print(f"bastion scan on {fmt} ...", flush=True)
            run = run_once([str(args.bastion), "scan", str(path), "--format", "json", "--no-digest"], timeout=args.timeout)
            document = _json_tail(run.stdout, "{") or {"findings": []}
            runs[f"scan {fmt}"] = (run, _bastion_columns(document["findings"]))

    presidio = _presidio(args, parquet)
    results["anchors"] = installed_versions(GROUP)
    results["presidio"] = {k: v for k, v in presidio.items() if k != "scores"}
    report(args, truth, runs, presidio, results)
    out = workdir / "results-pii_scan.json"
    out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"\nresults: {out}")
    return 0


def _json_tail(stdout: str, opener: str) -> Any:
    """The JSON document at the end of ``stdout``: DuckDB draws a progress bar on stdout during long queries."""
    start = stdout.find("\n" + opener)
    text = stdout if stdout.startswith(opener) else stdout[start + 1 :] if start >= 0 else ""
    try:
        return json.loads(text)
    except ValueError:
        return None


def _bastion_columns(findings: list[dict[str, Any]]) -> dict[str, set[str]]:
    columns: dict[str, set[str]] = {}
    for finding in findings:
        if finding.get("category") == "pii" and finding["location"].get("field") is not None:
            columns.setdefault(finding["location"]["field"], set()).add(finding["entity"])
    return columns


def _presidio(args: argparse.Namespace, parquet: Path) -> dict[str, Any]:
    try:
        ensure_anchors(GROUP)
    except AnchorError as exc:
        print(f"anchors: {exc}", file=sys.stderr)
        return {"error": str(exc)}
    print(f"presidio on {args.presidio_rows:,} rows ...", flush=True)
    python = venv_dir(GROUP) / "bin" / "python"
    argv = [str(python), str(BENCH_DIR / "_presidio_pii.py"), str(parquet), str(args.presidio_rows), str(args.structured_sample)]
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=args.timeout, env={**os.environ, "PYTHONWARNINGS": "ignore"}
    )
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"}
    return dict(json.loads(done.stdout))


def presidio_columns(presidio: dict[str, Any], threshold: float) -> dict[str, set[str]]:
    """Entities Presidio's batch analyzer found at ``threshold`` in at least PRESIDIO_SHARE of a column's cells."""
    columns: dict[str, set[str]] = {}
    for column, entities in presidio.get("scores", {}).items():
        cells = presidio["cells"].get(column, 0) or 1
        found = {e for e, scores in entities.items() if sum(s >= threshold for s in scores) >= PRESIDIO_SHARE * cells}
        if found:
            columns[column] = found
    return columns


def scores(truth: dict[str, frozenset[str]], got: dict[str, set[str]]) -> dict[str, tuple[int, int, int]]:
    """Per entity: (true positives, false positives, false negatives) over columns."""
    entities = set().union(*truth.values(), *got.values())
    table = {}
    for entity in sorted(entities):
        tp = sum(entity in truth[c] and entity in got.get(c, set()) for c in truth)
        fp = sum(entity not in truth[c] and entity in got.get(c, set()) for c in truth)
        fn = sum(entity in truth[c] and entity not in got.get(c, set()) for c in truth)
        table[entity] = (tp, fp, fn)
    return table


def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float] | None:
    """Precision, recall and F1; None when the entity is neither in the truth nor predicted."""
    if not tp + fp + fn:
        return None
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def fmt_prf(value: tuple[float, float, float] | None) -> str:
    return "—" if value is None else " ".join(f"{x:.2f}" for x in value)


def report(
    args: argparse.Namespace,
    truth: dict[str, frozenset[str]],
    runs: dict[str, tuple[Run, dict[str, set[str]]]],
    presidio: dict[str, Any],
    results: dict[str, Any],
) -> None:
    rows: list[list[str]] = []
    speed: dict[str, Any] = {}
    presidio_rate = presidio["rows"] / presidio["batch_s"] if "batch_s" in presidio else None
    for name, (run, _) in runs.items():
        rate = args.rows / run.wall_s if run.exit_code in (0, 1) else None
        ratio = f"{rate / presidio_rate:,.0f}×" if rate and presidio_rate else "—"
        rows.append(
            [
                f"bastion {name}",
                f"{args.rows:,}",
                fmt_seconds(run.wall_s),
                f"{rate:,.0f}" if rate else "—",
                ratio,
                f"{run.max_rss_kib / 1024:,.0f}",
            ]
        )
        speed[f"bastion {name}"] = {
            "wall_s": run.wall_s,
            "rows_per_s": rate,
            "peak_rss_mb": run.max_rss_kib / 1024,
            "exit": run.exit_code,
        }
    if presidio_rate:
        rows.append(
            [
                "presidio BatchAnalyzer",
                f"{presidio['rows']:,}",
                fmt_seconds(presidio["batch_s"]),
                f"{presidio_rate:,.0f}",
                "1×",
                "—",
            ]
        )
        speed["presidio BatchAnalyzer"] = {"wall_s": presidio["batch_s"], "rows_per_s": presidio_rate, "rows": presidio["rows"]}
    structured = presidio.get("structured", {})
    if "seconds" in structured:
        sample = min(args.structured_sample, presidio["rows"])
        rows.append(["presidio-structured", f"{sample:,} (sample)", fmt_seconds(structured["seconds"]), "—", "—", "—"])
        speed["presidio-structured"] = {
            "wall_s": structured["seconds"],
            "cells_per_s": sample * len(truth) / structured["seconds"],
        }
    print()
    print_rows(["tool", "rows", "wall", "rows/s", "× presidio", "peak RSS MB"], rows, title="Throughput")
    results["speed"] = speed

    predictions: dict[str, dict[str, set[str]]] = {f"bastion {name}": got for name, (_, got) in runs.items()}
    if "scores" in presidio:
        predictions["presidio ≥0"] = presidio_columns(presidio, 0.0)
        predictions["presidio ≥0.5"] = presidio_columns(presidio, 0.5)
    if "mapping" in structured:
        predictions["p-structured"] = {c: {e} for c, e in structured["mapping"].items()}
    tables = {name: scores(truth, got) for name, got in predictions.items()}
    entities = sorted(set().union(*(t.keys() for t in tables.values())))
    header = ["entity", *tables]
    lines = []
    for entity in entities:
        lines.append([entity, *(fmt_prf(prf(*table.get(entity, (0, 0, 0)))) for table in tables.values())])
    overall = ["all (micro)"]
    results["accuracy"] = {}
    for name, table in tables.items():
        totals = prf(*(sum(v[i] for v in table.values()) for i in range(3)))
        overall.append(fmt_prf(totals))
        results["accuracy"][name] = {"micro": totals, "per_entity": {e: prf(*v) for e, v in table.items()}}
    lines.append(overall)
    print()
    print_rows(header, lines, title="Column-level precision recall F1 per entity ('—': neither in the truth nor predicted)")
    results["predictions"] = {name: {c: sorted(e) for c, e in got.items()} for name, got in predictions.items()}
    if "error" in presidio:
        print(f"\npresidio: {presidio['error']}")


if __name__ == "__main__":
    raise SystemExit(main())
