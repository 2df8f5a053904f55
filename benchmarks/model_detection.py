"""Detection-rate comparison: every tool on every file of the test corpus (tests/models/payloads.py).

Malicious samples come from ``all_malicious(marker)``; benign ones from the generator's benign function
(the first of ``BENIGN_FUNCTIONS`` it defines). Each returns ``{name: bytes}`` (a path to a file is taken
too). Files are written with their conventional extension, because picklescan and modelscan pick a scanner
by extension; a name without one gets it from the content.

A detection is the tool saying "unsafe" by its documented exit status (tools.FLAGGED; Bastion runs with
``--fail-on medium``, see BASTION_FAIL_ON); an error or "unsupported" on a malicious file is
counted apart — it blocks a CI job but tells nobody what is wrong. Payloads write ``marker`` if they ever
run: it must not exist after the scans.
"""

from __future__ import annotations

import importlib
import inspect
import shutil
import sys
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tools
from harness import print_rows, run_once

PAYLOADS_MODULE = "tests.models.payloads"
MALICIOUS_FUNCTION = "all_malicious"
BENIGN_FUNCTIONS = ("all_benign", "benign", "all_benign_files", "benign_corpus")
# The corpus holds "suspicious" samples (an unknown class merely instantiated) that Bastion reports at medium;
# with its default --fail-on high they would exit 0. Medium counts both ways: a benign file with a medium
# finding is a false alarm.
BASTION_FAIL_ON = "medium"
MAX_LISTED = 30


class CorpusUnavailable(RuntimeError):
    """The corpus generator is not there (yet), or does not have the expected functions."""


@dataclass(frozen=True)
class Sample:
    name: str
    path: Path
    malicious: bool


def load_generators() -> tuple[Callable[..., Any], Callable[..., Any]]:
    """The corpus generator's (malicious, benign) functions, imported from the repository's tests package."""
    if not (tools.REPO / "tests" / "models" / "payloads.py").exists():
        raise CorpusUnavailable("tests/models/payloads.py does not exist yet; the detection comparison needs it")
    if str(tools.REPO) not in sys.path:
        sys.path.insert(0, str(tools.REPO))
    try:
        module = importlib.import_module(PAYLOADS_MODULE)
    except Exception as exc:  # the generator is someone else's work in progress: report, don't crash the run
        raise CorpusUnavailable(f"importing {PAYLOADS_MODULE} failed: {type(exc).__name__}: {exc}") from exc
    malicious = getattr(module, MALICIOUS_FUNCTION, None)
    benign = next((getattr(module, n) for n in BENIGN_FUNCTIONS if callable(getattr(module, n, None))), None)
    if not callable(malicious) or benign is None:
        public = sorted(n for n in dir(module) if not n.startswith("_") and callable(getattr(module, n)))
        raise CorpusUnavailable(
            f"{PAYLOADS_MODULE} needs {MALICIOUS_FUNCTION}(marker) and one of {', '.join(BENIGN_FUNCTIONS)}; "
            f"it has: {', '.join(public)}"
        )
    return malicious, benign


def write_corpus(workdir: Path, marker: Path) -> list[Sample]:
    """Generate the corpus and write it under ``workdir/corpus/{malicious,benign}/`` (rewritten every run)."""
    malicious_fn, benign_fn = load_generators()
    root = workdir / "corpus"
    if root.exists():
        shutil.rmtree(root)
    scratch = workdir / "corpus-build"
    scratch.mkdir(parents=True, exist_ok=True)
    samples: list[Sample] = []
    try:
        generated = (("malicious", _call(malicious_fn, marker)), ("benign", _call(benign_fn, scratch)))
    except Exception as exc:  # e.g. a library the benign generator needs is not installed in this venv
        raise CorpusUnavailable(f"the corpus generator failed: {type(exc).__name__}: {exc}") from exc
    for label, produced in generated:
        folder = root / label
        folder.mkdir(parents=True)
        for name, content in _items(produced):
            data = content if isinstance(content, bytes) else Path(content).read_bytes()
            path = folder / _file_name(name, data)
            path.write_bytes(data)
            samples.append(Sample(name, path, label == "malicious"))
    return samples


def run(kit: tools.Tools, workdir: Path, selected: Sequence[str], *, timeout: float) -> dict[str, Any]:
    """Scan every corpus file with every selected tool; print the rates; return the figures for the results file."""
    print("\nDetection comparison on the test corpus")
    marker = workdir / "scratch" / "PAYLOAD-RAN"
    marker.unlink(missing_ok=True)
    try:
        samples = write_corpus(workdir, marker)
    except CorpusUnavailable as exc:
        print(f"  skipped: {exc}")
        return {"status": "skipped", "reason": str(exc)}
    # One bastion variant suffices here: the digest does not change a verdict.
    names = [t for t in selected if t != tools.BASTION_NO_DIGEST] or [tools.BASTION]
    report = kit.scratch / "modelscan-report.json"
    rows: list[dict[str, Any]] = []
    for sample in samples:
        row: dict[str, Any] = {"name": sample.name, "file": sample.path.name, "malicious": sample.malicious}
        for tool in names:
            report.unlink(missing_ok=True)
            argv = kit.argv(tool, sample.path, report=report if tool == tools.MODELSCAN else None, fail_on=BASTION_FAIL_ON)
            result = run_once(argv, timeout=timeout, cwd=kit.scratch)
            verdict, detail = tools.verdict(tool, result, sample.path, report=report)
            row[tool] = {"verdict": verdict, "exit": result.exit_code, "detail": detail}
        rows.append(row)
    summary = summarize(rows, names)
    print_summary(summary, names)
    print_bastion_misses(rows, names)
    ran = marker.exists()
    if ran:
        print(f"  WARNING: {marker} exists — some tool executed a payload while scanning")
    return {"status": "ok", "tools": names, "summary": summary, "files": rows, "payload_executed": ran}


def summarize(rows: Sequence[dict[str, Any]], names: Sequence[str]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for tool in names:
        counts = {"malicious": 0, "detected": 0, "malicious_error": 0, "benign": 0, "false_alarms": 0, "benign_error": 0}
        for row in rows:
            verdict = row[tool]["verdict"]
            if row["malicious"]:
                counts["malicious"] += 1
                counts["detected"] += verdict == tools.FLAGGED
                counts["malicious_error"] += verdict in (tools.ERROR, tools.UNSUPPORTED)
            else:
                counts["benign"] += 1
                counts["false_alarms"] += verdict == tools.FLAGGED
                counts["benign_error"] += verdict in (tools.ERROR, tools.UNSUPPORTED)
        out[tool] = counts
    return out


def print_summary(summary: Mapping[str, Mapping[str, int]], names: Sequence[str]) -> None:
    def rate(n: int, total: int) -> str:
        return f"{n}/{total} ({100 * n / total:.0f}%)" if total else "—"

    header = [
        "tool",
        "detected (malicious flagged)",
        "error/unsupported on malicious",
        "false alarms (benign flagged)",
        "error on benign",
    ]
    rows = [
        [
            tool,
            rate(c["detected"], c["malicious"]),
            str(c["malicious_error"]),
            rate(c["false_alarms"], c["benign"]),
            str(c["benign_error"]),
        ]
        for tool in names
        for c in [summary[tool]]
    ]
    print_rows(header, rows, title="Detection rates")


def print_bastion_misses(rows: Sequence[dict[str, Any]], names: Sequence[str]) -> None:
    """The files Bastion gets wrong, with every tool's verdict beside it: the to-do list for the scanner."""
    if tools.BASTION not in names:
        return
    wrong = [r for r in rows if (r[tools.BASTION]["verdict"] == tools.FLAGGED) != r["malicious"]]
    if not wrong:
        return
    header = ["file", "expected", *names, "bastion detail"]
    shown = wrong[:MAX_LISTED]
    table = [
        [
            r["file"],
            "malicious" if r["malicious"] else "benign",
            *(r[t]["verdict"] for t in names),
            r[tools.BASTION]["detail"][:60],
        ]
        for r in shown
    ]
    print_rows(header, table, title=f"Files Bastion gets wrong ({len(wrong)})")
    if len(wrong) > len(shown):
        print(f"  … and {len(wrong) - len(shown)} more (all verdicts are in the results file)")


def _call(fn: Callable[..., Any], arg: Path) -> Any:
    """Call a generator with ``arg`` when it takes a parameter (the marker, or a scratch directory)."""
    params = [p for p in inspect.signature(fn).parameters.values() if p.default is inspect.Parameter.empty]
    return fn(arg) if params else fn()


def _items(produced: Any) -> list[tuple[str, bytes | str | Path]]:
    if isinstance(produced, Mapping):
        return [(str(k), v) for k, v in produced.items()]
    return [(str(k), v) for k, v in produced]  # an iterable of (name, content) pairs


# Suffixes kept as they are; any other (e.g. the ".system" of "dotted_pathlib_os.system") is part of the name.
_PICKLE_SUFFIXES = {".pkl", ".pickle", ".joblib", ".dill", ".dat", ".data", ".pt", ".pth", ".bin", ".ckpt", ".npy", ".npz"}
_OTHER_SUFFIXES = {".zip", ".tar", ".h5", ".keras", ".onnx", ".gguf", ".safetensors"}
_COMPRESSED_SUFFIXES = {".gz", ".gzip", ".bz2", ".xz", ".lzma", ".zlib", ".lz4"}
MODEL_SUFFIXES = frozenset(_PICKLE_SUFFIXES | _OTHER_SUFFIXES | _COMPRESSED_SUFFIXES)


def _file_name(name: str, data: bytes) -> str:
    """A safe file name that keeps the sample's model extension, or adds the conventional one for its content."""
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in name.replace("/", "__")).lstrip(".") or "sample"
    return safe if Path(safe).suffix.lower() in MODEL_SUFFIXES else safe + _extension_for(data)


def _extension_for(data: bytes) -> str:
    if data.startswith(b"PK"):
        try:
            import io

            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                names = zf.namelist()
        except (zipfile.BadZipFile, ValueError, OSError):
            return ".zip"
        if any(n.endswith("data.pkl") for n in names):
            return ".pt"
        return ".npz" if names and all(n.endswith(".npy") for n in names) else ".zip"
    if data.startswith(b"\x93NUMPY"):
        return ".npy"
    if data.startswith(b"\x89HDF\r\n\x1a\n"):
        return ".h5"
    return ".pkl"
