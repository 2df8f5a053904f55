"""Where step bodies run: worker processes on this machine, or a Dask cluster.

Local bodies run in a pool of worker processes, not threads: two steps importing the same libraries from two
threads at once can deadlock on their circular imports (Faker's providers did), CPU-bound steps get a core each
despite the GIL, and a step that forks (the scan engine's pool) forks a single-threaded process. The pool starts
on the first body to run, so a run restored wholly from the cache starts no process. Workers report progress
through a queue that a thread here turns into calls of ``on_progress``.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from multiprocessing.queues import SimpleQueue

    from bastion.pipeline.interface import Step, StepContext, StepResult

ProgressSink = Callable[[str, float, str], None]
"""Receives (step, fraction, message) in the runner's process."""

_queue: SimpleQueue[tuple[str, float, str] | None] | None = None
"""In a local worker process: where progress goes. None elsewhere (a Dask worker), where it is dropped."""
_busy = False
"""True while this process runs a step body."""


@dataclass(frozen=True)
class WorkerProgress:
    """A step's ``context.progress`` in a worker process (picklable, unlike the progress display)."""

    step: str

    def __call__(self, fraction: float, message: str) -> None:
        if _queue is not None:
            _queue.put((self.step, fraction, message))


def run_body(step: Step, context: StepContext) -> tuple[StepResult, dict[str, Any]]:
    """A step's body and the environment it ran in (that of the worker)."""
    from bastion.pipeline._environment import capture_environment

    global _busy
    _busy = True
    try:
        return step.run(context), capture_environment()
    finally:
        _busy = False


@contextmanager
def step_executor(scheduler: str | None, on_progress: ProgressSink) -> Iterator[Executor]:
    """The executor of step bodies: a Dask cluster for ``scheduler`` (``bastion scan --scheduler``'s), else local processes."""
    if scheduler is not None:
        from bastion.scanners.cluster import cluster_executor

        with cluster_executor(scheduler) as cluster:
            yield cluster
        return
    processes = _LocalProcesses(on_progress)
    try:
        yield processes
    finally:
        processes.shutdown(wait=False, cancel_futures=True)


class _LocalProcesses(Executor):
    def __init__(self, on_progress: ProgressSink) -> None:
        self._on_progress = on_progress
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._progress: SimpleQueue[tuple[str, float, str] | None] | None = None

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        with self._lock:
            if self._pool is None:
                import multiprocessing

                # forkserver: workers forked from a clean single-threaded server, not from this threaded process.
                context = multiprocessing.get_context("forkserver" if sys.platform == "linux" else "spawn")
                self._progress = context.SimpleQueue()
                threading.Thread(target=self._relay, args=(self._progress,), daemon=True).start()
                self._pool = ProcessPoolExecutor(
                    max(2, os.cpu_count() or 1), mp_context=context, initializer=_start_worker, initargs=(self._progress,)
                )
            return self._pool.submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            if self._pool is not None and self._progress is not None:
                self._pool.shutdown(wait=wait, cancel_futures=cancel_futures)
                self._progress.put(None)

    def _relay(self, queue: SimpleQueue[tuple[str, float, str] | None]) -> None:
        while (item := queue.get()) is not None:
            self._on_progress(*item)


def _start_worker(queue: SimpleQueue[tuple[str, float, str] | None]) -> None:
    import signal

    global _queue
    _queue = queue
    signal.signal(signal.SIGINT, _interrupted)


def _interrupted(signum: int, frame: object) -> None:
    """Ctrl-C reaches the workers too: a busy one stops its step (the runner records the run as interrupted); an idle
    one has nothing to clean up and leaves at once, without the traceback of a KeyboardInterrupt in its queue read."""
    if _busy:
        raise KeyboardInterrupt
    os._exit(130)
