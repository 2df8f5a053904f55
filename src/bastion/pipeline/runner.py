"""The runner: the step graph in dependency order, independent branches in parallel, results cached by fingerprint.

Each step gets an empty workdir in the run's temporary work area; once it returns, its outputs go into the store
by digest and its result into the cache, and only then does the run record show it done. The work area is
removed when the run ends however it ends (Ctrl-C included), so the only artifacts left are the stored,
complete ones: a rerun finds the finished steps in the cache and restores their outputs from the store.

A step whose result is ``failed`` (a gate that says no) stops the run: steps already running finish, nothing
else starts. Threads here order the steps, digest their inputs, and store and record their results; the step
bodies run in worker processes (``_executors``), or with a Dask scheduler on the cluster's workers (which must
see the work area and the project, as for ``bastion scan --scheduler``).
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ThreadPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from bastion.core.errors import BastionError
from bastion.pipeline._cache import CacheEntry, StepCache, digest_path, fingerprint, restore_output, store_output
from bastion.pipeline._executors import WorkerProgress, run_body, step_executor
from bastion.pipeline._records import (
    RecordedStatus,
    RunRecord,
    RunStatus,
    StepRecord,
    finding_from_dict,
    new_run_id,
    now,
    runs_directory,
    write_record,
)
from bastion.pipeline.interface import Step, StepContext, StepResult

if TYPE_CHECKING:
    from bastion.pipeline.spec import PipelineSpec
    from bastion.store import Store

EXIT_GATE_FAILED = 1
EXIT_INTERRUPTED = 130


@dataclass(frozen=True)
class StepEvent:
    """What the runner tells a progress display; sent from the threads that run the steps."""

    step: str
    kind: Literal["started", "progress", "finished"]
    fraction: float = 0.0
    """Done so far, 0–1."""
    message: str | None = None
    status: RecordedStatus | None = None
    """Set when ``kind`` is ``finished``."""


@dataclass(frozen=True)
class RunOutcome:
    """A finished run: its record and its report."""

    record: RunRecord
    report: Path
    """report.json (report.html beside it)."""

    @property
    def exit_status(self) -> int:
        """0 when the run passed, 1 when a gate failed."""
        return 0 if self.record.status == "passed" else EXIT_GATE_FAILED


def run_pipeline(
    spec: PipelineSpec,
    spec_path: Path,
    *,
    steps: Sequence[Step] | None = None,
    use_cache: bool = True,
    scheduler: str | None = None,
    on_event: Callable[[StepEvent], None] | None = None,
    home: Path | None = None,
) -> RunOutcome:
    """Run ``steps`` (default: the standard graph for ``spec``) for the project holding ``spec_path``.

    A step's ``StepError`` (or any ``BastionError``) ends the run after it is recorded and is raised again;
    Ctrl-C marks the run interrupted and is raised again.
    """
    from bastion.core.home import bastion_home
    from bastion.store import open_key_provider, open_store

    if steps is None:
        from bastion.pipeline.steps import default_steps

        steps = default_steps(spec)
    home = home if home is not None else bastion_home()
    keys = open_key_provider(spec.key_provider) if spec.key_provider is not None else None
    store = open_store(spec.store, keys)
    return _Run(spec, spec_path, tuple(steps), store, home, use_cache, on_event or _ignore).run(scheduler)


def _ignore(event: StepEvent) -> None:
    pass


def _result_digest(result: StepResult) -> str:
    """What a downstream step may read of an upstream one besides its output files (a gate reads the findings)."""
    import hashlib
    import json

    summary = {
        "status": result.status,
        "metrics": result.metrics,
        "findings": [f.to_dict() for f in result.findings],
        "details": result.details,
    }
    return hashlib.sha256(json.dumps(summary, sort_keys=True, default=str).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class _Finished:
    record: StepRecord
    result: StepResult
    error: BastionError | None = None


class _Run:
    def __init__(
        self,
        spec: PipelineSpec,
        spec_path: Path,
        steps: tuple[Step, ...],
        store: Store,
        home: Path,
        use_cache: bool,
        on_event: Callable[[StepEvent], None],
    ) -> None:
        from graphlib import CycleError, TopologicalSorter

        from bastion.pipeline._environment import capture_environment

        self._steps = {step.name: step for step in steps}
        self._graph = {step.name: step.needs for step in steps}
        unknown = sorted({need for needs in self._graph.values() for need in needs} - set(self._graph))
        if len(self._steps) != len(steps) or unknown:
            raise BastionError(f"the step graph is broken: duplicate step names or unknown needs {unknown}")
        try:
            self._order = tuple(TopologicalSorter(self._graph).static_order())
        except CycleError as exc:
            raise BastionError(f"the step graph has a cycle: {' -> '.join(exc.args[1])}") from None
        self._spec, self._project, self._store, self._home = spec, spec_path.parent.resolve(), store, home
        self._cache, self._use_cache = StepCache(home, store), use_cache
        self._emit = on_event
        self._results: dict[str, StepResult] = {}
        self._running: dict[Future[_Finished], str] = {}
        """Steps started and not yet recorded, by their future."""
        self._environment = capture_environment()
        self._record = RunRecord(
            id=new_run_id(),
            pipeline=spec.name,
            spec=str(spec_path.resolve()),
            status="running",
            started=now(),
            environment=self._environment,
        )

    def run(self, scheduler: str | None) -> RunOutcome:
        from bastion.audit import record as audit

        begun = time.monotonic()
        directory = runs_directory(self._home) / self._record.id
        write_record(self._home, self._record)
        audit("pipeline.run", target=self._record.id, outcome="started", details={"pipeline": self._spec.name})
        with ExitStack() as stack:
            work = Path(tempfile.mkdtemp(prefix=".work-", dir=directory))
            stack.callback(shutil.rmtree, work, ignore_errors=True)
            bodies = stack.enter_context(step_executor(scheduler, self._relay_progress))
            # One thread per step at most: they wait on the bodies, and the bodies' executor limits the work.
            pool = ThreadPoolExecutor(max_workers=len(self._steps) or 1, thread_name_prefix="bastion-step")
            stack.callback(pool.shutdown, wait=False, cancel_futures=True)
            try:
                stopped_by, error = self._schedule(pool, bodies, work)
            except KeyboardInterrupt:
                self._finish("interrupted", None, begun, "the run was interrupted")
                raise
            except Exception:
                # A bug, not the user's project: the run is still recorded as ended, never left "running".
                self._finish("failed", None, begun, "the run stopped on an internal error")
                raise
        if stopped_by is None:
            outcome = self._finish("passed", None, begun, None)
        else:
            reason = f"the {stopped_by} step " + ("stopped the run" if error else "failed")
            outcome = self._finish("failed", error, begun, reason)
        if error is not None:
            raise error
        return outcome

    def _relay_progress(self, step: str, fraction: float, message: str) -> None:
        self._emit(StepEvent(step, "progress", fraction, message))

    def _schedule(self, pool: Executor, bodies: Executor, work: Path) -> tuple[str | None, BastionError | None]:
        """Run the graph until it is done or a step fails; the failing step and its error, if any."""
        from graphlib import TopologicalSorter

        from bastion.audit import record as audit

        sorter = TopologicalSorter(self._graph)
        sorter.prepare()
        running = self._running
        stopped_by: str | None = None
        error: BastionError | None = None
        while running or (stopped_by is None and sorter.is_active()):
            if stopped_by is None:
                for name in sorter.get_ready():
                    running[pool.submit(self._execute, self._steps[name], bodies, work)] = name
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                finished = future.result()  # raises the KeyboardInterrupt of a step body cut short
                name = running.pop(future)
                self._results[name] = finished.result
                self._record = self._record.with_step(finished.record, self._order)
                write_record(self._home, self._record)
                step = finished.record
                audit(
                    "pipeline.step",
                    target=f"{self._record.id}/{name}",
                    outcome=step.status,
                    details={
                        "run": self._record.id,
                        "step": name,
                        "inputs": {**step.inputs, **step.upstream},
                        "outputs": dict(step.outputs),
                        "duration": step.duration_s,
                    },
                )
                if finished.result.status == "failed" and stopped_by is None:
                    stopped_by, error = name, finished.error
                sorter.done(name)
        return stopped_by, error

    def _execute(self, step: Step, bodies: Executor, work: Path) -> _Finished:
        started, begun = now(), time.monotonic()
        self._emit(StepEvent(step.name, "started"))
        try:
            finished = self._attempt(step, bodies, work, started, begun)
        except BrokenProcessPool:
            # The worker running the body died (the kernel's out-of-memory killer, a crash in native code).
            died = BastionError(
                f"the process running the {step.name} step died without a result (out of memory, or killed); "
                "free memory or lower the data size, then run again"
            )
            finished = self._failed(step, started, begun, died)
        except BastionError as exc:
            # A problem in the user's project (a StepError, a policy file that does not parse): the step failed.
            finished = self._failed(step, started, begun, exc)
        self._emit(StepEvent(step.name, "finished", 1.0, finished.record.message, finished.record.status))
        return finished

    def _failed(self, step: Step, started: str, begun: float, exc: BastionError) -> _Finished:
        duration = round(time.monotonic() - begun, 3)
        record = StepRecord(step.name, "failed", started, duration, step.needs, message=str(exc), environment=self._environment)
        return _Finished(record, StepResult("failed", message=str(exc)), exc)

    def _attempt(self, step: Step, bodies: Executor, work: Path, started: str, begun: float) -> _Finished:
        workdir = work / step.name
        workdir.mkdir()
        context = StepContext(
            run_id=self._record.id,
            spec=self._spec,
            project=self._project,
            workdir=workdir,
            upstream={need: self._results[need] for need in step.needs},
            store=self._store,
            home=self._home,
            progress=WorkerProgress(step.name),
        )
        params = dict(step.params(self._spec))
        inputs = {name: digest_path(path) for name, path in step.inputs(context).items()}
        upstream = {
            f"{s.name}/{o}": digest for s in self._record.steps if s.name in step.needs for o, digest in s.outputs.items()
        }
        results = {need: _result_digest(self._results[need]) for need in step.needs}
        key = fingerprint(step.name, step.version, params, inputs, upstream, results)
        entry = self._cache.lookup(key) if self._use_cache and step.cacheable else None
        if entry is not None:
            result = StepResult(
                status=entry.status,
                outputs={name: restore_output(self._store, workdir, output) for name, output in entry.outputs.items()},
                metrics=entry.metrics,
                findings=tuple(finding_from_dict(f) for f in entry.findings),
                details=entry.details,
                message=entry.message,
            )
            status: RecordedStatus = "cached"
            stored = dict(entry.outputs)
            environment: Mapping[str, Any] = self._environment
        else:
            result, environment = bodies.submit(run_body, step, context).result()
            stored = {name: store_output(self._store, workdir, path) for name, path in result.outputs.items()}
            status = result.status
            if step.cacheable:
                findings = tuple(f.to_dict() for f in result.findings)
                entry = CacheEntry(
                    step.name, result.status, stored, result.metrics, findings, result.details, result.message, self._record.id
                )
                self._cache.save(key, entry)
        record = StepRecord(
            name=step.name,
            status=status,
            started=started,
            duration_s=round(time.monotonic() - begun, 3),
            needs=step.needs,
            fingerprint=key,
            inputs=inputs,
            upstream=upstream,
            outputs={name: output.digest for name, output in stored.items()},
            params=params,
            metrics=dict(result.metrics),
            findings=tuple(f.to_dict() for f in result.findings),
            details=dict(result.details),
            message=result.message,
            environment=environment,
        )
        return _Finished(record, result)

    def _finish(self, status: RunStatus, error: BastionError | None, begun: float, reason: str | None) -> RunOutcome:
        from bastion.audit import record as audit
        from bastion.pipeline._report_data import report_data
        from bastion.pipeline.report import write_report

        cut_short = set(self._running.values())
        for name in self._order:
            if self._record.step(name) is None:
                message = f"cut short: {reason}" if name in cut_short else f"not run: {reason}"
                skipped = StepRecord(name, "skipped", needs=self._steps[name].needs, message=message)
                self._record = self._record.with_step(skipped, self._order)
        self._record = dataclasses.replace(
            self._record,
            status=status,
            finished=now(),
            duration_s=round(time.monotonic() - begun, 3),
            error=str(error) if error is not None else None,
        )
        # The run's end is recorded first: a report that cannot be written must not leave it "running".
        write_record(self._home, self._record)
        audit(
            "pipeline.run",
            target=self._record.id,
            outcome=status,
            details={"pipeline": self._spec.name, "error": self._record.error},
        )
        report, _ = write_report(report_data(self._record), runs_directory(self._home) / self._record.id)
        self._record = dataclasses.replace(self._record, report=str(report))
        write_record(self._home, self._record)
        return RunOutcome(self._record, report)
