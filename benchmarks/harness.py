"""Timing harness: run a command as a whole process, N times, and record wall time, CPU time and peak RSS.

Peak memory is the child's own ``ru_maxrss`` from ``os.wait4`` (never the parent's), taken by a small launcher
(_spawn.py) so the benchmark's own memory does not leak into it; the launcher's ~10 MB is the floor. On Linux it
is the largest resident set of the child *or of any descendant it waited for* — for a tool with worker
processes that is the biggest single process, not the sum over the pool.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# Keep this much of each stream: enough for a verdict (summary lines, a JSON report), not a 200k-member dump.
OUTPUT_KEEP = 2_000_000
# Notes are cut to this width in tables (the results file keeps them whole).
NOTE_WIDTH = 60


@dataclass
class Run:
    """One invocation of a command."""

    wall_s: float
    """Wall time from spawn to reap, seconds."""
    cpu_s: float
    """User + system CPU seconds of the child and its reaped descendants."""
    max_rss_kib: int
    """``ru_maxrss`` of the child (KiB on Linux)."""
    exit_code: int | None
    """Exit status; negative for a signal; None when killed on timeout."""
    timed_out: bool = False
    stdout: str = ""
    stderr: str = ""


@dataclass
class Measurement:
    """A command measured on one input: the runs kept (warm-ups excluded) and their summary."""

    tool: str
    input: str
    argv: list[str]
    status: str
    """ok | timeout | missing | error | unsupported (set by the caller) — never a bare number without context."""
    runs: list[Run] = field(default_factory=list)
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    """Free-form figures (e.g. opcodes/s) added by the benchmark."""

    @property
    def median_s(self) -> float | None:
        times = [r.wall_s for r in self.runs if not r.timed_out]
        return statistics.median(times) if times else None

    @property
    def min_s(self) -> float | None:
        times = [r.wall_s for r in self.runs if not r.timed_out]
        return min(times) if times else None

    @property
    def peak_rss_mb(self) -> float | None:
        rss = [r.max_rss_kib for r in self.runs if r.max_rss_kib]
        return max(rss) / 1024 if rss else None

    @property
    def exit_code(self) -> int | None:
        return self.runs[-1].exit_code if self.runs else None

    @property
    def last(self) -> Run | None:
        return self.runs[-1] if self.runs else None

    def to_json(self) -> dict[str, Any]:
        runs = [{k: v for k, v in asdict(r).items() if k not in ("stdout", "stderr")} for r in self.runs]
        return {
            "tool": self.tool,
            "input": self.input,
            "argv": self.argv,
            "status": self.status,
            "median_s": self.median_s,
            "min_s": self.min_s,
            "peak_rss_mb": self.peak_rss_mb,
            "exit_code": self.exit_code,
            "note": self.note,
            "runs": runs,
            **({"extra": self.extra} if self.extra else {}),
        }


SPAWN = Path(__file__).resolve().parent / "_spawn.py"


def run_once(argv: Sequence[str], *, timeout: float, cwd: Path | None = None, env: dict[str, str] | None = None) -> Run:
    """Run ``argv`` through the small launcher (see _spawn.py) and return its wall time, CPU time and peak RSS.

    Output goes to temporary files (a pipe could fill and stall the child); the launcher reports the timing
    on a pipe of its own. The launcher's start-up is not in the wall time: it times spawn-to-reap itself."""
    read_fd, write_fd = os.pipe()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            # A new session, so a timeout kills the launcher, the tool and the tool's worker processes together.
            proc = subprocess.Popen(
                [sys.executable, "-S", "-I", str(SPAWN), str(write_fd), *argv],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                cwd=cwd,
                env=env,
                pass_fds=(write_fd,),
                start_new_session=True,
            )
        finally:
            os.close(write_fd)
        killed = threading.Event()

        def kill() -> None:
            killed.set()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            with os.fdopen(read_fd, "rb") as report:
                line = report.read().decode()  # EOF when the launcher exits (or is killed)
            proc.wait()
        finally:
            timer.cancel()
        out.seek(0)
        err.seek(0)
        stdout = out.read(OUTPUT_KEEP).decode("utf-8", "replace")
        stderr = err.read(OUTPUT_KEEP).decode("utf-8", "replace")
    if killed.is_set():
        return Run(wall_s=timeout, cpu_s=0.0, max_rss_kib=0, exit_code=None, timed_out=True, stdout=stdout, stderr=stderr)
    fields = line.split()
    if len(fields) != 4 or fields[0] == "error":
        raise OSError(line.removeprefix("error ").strip() or f"launcher failed: {stderr.strip()[-300:]}")
    wall, code, rss, cpu = fields
    return Run(
        wall_s=float(wall),
        cpu_s=float(cpu),
        max_rss_kib=int(rss),
        exit_code=int(code),
        stdout=stdout,
        stderr=stderr,
    )


def rss_floor_mb() -> float:
    """Peak RSS the launcher itself imposes (measured on ``true``): no tool can show less than this."""
    return run_once(["true"], timeout=30).max_rss_kib / 1024


def measure(
    tool: str,
    input_name: str,
    argv: Sequence[str],
    *,
    repeats: int = 3,
    warmup: int = 1,
    timeout: float = 300.0,
    slow_after: float = 20.0,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> Measurement:
    """Warm up, then run ``repeats`` times. A run slower than ``slow_after`` seconds is kept as the only one
    (re-running a multi-minute anchor tells nothing new). A missing executable or a timeout is recorded, not raised."""
    m = Measurement(tool=tool, input=input_name, argv=list(argv), status="ok")
    if shutil.which(argv[0]) is None:
        m.status, m.note = "missing", f"{argv[0]} not found"
        return m
    for i in range(warmup + repeats):
        try:
            run = run_once(argv, timeout=timeout, cwd=cwd, env=env)
        except OSError as exc:
            m.status, m.note = "error", f"could not start: {exc}"
            return m
        if run.timed_out:
            m.runs = [run]
            m.status, m.note = "timeout", f"killed after {timeout:.0f} s"
            return m
        if run.wall_s > slow_after:
            m.runs = [run]
            m.note = "slow: 1 run"
            return m
        if i >= warmup:
            m.runs.append(run)
    return m


def measure_call(
    tool: str, input_name: str, fn: Callable[[], object], *, repeats: int = 3, warmup: int = 1
) -> tuple[Measurement, object]:
    """Time an in-process call (e.g. the hashlib floor). RSS is not meaningful here and is left empty."""
    m = Measurement(tool=tool, input=input_name, argv=["(in-process)"], status="ok")
    result: object = None
    for i in range(warmup + repeats):
        start = time.perf_counter()
        cpu = time.process_time()
        result = fn()
        run = Run(wall_s=time.perf_counter() - start, cpu_s=time.process_time() - cpu, max_rss_kib=0, exit_code=0)
        if i >= warmup:
            m.runs.append(run)
    return m, result


def sha256_file(path: Path) -> str:
    """The SHA-256 floor: hashlib.file_digest (buffered reads, GIL released), as fast as Python can hash a file."""
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def sha256_floor(input_name: str, path: Path, *, repeats: int = 3) -> list[Measurement]:
    """The hashlib floor in-process, plus ``openssl dgst -sha256`` and ``sha256sum`` as whole processes."""
    floor, _ = measure_call("hashlib sha256", input_name, lambda: sha256_file(path), repeats=repeats)
    results = [floor]
    for tool, argv in (("openssl sha256", ["openssl", "dgst", "-sha256", str(path)]), ("sha256sum", ["sha256sum", str(path)])):
        results.append(measure(tool, input_name, argv, repeats=repeats))
    return results


# --- output --------------------------------------------------------------------------------------


def busy_warning(load: float) -> str:
    """A warning when other work competes for the CPUs (1-minute ``load``): wall times are then inflated."""
    cores = os.cpu_count() or 1
    if load <= cores * 0.75:
        return ""
    return f"machine busy (1-min load {load:.1f} on {cores} cores): wall times are inflated; compare the CPU column too"


def fmt_seconds(s: float | None) -> str:
    if s is None:
        return "—"
    return f"{s * 1000:.0f} ms" if s < 1 else f"{s:.2f} s"


def fmt_mb(mb: float | None) -> str:
    return "—" if mb is None else f"{mb:.0f}"


def ratio(a: float | None, b: float | None) -> float | None:
    """a / b, or None when either side is missing."""
    if a is None or b is None or b <= 0:
        return None
    return a / b


def fmt_ratio(r: float | None) -> str:
    return "—" if r is None else f"{r:.2f}×"


def print_table(measurements: Sequence[Measurement], *, baseline: str | None = None, title: str = "") -> None:
    """One row per (input, tool). With ``baseline``, a column gives each row's median over the baseline tool's
    median on the same input (``< 1`` means faster than the baseline)."""
    base: dict[str, float | None] = {m.input: m.median_s for m in measurements if m.tool == baseline}
    header = ["input", "tool", "median", "min", "cpu", "peak RSS MB", "exit", "status"]
    if baseline:
        header.append(f"× {baseline}")
    rows: list[list[str]] = []
    for m in measurements:
        cpus = [r.cpu_s for r in m.runs if not r.timed_out]
        cpu = statistics.median(cpus) if cpus else None
        note = m.note if len(m.note) <= NOTE_WIDTH else m.note[: NOTE_WIDTH - 1] + "…"
        status = m.status + (f" ({note})" if note else "")
        row = [
            m.input,
            m.tool,
            fmt_seconds(m.median_s),
            fmt_seconds(m.min_s),
            fmt_seconds(cpu),
            fmt_mb(m.peak_rss_mb),
            "—" if m.exit_code is None else str(m.exit_code),
            status,
        ]
        if baseline:
            row.append(fmt_ratio(ratio(m.median_s, base.get(m.input))))
        rows.append(row)
    print_rows(header, rows, title=title)


def print_rows(header: Sequence[str], rows: Sequence[Sequence[str]], *, title: str = "") -> None:
    """A Rich table when Rich is importable (it is in Bastion's venv), else aligned plain text."""
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=False)]
        if title:
            print(title)
        for line in (header, *rows):
            print("  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=False)))
        return
    table = Table(title=title or None, title_justify="left")
    for i, name in enumerate(header):
        table.add_column(name, justify="left" if i < 2 or name == "status" else "right", overflow="fold")
    for row in rows:
        table.add_row(*row)
    Console(width=max(160, shutil.get_terminal_size().columns)).print(table)
