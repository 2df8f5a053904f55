"""Drift benchmark: ``bastion monitor baseline`` + ``bastion monitor check`` against Evidently's DataDriftPreset, in one run.

    .venv/bin/python benchmarks/drift.py [--rows 1000000] [--columns 100] [--evidently-rows N] [--workdir DIR]

Generates a reference and a current table (half numeric columns of several shapes, half categorical ones of 3 to 12
values) as Parquet files; in the current table a known set of columns is shifted by known amounts (mean shifts of
0.2 to 1 standard deviation, a 1.5x spread, category shares moved by 20 to 40 points, a new category) and the others
are drawn afresh from the same distributions. Ground truth goes to ``drift-ROWSxCOLS-truth.json``.

Bastion runs as two processes (baseline of the reference, then the check of the current table, parts sketched in
parallel on every core); Evidently runs in its own venv (benchmarks/.venv-anchors/monitor) as one process that reads
both files with pandas and runs ``Report([DataDriftPreset()])`` with its defaults, as its documentation shows. Wall
time is spawn to exit; peak memory is the largest sum of the resident sets of the process and all its descendants,
sampled every 20 ms (a tool with worker processes is charged for all of them). Evidently is run at ``--evidently-rows``
(default: ``--rows``) and stopped when its tree passes ``--memory-limit-gb``; Bastion is always run at ``--rows`` too.
Results go to ``results-drift-ROWSxCOLS.json`` in the work directory.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script: import the sibling modules

from anchors import AnchorError, ensure_anchors, installed_versions, venv_dir
from harness import busy_warning, fmt_ratio, print_rows, ratio

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
GROUP = "monitor"
CHUNK_ROWS = 100_000
NUMERIC_SHIFTS = {0: ("mean", 0.2), 1: ("mean", 0.3), 2: ("mean", 0.5), 3: ("mean", 1.0), 4: ("scale", 1.5)}
"""Numeric column index -> (kind, amount): mean shift in standard deviations, or spread multiplied."""
CATEGORY_SHIFTS = {0: ("move", 0.2), 1: ("move", 0.3), 2: ("move", 0.4), 3: ("new", 0.25), 4: ("move", 0.25)}
"""Categorical column index -> (kind, amount): share moved from the most to the least frequent value, or a new value."""

_EVIDENTLY = r"""
import json, sys, time
import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset

reference = pd.read_parquet(sys.argv[1])
current = pd.read_parquet(sys.argv[2])
snapshot = Report([DataDriftPreset()]).run(current_data=current, reference_data=reference)
drifted = {}
for metric in snapshot.dict()["metrics"]:
    config = metric.get("config", {})
    if config.get("type", "").endswith("ValueDrift"):
        column, value = config["column"], metric["value"]
        method = config.get("method") or ""
        threshold = config.get("threshold")
        drifted[column] = {"value": value, "method": method, "threshold": threshold}
json.dump(drifted, sys.stdout, default=str)
"""


@dataclass
class Run:
    tool: str
    rows: int
    wall_s: float | None = None
    cpu_s: float | None = None
    peak_mb: float | None = None
    status: str = "ok"
    caught: list[str] = field(default_factory=list)
    false_alarms: list[str] = field(default_factory=list)
    note: str = ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--columns", type=int, default=100)
    parser.add_argument("--evidently-rows", type=int, help="rows Evidently is run at (default: --rows)")
    parser.add_argument("--memory-limit-gb", type=float, default=10.0, help="stop a tool whose process tree passes this")
    parser.add_argument("--timeout", type=float, default=3600.0)
    parser.add_argument("--workdir", type=Path, default=BENCH_DIR / ".work")
    parser.add_argument("--skip-evidently", action="store_true")
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)

    runs: list[Run] = []
    truth = _inputs(args.workdir, args.rows, args.columns)
    runs.append(_bastion(args.workdir, args.rows, args.columns, truth, args))
    versions: dict[str, str] = {}
    if not args.skip_evidently:
        try:
            ensure_anchors(GROUP)
            versions = installed_versions(GROUP)
        except AnchorError as exc:
            print(f"drift: cannot install Evidently: {exc}", file=sys.stderr)
            return 1
        rows = args.evidently_rows or args.rows
        truth_e = _inputs(args.workdir, rows, args.columns)
        if rows != args.rows:
            runs.append(_bastion(args.workdir, rows, args.columns, truth_e, args))
        runs.append(_evidently(args.workdir, rows, args.columns, truth_e, args))
    _report(runs, truth, args, versions)
    return 0


# -- inputs --------------------------------------------------------------------------------------


def _inputs(workdir: Path, rows: int, columns: int) -> dict[str, Any]:
    """The reference and current Parquet files (generated once, then reused) and their ground truth."""
    stem = workdir / f"drift-{rows}x{columns}"
    truth_path = Path(f"{stem}-truth.json")
    reference, current = Path(f"{stem}-reference.parquet"), Path(f"{stem}-current.parquet")
    if truth_path.exists() and reference.exists() and current.exists():
        return dict(json.loads(truth_path.read_text()))
    print(f"generating {rows} x {columns} reference and current tables ...", flush=True)
    numeric, categorical = columns // 2, columns - columns // 2
    shifted = [f"num_{i:03d}" for i in NUMERIC_SHIFTS if i < numeric]
    shifted += [f"cat_{i:03d}" for i in CATEGORY_SHIFTS if i < categorical]
    _write(reference, rows, numeric, categorical, seed=1, shift=False)
    _write(current, rows, numeric, categorical, seed=2, shift=True)
    truth = {
        "reference": str(reference),
        "current": str(current),
        "rows": rows,
        "columns": columns,
        "shifted": shifted,
        "shifts": {f"num_{i:03d}": list(v) for i, v in NUMERIC_SHIFTS.items() if i < numeric}
        | {f"cat_{i:03d}": list(v) for i, v in CATEGORY_SHIFTS.items() if i < categorical},
    }
    truth_path.write_text(json.dumps(truth, indent=2) + "\n")
    return truth


def _write(path: Path, rows: int, numeric: int, categorical: int, *, seed: int, shift: bool) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    shapes = np.random.default_rng(0)  # the columns' distributions: the same for both tables
    means, scales = shapes.uniform(-50, 50, numeric), shapes.uniform(0.5, 20, numeric)
    sizes = shapes.integers(3, 13, categorical)
    shares = [shapes.dirichlet(np.full(size, 2.0)) for size in sizes]
    temporary = path.with_suffix(".tmp")
    writer: pq.ParquetWriter | None = None
    for start in range(0, rows, CHUNK_ROWS):
        count = min(CHUNK_ROWS, rows - start)
        data: dict[str, Any] = {}
        for i in range(numeric):
            kind, amount = NUMERIC_SHIFTS.get(i, ("", 0.0)) if shift else ("", 0.0)
            mean = means[i] + (amount * scales[i] if kind == "mean" else 0.0)
            scale = scales[i] * (amount if kind == "scale" else 1.0)
            if i % 3 == 2:  # integers
                data[f"num_{i:03d}"] = np.rint(rng.normal(mean, scale, count)).astype(np.int64)
            elif i % 3 == 1:  # skewed
                data[f"num_{i:03d}"] = mean + scale * (rng.lognormal(0, 0.5, count) - np.exp(0.125)) / 0.6
            else:
                data[f"num_{i:03d}"] = rng.normal(mean, scale, count)
        for i in range(categorical):
            values = [f"v{j}" for j in range(sizes[i])]
            p = shares[i].copy()
            kind, amount = CATEGORY_SHIFTS.get(i, ("", 0.0)) if shift else ("", 0.0)
            if kind == "move":
                top, bottom = int(np.argmax(p)), int(np.argmin(p))
                moved = min(amount, p[top])
                p[top] -= moved
                p[bottom] += moved
            elif kind == "new":
                values.append("new")
                p = np.append(p * (1 - amount), amount)
            data[f"cat_{i:03d}"] = pa.array(rng.choice(values, count, p=p / p.sum()))
        table = pa.table(data)
        if writer is None:
            writer = pq.ParquetWriter(temporary, table.schema)
        writer.write_table(table, row_group_size=CHUNK_ROWS)
    assert writer is not None
    writer.close()
    temporary.rename(path)


# -- runs ----------------------------------------------------------------------------------------


def _bastion(workdir: Path, rows: int, columns: int, truth: dict[str, Any], args: argparse.Namespace) -> Run:
    run = Run("bastion", rows)
    with tempfile.TemporaryDirectory(dir=workdir) as scratch:
        bastion = [sys.executable, "-m", "bastion", "monitor"]
        steps = [
            [*bastion, "baseline", truth["reference"], "-o", f"{scratch}/baseline"],
            [*bastion, "check", "--baseline", f"{scratch}/baseline", truth["current"], "-o", f"{scratch}/out", "-f", "json"],
        ]
        walls, cpus, peaks = [], [], []
        for step in steps:
            wall, cpu, peak, code, _, stderr = _measure(step, args)
            walls.append(wall)
            cpus.append(cpu)
            peaks.append(peak)
            if code not in (0, 1):
                run.status, run.note = "error", stderr.strip()[-300:]
                return run
        drift = json.loads(Path(f"{scratch}/out/drift.json").read_text())
    run.wall_s, run.cpu_s, run.peak_mb = sum(walls), sum(cpus), max(peaks)
    run.note = f"baseline {walls[0]:.1f} s + check {walls[1]:.1f} s"
    _score(run, {c["column"] for c in drift["columns"] if c["drifted"]}, truth)
    return run


def _evidently(workdir: Path, rows: int, columns: int, truth: dict[str, Any], args: argparse.Namespace) -> Run:
    run = Run("evidently DataDriftPreset", rows)
    python = str(venv_dir(GROUP) / "bin" / "python")
    wall, cpu, peak, code, stdout, stderr = _measure([python, "-c", _EVIDENTLY, truth["reference"], truth["current"]], args)
    run.wall_s, run.cpu_s, run.peak_mb = wall, cpu, peak
    if code != 0:
        run.status = "memory limit" if code == -9 and peak >= args.memory_limit_gb * 1024 else f"exit {code}"
        run.note = stderr.strip()[-300:]
        return run
    result = json.loads(stdout)
    drifted = {name for name, value in result.items() if _evidently_drifted(value)}
    methods = sorted({str(value["method"]) for value in result.values()})
    run.note = f"methods: {', '.join(methods)}"
    _score(run, drifted, truth)
    return run


def _evidently_drifted(value: dict[str, Any]) -> bool:
    """Evidently's verdict: p-value methods drift below their threshold, distances at or above it."""
    score, threshold, method = float(value["value"]), float(value["threshold"]), str(value["method"]).lower()
    if "p_value" in method or "test" in method or method in ("ks", "chisquare", "z"):
        return score < threshold
    return score >= threshold


def _score(run: Run, drifted: set[str], truth: dict[str, Any]) -> None:
    shifted = set(truth["shifted"])
    run.caught = sorted(drifted & shifted)
    run.false_alarms = sorted(drifted - shifted)


def _measure(argv: list[str], args: argparse.Namespace) -> tuple[float, float, float, int, str, str]:
    """Wall seconds, CPU seconds, peak MB of the process tree's summed RSS, exit status, stdout, stderr."""
    import psutil

    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(argv, stdout=out, stderr=err, env=env, cwd=REPO)
        peak = 0.0
        stop = threading.Event()

        def sample() -> None:
            nonlocal peak
            root = psutil.Process(process.pid)
            while not stop.is_set():
                try:
                    tree = [root, *root.children(recursive=True)]
                    total = 0
                    for member in tree:
                        with contextlib.suppress(psutil.Error):
                            total += member.memory_info().rss
                    peak = max(peak, total / 2**20)
                    if peak > args.memory_limit_gb * 1024:
                        for member in reversed(tree):
                            with contextlib.suppress(psutil.Error):
                                member.kill()
                except psutil.Error:
                    pass
                stop.wait(0.02)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        timer = threading.Timer(args.timeout, process.kill)
        timer.start()
        # wait4's usage covers the child and every descendant it reaped (a pool's workers): the tree's CPU time.
        _, status, usage = os.wait4(process.pid, 0)
        timer.cancel()
        process.returncode = code = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
        stop.set()
        sampler.join()
        out.seek(0)
        err.seek(0)
        cpu = usage.ru_utime + usage.ru_stime
        return wall, cpu, peak, code, out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace")


# -- report --------------------------------------------------------------------------------------


def _report(runs: list[Run], truth: dict[str, Any], args: argparse.Namespace, versions: dict[str, str]) -> None:
    shifted = truth["shifted"]
    rows = [
        [
            run.tool,
            f"{run.rows:,}",
            f"{run.wall_s:.1f}" if run.wall_s is not None else "-",
            f"{run.cpu_s:.1f}" if run.cpu_s is not None else "-",
            f"{run.peak_mb:,.0f}" if run.peak_mb is not None else "-",
            run.status,
            f"{len(run.caught)}/{len(shifted)}",
            ", ".join(run.false_alarms) or "none",
            run.note[:80],
        ]
        for run in runs
    ]
    print_rows(
        ["tool", "rows", "wall s", "CPU s", "peak MB (tree)", "status", "shifted caught", "false alarms", "note"],
        rows,
        title=f"drift: {args.columns} columns ({len(shifted)} shifted), {os.cpu_count()} cores",
    )
    bastion = {run.rows: run for run in runs if run.tool == "bastion"}
    for run in runs:
        if run.tool != "bastion" and run.rows in bastion and run.status == "ok":
            mine = bastion[run.rows]
            print(
                f"at {run.rows:,} rows: Bastion is {fmt_ratio(ratio(run.wall_s, mine.wall_s))} faster in wall time, "
                f"{fmt_ratio(ratio(run.cpu_s, mine.cpu_s))} in CPU time, and uses {fmt_ratio(ratio(mine.peak_mb, run.peak_mb))} "
                f"of {run.tool}'s peak memory"
            )
    for run in runs:
        missed = sorted(set(shifted) - set(run.caught))
        if missed:
            print(f"{run.tool} at {run.rows:,} rows missed: {', '.join(missed)}")
    load = os.getloadavg()[0]
    warning = busy_warning(load)
    if warning:
        print(warning)
    results = {
        "date": dt.datetime.now(dt.UTC).isoformat(),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "load": load},
        "versions": versions,
        "truth": truth,
        "runs": [asdict(run) for run in runs],
    }
    target = args.workdir / f"results-drift-{args.rows}x{args.columns}.json"
    target.write_text(json.dumps(results, indent=2) + "\n")
    print(f"results: {target}")


if __name__ == "__main__":
    raise SystemExit(main())
