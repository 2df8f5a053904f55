"""Signing benchmark: Bastion against the ``model_signing`` reference (CLI and API) and the SHA-256 floor, in one run.

    .venv/bin/python benchmarks/sign.py [--size-gb 2] [--files 8] [--repeats 3] [--workdir DIR]

Writes a directory of ``--files`` random files (``--size-gb`` in all; reused on later runs), installs the reference
in its own venv (benchmarks/.venv-anchors/signing), then signs and verifies the directory with each tool, as whole
processes with a warm page cache. The floor is ``openssl dgst -sha256`` over the same files, once in one process
(one core) and once split over every core (``xargs -P``): no signer can hash faster than the latter. Tools run in
interleaved rounds so that load from other work hits them alike. Prints the table, GB/s and ratios, and writes
everything to results-sign.json in the work directory.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script: import the sibling modules

from anchors import AnchorError, bin_path, ensure_anchors, installed_versions
from harness import Measurement, busy_warning, fmt_ratio, measure, print_rows, print_table, ratio

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
GROUP = "signing"
FLOOR = "openssl sha256 ×cores"

# The reference's API, as a user would call it (signature beside the model, key from a file).
_API_SIGN = (
    "import sys, model_signing; "
    "model_signing.signing.Config().use_elliptic_key_signer(private_key=sys.argv[2]).sign(sys.argv[1], sys.argv[3])"
)
_API_VERIFY = (
    "import sys, model_signing; "
    "model_signing.verifying.Config().use_elliptic_key_verifier(public_key=sys.argv[2]).verify(sys.argv[1], sys.argv[3])"
)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-gb", type=float, default=2.0, help="total size of the model directory (default 2 GB)")
    parser.add_argument("--files", type=int, default=8, help="number of files it holds (default 8)")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds, after one warm-up round")
    parser.add_argument("--workdir", type=Path, default=BENCH_DIR / ".work", help="where inputs and results go")
    parser.add_argument("--bastion", type=Path, default=REPO / ".venv" / "bin" / "bastion", help="the bastion executable")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        ensure_anchors(GROUP)
    except AnchorError as exc:
        print(f"sign benchmark: {exc}", file=sys.stderr)
        return 1
    size = int(args.size_gb * 1e9)
    workdir = args.workdir.resolve() / "sign"
    model = make_model(workdir / f"model-{args.size_gb:g}gb-{args.files}", size, args.files)
    keys = make_keys(workdir / "keys")
    commands = tool_commands(args.bastion, model, keys, workdir)
    warning = busy_warning(os.getloadavg()[0])
    if warning:
        print(f"warning: {warning}")
    measurements = interleaved(commands, args.repeats)
    bytes_total = sum(p.stat().st_size for p in model.iterdir())
    report(measurements, bytes_total)
    results = {
        "benchmark": "sign",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "load_1min": os.getloadavg()[0]},
        "versions": {"bastion": _bastion_version(), **installed_versions(GROUP)},
        "input": {"path": str(model), "bytes": bytes_total, "files": args.files},
        "measurements": [m.to_json() for m in measurements],
    }
    out = workdir / "results-sign.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"results: {out}")
    failed = [m for m in measurements if m.status != "ok" or m.exit_code != 0]
    for m in failed:
        print(f"FAILED: {m.tool}: status {m.status}, exit {m.exit_code}: {(m.last.stderr if m.last else '')[-300:]}")
    return 1 if failed else 0


def make_model(directory: Path, size: int, files: int) -> Path:
    """``files`` random files of ``size / files`` bytes each (reused when already there)."""
    directory.mkdir(parents=True, exist_ok=True)
    each = size // files
    for index in range(files):
        path = directory / f"model-{index + 1:05d}-of-{files:05d}.safetensors"
        if path.exists() and path.stat().st_size == each:
            continue
        with path.open("wb") as handle:
            left = each
            while left:
                block = os.urandom(min(left, 16 << 20))
                handle.write(block)
                left -= len(block)
    return directory


def make_keys(directory: Path) -> tuple[Path, Path]:
    from bastion.signing import generate_key_pair

    private, public = directory / "private.pem", directory / "public.pem"
    if not private.exists():
        generate_key_pair(directory)
    return private, public


def tool_commands(bastion: Path, model: Path, keys: tuple[Path, Path], workdir: Path) -> dict[str, list[str]]:
    private, public = (str(k) for k in keys)
    files = sorted(str(p) for p in model.iterdir())
    cores = len(os.sched_getaffinity(0))
    per_process = -(-len(files) // cores)
    split = f"printf '%s\\n' {' '.join(shlex.quote(f) for f in files)} | xargs -P {cores} -n {per_process} openssl dgst -sha256"
    ours, cli, api = (str(workdir / name) for name in ("bastion.sig", "model_signing-cli.sig", "model_signing-api.sig"))
    reference = str(bin_path(GROUP, "model_signing"))
    python = str(bin_path(GROUP, "python"))
    return {
        "openssl sha256 ×1": ["openssl", "dgst", "-sha256", *files],
        FLOOR: ["sh", "-c", split],
        "bastion sign": [str(bastion), "sign", str(model), "--key", private, "--signature", ours],
        "bastion verify": [str(bastion), "verify", str(model), "--key", public, "--signature", ours],
        "model_signing CLI sign": [reference, "sign", "key", str(model), "--private_key", private, "--signature", cli],
        "model_signing CLI verify": [reference, "verify", "key", str(model), "--public_key", public, "--signature", cli],
        "model_signing API sign": [python, "-c", _API_SIGN, str(model), private, api],
        "model_signing API verify": [python, "-c", _API_VERIFY, str(model), public, api],
    }


def interleaved(commands: dict[str, list[str]], repeats: int) -> list[Measurement]:
    """One warm-up round, then ``repeats`` rounds running every tool once each (sign before its verify)."""
    measurements = {tool: measure(tool, "dir", argv, repeats=0, warmup=1, timeout=900) for tool, argv in commands.items()}
    for _ in range(repeats):
        for tool, argv in commands.items():
            if measurements[tool].status == "ok":
                measurements[tool].runs.extend(measure(tool, "dir", argv, repeats=1, warmup=0, timeout=900).runs)
    return list(measurements.values())


def report(measurements: list[Measurement], bytes_total: int) -> None:
    by_tool = {m.tool: m for m in measurements}
    gb = bytes_total / 1e9
    print_table(measurements, baseline=FLOOR, title=f"sign and verify {gb:.2f} GB in one directory (× floor: lower is better)")
    rows = [[m.tool, f"{gb / m.median_s:.2f}" if m.median_s else "—"] for m in measurements]
    print_rows(["tool", "GB/s"], rows)
    floor = by_tool[FLOOR]
    lines = []
    for action in ("sign", "verify"):
        ours = by_tool[f"bastion {action}"]
        lines.append([f"bastion {action} / two-core floor", *_ratios(ours, floor), "target ≤ 1.10×"])
        for kind in ("CLI", "API"):
            reference = by_tool[f"model_signing {kind} {action}"]
            lines.append([f"model_signing {kind} {action} / bastion {action}", *_ratios(reference, ours), "target ≥ 1.5× (CLI)"])
    # On a busy machine wall times stretch with the load; CPU seconds show the work each tool does regardless.
    print_rows(["ratio", "wall", "CPU", "issue 6 (wall)"], lines, title="ratios")


def _ratios(numerator: Measurement, denominator: Measurement) -> list[str]:
    """Median wall time and median CPU time of ``numerator`` over those of ``denominator``."""
    return [
        fmt_ratio(ratio(numerator.median_s, denominator.median_s)),
        fmt_ratio(ratio(_median_cpu(numerator), _median_cpu(denominator))),
    ]


def _median_cpu(measurement: Measurement) -> float | None:
    seconds = [run.cpu_s for run in measurement.runs if not run.timed_out]
    return statistics.median(seconds) if seconds else None


def _bastion_version() -> str:
    from bastion import __version__

    return __version__


if __name__ == "__main__":
    raise SystemExit(main())
