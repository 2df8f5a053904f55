"""What a pipeline step is, what the runner hands it, and what it hands back.

Steps know nothing of each other's internals: a step reads the files its upstream steps wrote (by output
name), writes its own into its working directory, and returns a ``StepResult``. The runner stores every
output by digest, which is what makes caching, lineage and resuming after an interruption possible.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from bastion.core.errors import BastionError

if TYPE_CHECKING:
    from bastion.core.finding import Finding
    from bastion.pipeline.spec import PipelineSpec
    from bastion.store import Store

StepStatus = Literal["passed", "failed"]


class StepError(BastionError):
    """A step could not do its work because of the user's project (a missing column, a function that raises):
    the run stops with this one line and exit status 2. A gate that says no is not an error: it is a failed
    ``StepResult``."""


@dataclass(frozen=True)
class StepContext:
    """What the runner gives a step."""

    run_id: str
    """The run's identifier (``bastion runs show RUN``)."""
    spec: PipelineSpec
    """The validated ``bastion.yaml``."""
    project: Path
    """The directory holding ``bastion.yaml``; relative input paths are resolved against it."""
    workdir: Path
    """This step's own empty directory: the step writes its outputs here and nowhere else."""
    upstream: Mapping[str, StepResult]
    """The results of the steps named in ``Step.needs``, by step name (outputs already on disk)."""
    store: Store
    """The artifact store of the instance."""
    home: Path
    """``BASTION_HOME`` (keys, registry database, audit log)."""
    progress: Callable[[float, str], None] = lambda fraction, message: None
    """Report progress: the fraction done (0–1) and a short message for the progress bar."""

    def output(self, step: str, name: str) -> Path:
        """The file an upstream step wrote under ``name``; a missing one is a bug in the step graph."""
        return self.upstream[step].outputs[name]


@dataclass(frozen=True)
class StepResult:
    """What a step hands back to the runner."""

    status: StepStatus
    """``failed`` stops the run after this step (a gate that says no); nothing downstream runs."""
    outputs: Mapping[str, Path] = field(default_factory=dict)
    """Named files or directories the step wrote in its ``workdir``; stored by digest, passed downstream."""
    metrics: Mapping[str, float | None] = field(default_factory=dict)
    """Measured values a gate can judge (``accuracy``, ``mia_auc``, ``DPL[sex]`` …)."""
    findings: tuple[Finding, ...] = ()
    """Findings the step made (scans, model tests); they appear in the report by stage."""
    details: Mapping[str, Any] = field(default_factory=dict)
    """JSON-able report sections, keyed by their report.json name (``metrics``, ``bias``, ``attributions``, …);
    a gate step puts ``{"gate": {"name", "decision", "reasons"}}`` here."""
    message: str | None = None
    """One line for the user: what the step did, or for a failed step, why."""


class Step(ABC):
    """One stage of the pipeline."""

    name: ClassVar[str]
    """The step's name in ``bastion.yaml``, the report and the lineage (``scan``, ``train`` …)."""
    version: ClassVar[int] = 1
    """Bumped when the step's behaviour changes, so that results cached by an older Bastion are not reused."""
    needs: ClassVar[tuple[str, ...]] = ()
    """The steps whose outputs this one reads; steps with no path between them may run in parallel."""

    def params(self, spec: PipelineSpec) -> Mapping[str, Any]:
        """The settings that decide this step's result besides its inputs (part of the cache key); JSON-able."""
        return {}

    def inputs(self, context: StepContext) -> Mapping[str, Path]:
        """Project files the step reads directly (raw data, code); their digests are part of the cache key."""
        return {}

    cacheable: ClassVar[bool] = True
    """False for steps with effects outside their workdir that must happen on every run (register)."""

    @abstractmethod
    def run(self, context: StepContext) -> StepResult:
        """Do the work; raise ``StepError`` for a problem in the user's project."""
