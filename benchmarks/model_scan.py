"""Model-scan benchmark: Bastion against picklescan, modelscan and fickling on the same files, in one run.

    .venv/bin/python benchmarks/model_scan.py [--quick] [--workdir DIR] [--detection]

Generates its inputs in the work directory (reused on later runs), installs the anchors in their own
venv (benchmarks/.venv-anchors/model_scan), times every tool as a whole process, prints a table and the
ratios issue 3 asks for, and writes everything to results-model_scan[-quick].json in the work directory.
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
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script: import the sibling modules

import model_inputs
import tools
from anchors import AnchorError, ensure_anchors, installed_versions
from harness import (
    Measurement,
    busy_warning,
    fmt_ratio,
    fmt_seconds,
    measure,
    print_rows,
    print_table,
    ratio,
    rss_floor_mb,
    sha256_floor,
)
from model_inputs import Input

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_WORKDIR = BENCH_DIR / ".work"

# Sizes: (state_dict MB, tiny tensors, zip members).
FULL = (1024, 200_000, 200_000)
QUICK = (100, 20_000, 20_000)
INPUTS = ("state_dict", "many_tensors", "many_members")
"""Input groups ``--inputs`` chooses from: the big state dict, the opcode-heavy pickle (raw and in its .pt), the zip."""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small inputs (100 MB, 20k tensors, 20k members), short timeout")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR, help="where inputs and results go")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per tool and input, after one warm-up")
    parser.add_argument("--timeout", type=float, help="per-run timeout in seconds (default 300, quick 60)")
    parser.add_argument("--bastion", type=Path, default=tools.DEFAULT_BASTION, help="the bastion executable")
    parser.add_argument("--tools", nargs="+", choices=tools.ALL_TOOLS, default=list(tools.ALL_TOOLS), metavar="TOOL")
    parser.add_argument(
        "--inputs",
        nargs="+",
        choices=INPUTS,
        default=list(INPUTS),
        metavar="INPUT",
        help=f"inputs to time (default all: {', '.join(INPUTS)}); e.g. only state_dict to re-measure start-up",
    )
    parser.add_argument("--detection", action="store_true", help="also compare detection rates on the test corpus")
    parser.add_argument("--detection-only", action="store_true", help="only the detection comparison")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    workdir: Path = args.workdir.resolve()
    scratch = workdir / "scratch"
    scratch.mkdir(parents=True, exist_ok=True)
    timeout = args.timeout or (60.0 if args.quick else 300.0)

    anchor_note = ""
    try:
        ensure_anchors(tools.GROUP)
    except AnchorError as exc:
        # Carry on: each missing anchor is recorded as "missing" in the table.
        anchor_note = str(exc)
        print(f"anchors: {exc}", file=sys.stderr)
    kit = tools.Tools(bastion=args.bastion, scratch=scratch)
    compile_bytecode(args.bastion)
    results: dict[str, Any] = {
        "machine": machine_info(),
        "bastion": bastion_info(args.bastion),
        "anchors": installed_versions(tools.GROUP),
        "timeout_s": timeout,
    }
    if anchor_note:
        results["anchor_error"] = anchor_note

    if not args.detection_only:
        results.update(speed(args, kit, workdir, timeout))
    if args.detection or args.detection_only:
        import model_detection

        results["detection"] = model_detection.run(kit, workdir, args.tools, timeout=min(timeout, 120.0))

    out = workdir / ("results-model_scan-quick.json" if args.quick else "results-model_scan.json")
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(results, indent=2) + "\n")
    os.replace(tmp, out)
    print(f"\nresults: {out}")
    return 0


def compile_bytecode(bastion: Path) -> None:
    """Compile Bastion's modules as an install does: the anchors were pip-installed with their bytecode,
    and a shell with PYTHONDONTWRITEBYTECODE set would otherwise make every Bastion run compile its sources."""
    script = "import bastion, compileall, os; compileall.compile_dir(os.path.dirname(bastion.__file__), quiet=1)"
    subprocess.run([str(bastion.parent / "python"), "-c", script], check=True)


def speed(args: argparse.Namespace, kit: tools.Tools, workdir: Path, timeout: float) -> dict[str, Any]:
    mb, tensors, members = QUICK if args.quick else FULL
    print(f"generating inputs in {workdir} (reused when present) …", flush=True)
    makers: dict[str, Callable[[], list[Input]]] = {
        "state_dict": lambda: [model_inputs.big_state_dict(workdir, mb)],
        "many_tensors": lambda: list(model_inputs.many_tensors(workdir, tensors)),
        "many_members": lambda: [model_inputs.many_members_zip(workdir, members)],
    }
    inputs = [inp for name in args.inputs for inp in makers[name]()]
    by_name = {inp.name: inp for inp in inputs}

    measurements: list[Measurement] = []
    load_start = os.getloadavg()
    for inp in inputs:
        print(f"timing {inp.name} ({inp.size / 1e6:.0f} MB) …", flush=True)
        for tool in args.tools:
            m = measure(tool, inp.name, kit.argv(tool, inp.path), repeats=args.repeats, timeout=timeout, cwd=kit.scratch)
            annotate(m, tool, inp)
            measurements.append(m)
        if inp.name == "state_dict":
            # Only the big file needs the hashing floor (ratio ii); the others are small.
            measurements.extend(sha256_floor(inp.name, inp.path, repeats=args.repeats))

    load_end = os.getloadavg()
    floor = rss_floor_mb()
    print()
    busy = busy_warning(max(load_start[0], load_end[0]))
    title = f"Model scan: whole-process wall time (median of {args.repeats} runs after a warm-up), CPU time, peak RSS"
    print_table(measurements, baseline=tools.PICKLESCAN, title=f"{title} (launcher floor {floor:.0f} MB)")
    if busy:
        print(f"WARNING: {busy}")
    checks = headline(measurements, by_name)
    print()
    print_rows(["claim", "measured", "target", "result"], [[c["claim"], c["measured"], c["target"], c["result"]] for c in checks])
    return {
        "quick": args.quick,
        "rss_floor_mb": floor,
        "loadavg_start": load_start,
        "loadavg_end": load_end,
        "inputs": [i.to_json() for i in inputs],
        "measurements": [m.to_json() for m in measurements],
        "checks": checks,
    }


def annotate(m: Measurement, tool: str, inp: Input) -> None:
    """Record each run's verdict; a tool that could not read the file is 'unsupported' or 'error', not a time."""
    run = m.last
    if run is None or m.status != "ok":
        return
    verdict, detail = tools.verdict(tool, run, inp.path)
    m.extra["verdict"] = verdict
    m.extra["detail"] = detail
    if verdict == tools.UNSUPPORTED:
        m.status, m.note = "unsupported", detail
    elif verdict == tools.ERROR:
        m.status, m.note = "error", detail
    elif verdict == tools.FLAGGED:
        # Every input here is benign: a flag is a false alarm, worth seeing in the table.
        m.note = f"false alarm: {detail}" if detail else "false alarm"
    if inp.opcodes and m.median_s:
        m.extra["opcodes_per_s"] = inp.opcodes / m.median_s


def find(ms: Sequence[Measurement], tool: str, input_name: str) -> Measurement | None:
    return next((m for m in ms if m.tool == tool and m.input == input_name), None)


def valid_time(m: Measurement | None) -> float | None:
    """A time that means something: the tool finished and read the file (a fast error is not a result)."""
    if m is None or m.status not in ("ok",):
        return None
    return m.median_s


def headline(ms: Sequence[Measurement], inputs: dict[str, Input]) -> list[dict[str, Any]]:
    """The figures issue 3 sets targets for, of the inputs timed. A check whose inputs are invalid says why."""
    checks: list[dict[str, Any]] = []

    def add(claim: str, value: float | None, target: str, passed: bool | None, why: str = "", shown: str = "") -> None:
        measured = shown or (fmt_ratio(value) if value is not None else f"n/a ({why})" if why else "n/a")
        result = "n/a" if passed is None else "PASS" if passed else "FAIL"
        checks.append({"claim": claim, "value": value, "measured": measured, "target": target, "result": result})

    def why(*items: tuple[str, Measurement | None]) -> str:
        bad = [f"{label} {m.status if m else 'not run'}" for label, m in items if valid_time(m) is None]
        return ", ".join(bad)

    big = inputs.get("state_dict")
    if big is not None:
        # (i) bastion --no-digest vs picklescan on the big state_dict.
        b, p = find(ms, tools.BASTION_NO_DIGEST, big.name), find(ms, tools.PICKLESCAN, big.name)
        r = ratio(valid_time(b), valid_time(p))
        add(
            f"(i) {big.name}: bastion --no-digest / picklescan",
            r,
            "< 1.00×",
            None if r is None else r < 1,
            why(("bastion", b), ("picklescan", p)),
        )

        # (ii) bastion with digest vs hashlib's SHA-256 alone on the same file.
        b, h = find(ms, tools.BASTION, big.name), find(ms, "hashlib sha256", big.name)
        r = ratio(valid_time(b), valid_time(h))
        add(
            f"(ii) {big.name}: bastion (digest) / hashlib sha256",
            r,
            "≤ 1.30×",
            None if r is None else r <= 1.3,
            why(("bastion", b), ("hashlib", h)),
        )

    # (iii) opcode throughput on the opcode-heavy pickle, raw and inside the .pt.
    for inp in (inputs[name] for name in ("many_tensors.pkl", "many_tensors.pt") if name in inputs):
        b, p = find(ms, tools.BASTION_NO_DIGEST, inp.name), find(ms, tools.PICKLESCAN, inp.name)
        tb, tp = valid_time(b), valid_time(p)
        r = ratio(tp, tb)  # throughput ratio = inverse time ratio
        shown = ""
        if r is not None and inp.opcodes and tb and tp:
            shown = f"{r:.2f}× ({inp.opcodes / tb / 1e6:.2f} vs {inp.opcodes / tp / 1e6:.2f} M opcodes/s)"
        add(
            f"(iii) {inp.name} ({inp.opcodes:,} opcodes): bastion / picklescan throughput",
            r,
            "≥ 5.00×",
            None if r is None else r >= 5,
            why(("bastion", b), ("picklescan", p)),
            shown,
        )

    zipped = inputs.get("many_members.zip")
    if zipped is not None:
        # (iv) the many-member zip: absolute time, and modelscan's time for scale.
        b, mscan = find(ms, tools.BASTION, zipped.name), find(ms, tools.MODELSCAN, zipped.name)
        tb = valid_time(b)
        full_size = zipped.members == FULL[2]
        add(
            f"(iv) {zipped.name} ({zipped.members:,} members): bastion time",
            tb,
            "< 2 s" + ("" if full_size else " (at 200k members)"),
            None if tb is None or not full_size else tb < 2.0,
            why(("bastion", b)),
            fmt_seconds(tb) if tb is not None else "",
        )
        if mscan is None or not mscan.runs:
            shown = f"modelscan {mscan.status if mscan else 'not run'}"
            r = None
        elif mscan.status == "timeout":
            shown, r = f"modelscan timed out ({mscan.note})", None
        else:
            r = ratio(mscan.median_s, tb)
            shown = f"modelscan {fmt_seconds(mscan.median_s)} ({mscan.status})"
            shown = f"{fmt_ratio(r)}: {shown}" if r is not None else f"n/a (bastion {b.status if b else 'not run'}); {shown}"
        add(f"(iv) {zipped.name}: modelscan / bastion time", r, "(for scale)", None, shown=shown)
    return checks


def bastion_info(bastion: Path) -> dict[str, Any]:
    """Which Bastion was measured: the repo's commit (and whether the tree had local changes)."""
    info: dict[str, Any] = {"executable": str(bastion)}
    try:
        head = subprocess.run(["git", "-C", str(tools.REPO), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(
            ["git", "-C", str(tools.REPO), "status", "--porcelain"], capture_output=True, text=True, timeout=10
        )
        info["commit"] = head.stdout.strip() or None
        info["dirty"] = bool(dirty.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    return info


def machine_info() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = None
    with contextlib.suppress(ValueError, OSError):
        mem_gib = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": mem_gib,
        "python": platform.python_version(),
    }


if __name__ == "__main__":
    raise SystemExit(main())
