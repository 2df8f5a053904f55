"""``bastion.yaml``: what a project feeds the pipeline and how each step is set.

The models are pydantic dataclasses (unknown keys are refused, so a misspelt setting never passes silently);
``load_spec`` reads the file and names the line of the first problem.
"""

from __future__ import annotations

from dataclasses import field
from typing import Any, ClassVar, Literal

from pydantic.dataclasses import dataclass

_STRICT: dict[str, Any] = {"extra": "forbid"}


@dataclass(frozen=True, config=_STRICT)  # type: ignore[call-overload]
class FacetSpec:
    """A sensitive attribute whose bias is measured."""

    column: str
    """The column holding the attribute."""
    sensitive: tuple[str | int | float | bool, ...] = ()
    """Values that put a row in the disadvantaged facet."""
    threshold: float | None = None
    """For a numeric column: rows above it form the disadvantaged facet."""


@dataclass(frozen=True, config=_STRICT)  # type: ignore[call-overload]
class InputsSpec:
    """What goes into the pipeline, as paths relative to ``bastion.yaml``."""

    datasets: tuple[str, ...]
    """Tables (CSV, TSV, Parquet, JSON Lines); the first is the training table."""
    target: str
    """The label column of the training table."""
    positive_label: str | int | float | bool = 1
    """The label value that counts as positive for the metrics and the bias measures."""
    facets: tuple[FacetSpec, ...] = ()
    """Sensitive attributes whose bias is measured before and after training."""
    features: tuple[str, ...] | None = None
    """The columns the model may use; default: every column left after anonymization but the target and the facets
    (sensitive attributes are measured, not learned from, unless listed here)."""
    code: tuple[str, ...] = ()
    """Directories and files of the project's code (scanned; put on the training child's path)."""
    notebooks: tuple[str, ...] = ()
    requirements: tuple[str, ...] = ()
    """Dependency manifests (requirements.txt, pyproject.toml, lock files)."""
    models: tuple[str, ...] = ()
    """Pretrained model files the project brings in."""


@dataclass(frozen=True, config=_STRICT)  # type: ignore[call-overload]
class ScanStepSpec:
    scanners: tuple[str, ...] | None = None
    """Scanner names (``bastion scan --scanners``); default: all of them."""
    offline: bool = True
    """Match dependencies against the local advisory mirror (``bastion vulndb update``) instead of the OSV API."""


@dataclass(frozen=True, config=_STRICT)  # type: ignore[call-overload]
class AnonymizeStepSpec:
    policy: str | None = None
    """An anonymization policy file (``bastion anonymize --policy``); without one the data passes unchanged."""


@dataclass(frozen=True, config=_STRICT)  # type: ignore[call-overload]
class SplitStepSpec:
    test_size: float = 0.2
    """The share of rows held out for evaluation and the model tests."""
    seed: int = 0
    stratify: bool = True


@dataclass(frozen=True, config=_STRICT)  # type: ignore[call-overload]
class IsolationSpec:
    network: bool = False
    """True lets the training code reach the network; by default it runs in its own empty network namespace."""
    require: bool = False
    """Refuse to train when the platform cannot isolate the network (instead of saying so and going on)."""
    memory_mb: int | None = 4096
    cpu_seconds: int | None = 3600
    timeout_seconds: float | None = 3600


@dataclass(frozen=True, config=_STRICT)  # type: ignore[call-overload]
class TrainStepSpec:
    estimator: str
    """``module:function`` in the project's code, returning an unfitted scikit-learn-compatible estimator."""
    params: dict[str, Any] = field(default_factory=dict)
    folds: int = 5
    seed: int = 0
    early_stopping: bool = True
    isolation: IsolationSpec = field(default_factory=IsolationSpec)


@dataclass(frozen=True, config=_STRICT)  # type: ignore[call-overload]
class ModelTestsStepSpec:
    membership_inference: bool = True
    robustness_noise: float = 0.05
    """Gaussian noise for the robustness test, as a share of each feature's standard deviation."""


@dataclass(frozen=True, config=_STRICT)  # type: ignore[call-overload]
class GatesSpec:
    pre_training: str | None = None
    """Policy file of the gate before training ("PASS = Security AND Compliance"); default: fail on high, and on
    PII from medium."""
    post_training: str | None = None
    """Policy file of the gate after the model tests ("PASS = Security"), with its metric thresholds."""


@dataclass(frozen=True, config=_STRICT)  # type: ignore[call-overload]
class SignStepSpec:
    key: str | None = None
    """A private key PEM; default: the instance's signing key made by ``bastion init``."""


@dataclass(frozen=True, config=_STRICT)  # type: ignore[call-overload]
class RegisterStepSpec:
    name: str | None = None
    """The registered model's name; default: the pipeline's name."""
    enabled: bool = True


@dataclass(frozen=True, config=_STRICT)  # type: ignore[call-overload]
class StepsSpec:
    scan: ScanStepSpec = field(default_factory=ScanStepSpec)
    anonymize: AnonymizeStepSpec = field(default_factory=AnonymizeStepSpec)
    split: SplitStepSpec = field(default_factory=SplitStepSpec)
    train: TrainStepSpec | None = None
    model_tests: ModelTestsStepSpec = field(default_factory=ModelTestsStepSpec)
    sign: SignStepSpec = field(default_factory=SignStepSpec)
    register: RegisterStepSpec = field(default_factory=RegisterStepSpec)


@dataclass(frozen=True, config=_STRICT)  # type: ignore[call-overload]
class PipelineSpec:
    """A whole ``bastion.yaml``."""

    FILE_NAME: ClassVar[str] = "bastion.yaml"

    name: str
    """The pipeline's name (the registered model's default name)."""
    inputs: InputsSpec
    steps: StepsSpec
    gates: GatesSpec = field(default_factory=GatesSpec)
    version: Literal[1] = 1
    store: str | None = None
    """The artifact store URL; default ``BASTION_STORE_URL``, else ``BASTION_HOME/store``."""
    key_provider: str | None = None
    """The key provider URL for encryption at rest; default ``BASTION_KMS_URL``, else the local keyring."""
    registry: str | None = None
    """The registry database URL; default ``BASTION_DB_URL``, else SQLite under ``BASTION_HOME``."""
