"""Running the scanners over files: detection, digests beside the scan, processes across files."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from bastion.core import Artifact, Category, Finding, Kind, Location, Report, ScanStatus, Severity
from bastion.scanners.detect import HEAD_SIZE, detect
from bastion.scanners.interface import ScanError, Scanner, ScanOptions, ScanTarget
from bastion.scanners.walk import WalkEntry, walk

if TYPE_CHECKING:
    from concurrent.futures import Executor  # importing it costs a scan's start-up ~6 ms (logging, threading)

ProgressCallback = Callable[[int, int], None]
"""Called with (files done, files in all) as the scan advances."""

_READ_WHOLE_LIMIT = 8 * 1024 * 1024
"""Files up to this size are read once into memory and hashed from there; larger ones are hashed
by a thread while the scanners work, so the digest never costs a second pass."""
_POOL_MIN_FILES = 2
_POOL_MIN_BYTES = 4 * 1024 * 1024
_POOL_MIN_COUNT = 32


class _Job(NamedTuple):
    scanners: tuple[Scanner, ...]
    options: ScanOptions
    digest: bool


_job: _Job | None = None  # set in each worker (and in-process) before files are scanned


def scan_paths(
    paths: Sequence[str],
    *,
    scanners: Sequence[Scanner],
    options: ScanOptions | None = None,
    digest: bool = True,
    jobs: int | None = None,
    progress: ProgressCallback | None = None,
    executor: Executor | None = None,
) -> Report:
    """Scan files and directories with ``scanners``; findings come back in a deterministic order.

    ``executor`` runs one task per file instead of the local processes (a Dask cluster, see ``scanners.cluster``).
    """
    entries = walk(paths)
    job = _Job(tuple(scanners), options or ScanOptions(), digest)
    if executor is not None:
        results = []
        for result in executor.map(functools.partial(_scan_entry_with, job), entries):
            results.append(result)
            if progress:
                progress(len(results), len(entries))
    else:
        results = _run(entries, job, jobs or os.cpu_count() or 1, progress)
    artifacts = tuple(artifact for artifact, _ in results)
    findings = tuple(sorted((f for _, found in results for f in found), key=Finding.sort_key))
    return Report(scanned=artifacts, findings=findings)


def _run(
    entries: list[WalkEntry], job: _Job, workers: int, progress: ProgressCallback | None
) -> list[tuple[Artifact, list[Finding]]]:
    total = len(entries)
    results: list[tuple[Artifact, list[Finding]]] = []
    if workers > 1 and total >= _POOL_MIN_FILES and _worth_a_pool(entries):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        context = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
        workers = min(workers, total)
        chunksize = max(1, min(64, total // (workers * 8)))
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=(job,)) as pool:
            for result in pool.map(_scan_entry, entries, chunksize=chunksize):
                results.append(result)
                if progress:
                    progress(len(results), total)
        return results
    # In this process the job is passed, not set globally: pipeline steps scan from several threads at once.
    for entry in entries:
        results.append(_scan_entry_with(job, entry))
        if progress:
            progress(len(results), total)
    return results


def _worth_a_pool(entries: list[WalkEntry]) -> bool:
    if len(entries) >= _POOL_MIN_COUNT:
        return True
    size = 0
    for entry in entries:
        try:
            size += entry.path.stat().st_size
        except OSError:
            continue
    return size >= _POOL_MIN_BYTES


def _init_worker(job: _Job) -> None:
    global _job
    _job = job


def _scan_entry(entry: WalkEntry) -> tuple[Artifact, list[Finding]]:
    assert _job is not None, "the engine sets the job before scanning"
    return _scan_entry_with(_job, entry)


def _scan_entry_with(job: _Job, entry: WalkEntry) -> tuple[Artifact, list[Finding]]:
    if entry.escapes_tree is not None:
        finding = Finding(
            rule_id="fs.symlink.outside-tree",
            category=Category.MISCONFIGURATION,
            severity=Severity.MEDIUM,
            message=f"symlink points outside the scanned tree (to {entry.escapes_tree}); not followed",
            location=Location(path=entry.display),
            remediation="Replace the link with the file itself, or scan its target explicitly.",
        )
        return Artifact(entry.display, Kind.UNKNOWN, "symlink", status=ScanStatus.COMPLETE), [finding]
    if entry.error is not None:
        return Artifact(entry.display, Kind.UNKNOWN, status=ScanStatus.ERROR, error=entry.error), []
    try:
        return _scan_file(entry, job)
    except OSError as exc:
        message = f"cannot read: {exc.strerror or exc}"
        return Artifact(entry.display, Kind.UNKNOWN, status=ScanStatus.ERROR, error=message), []


def _scan_file(entry: WalkEntry, job: _Job) -> tuple[Artifact, list[Finding]]:
    size = entry.path.stat().st_size
    data: bytes | None = None
    hasher: _BackgroundDigest | None = None
    sha256: str | None = None
    if size <= _READ_WHOLE_LIMIT:
        data = entry.path.read_bytes()
        size = len(data)
        head = data[:HEAD_SIZE]
        if job.digest:
            import hashlib  # here: a scan with --no-digest never loads OpenSSL

            sha256 = hashlib.sha256(data).hexdigest()
    else:
        with entry.path.open("rb") as handle:
            head = handle.read(HEAD_SIZE)
        if job.digest:
            hasher = _BackgroundDigest(entry.path)
    detection = detect(entry.path, head, size)
    target = ScanTarget(entry.path, entry.display, detection.kind, detection.format, size, job.options, data)

    findings: list[Finding] = []
    status, error = ScanStatus.COMPLETE, None
    for scanner in job.scanners:
        if not scanner.handles(target):
            continue
        try:
            findings.extend(scanner.scan(target))
        except ScanError as exc:
            findings.extend(exc.findings)
            status = _worse(status, ScanStatus.PARTIAL if exc.partial else ScanStatus.ERROR)
            error = _join(error, f"{scanner.name}: {exc}")
        except OSError as exc:
            status = _worse(status, ScanStatus.ERROR)
            error = _join(error, f"{scanner.name}: cannot read: {exc.strerror or exc}")
        except Exception as exc:  # a scanner bug must never pass a file as clean
            status = _worse(status, ScanStatus.ERROR)
            error = _join(error, f"{scanner.name}: internal error ({type(exc).__name__}: {exc}); please report it")
    if hasher is not None:
        sha256 = hasher.result()
    artifact = Artifact(entry.display, detection.kind, detection.format, sha256, size, status, error)
    return artifact, findings


class _BackgroundDigest:
    """SHA-256 of a file computed by a thread (hashlib releases the GIL on large buffers)."""

    def __init__(self, path: Path) -> None:
        self._digest: str | None = None
        self._error: OSError | None = None
        import threading

        self._thread = threading.Thread(target=self._run, args=(path,), daemon=True)
        self._thread.start()

    def _run(self, path: Path) -> None:
        try:
            with path.open("rb") as handle:
                import hashlib

                self._digest = hashlib.file_digest(handle, "sha256").hexdigest()
        except OSError as exc:
            self._error = exc

    def result(self) -> str:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._digest is not None
        return self._digest


_STATUS_ORDER = (ScanStatus.COMPLETE, ScanStatus.PARTIAL, ScanStatus.ERROR)


def _worse(a: ScanStatus, b: ScanStatus) -> ScanStatus:
    return a if _STATUS_ORDER.index(a) >= _STATUS_ORDER.index(b) else b


def _join(previous: str | None, message: str) -> str:
    return message if previous is None else f"{previous}; {message}"
