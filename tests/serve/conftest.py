"""Serving fixtures: a Bastion instance (as ``bastion init`` makes it) with one user per role, and signed packages of
a real scikit-learn model (skops file, ``schema.json``, Kitfile) registered, approved and promoted through the registry.

``approved_model`` is the usual starting point: model ``churn`` version 1, approved for prod and in prod.
``instance.publish(name, directory)`` registers (as an ml-engineer), approves (as an approver) and promotes (as mlops)
any other model directory; ``model_directory(root, seed)`` trains one.
"""

from __future__ import annotations

import contextlib
import pickle
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from bastion.registry import Registry, Stage
from bastion.signing import KeyPair, build_package, generate_key_pair, sign_model
from bastion.signing.keys import PRIVATE_KEY_FILE, PUBLIC_KEY_FILE

FEATURES = ("age", "income", "tenure")
"""The inputs of the fixture models: an integer and two numbers."""
TARGET = "churn"
ROLES = ("ml-engineer", "data-scientist", "approver", "mlops", "auditor")
CLIENT_ROLE = "client"
"""A role the fixture adds (roles are data) holding only ``model.predict``."""


def training_table(seed: int, rows: int = 400) -> tuple[pa.Table, np.ndarray]:
    """Generated training data: churn is likelier for short tenure and low income."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 90, rows)
    income = rng.normal(50_000, 15_000, rows).round(2)
    tenure = rng.uniform(0, 10, rows).round(3)
    logit = 1.5 - 0.6 * tenure - (income - 50_000) / 20_000 + rng.normal(0, 0.5, rows)
    labels = (logit > 0).astype(np.int64)
    return pa.table({"age": age, "income": income, "tenure": tenure, TARGET: labels}), labels


def model_directory(root: Path, seed: int = 0) -> Path:
    """A package source directory: ``model.skops`` (a scaled logistic regression), ``schema.json`` and a Kitfile."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from bastion.ml.persist import save_model
    from bastion.ml.schema import ModelSchema, describe_inputs
    from bastion.signing import Kitfile, kitfile_yaml
    from bastion.signing.kitfile import Docs, Model, Package

    directory = root / f"churn-{seed}"
    directory.mkdir(parents=True)
    table, labels = training_table(seed)
    features = np.column_stack([table.column(name).to_numpy().astype(float) for name in FEATURES])
    model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0 + seed)).fit(features, labels)
    saved = save_model(model, directory, name="model")
    ModelSchema(
        inputs=describe_inputs(table, FEATURES),
        target=TARGET,
        classes=("0", "1"),
        positive_label="1",
        model_file=saved.path.name,
    ).write(directory)
    kitfile = Kitfile(
        package=Package(name="churn", description="churn model for the serving tests"),
        model=Model(name="churn", path=saved.path.name, framework="scikit-learn", format="skops"),
        docs=(Docs(path="schema.json", description="the model's input schema"),),
    )
    (directory / "Kitfile").write_text(kitfile_yaml(kitfile), encoding="utf-8")
    return directory


class _RunsACommand:
    """Pickled (never loaded): unpickling it would call os.system."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        import os

        return (os.system, ("id",))


def malicious_directory(root: Path, source: Path) -> Path:
    """A copy of ``source`` whose model file is a pickle that runs a command when loaded."""
    directory = root / f"{source.name}-malicious"
    shutil.copytree(source, directory)
    (directory / "model.skops").write_bytes(pickle.dumps(_RunsACommand(), protocol=4))
    return directory


@dataclass
class Instance:
    """A Bastion instance under its own BASTION_HOME: the registry, a token per role, and the signing key that
    ``bastion init`` made and the registry trusts."""

    home: Path
    registry: Registry
    tokens: dict[str, str]
    """By role name (``admin``, ``ml-engineer``, ``approver``, ``mlops``, ``data-scientist``, ``auditor``, ``client``);
    ``approver2`` is a second approver."""
    signing_key: KeyPair
    artifacts: Path
    """Where packages are built (an allowed artifact root)."""

    def package(self, source: Path, *, key: KeyPair | None = None) -> Path:
        """Build ``source`` into a package below ``artifacts`` and sign it (default: with the instance's key)."""
        output = Path(tempfile.mkdtemp(prefix=f"{source.name}-", dir=self.artifacts)) / "package"
        build_package(source, output)
        sign_model(output, (key or self.signing_key).private_key, output.with_name(output.name + ".sig"))
        return output

    def publish(self, name: str, source: Path, *, approve: bool = True, stage: Stage = Stage.PROD) -> int:
        """Package, sign and register ``source`` as the next version of ``name``; approve it for prod and promote it to
        ``stage`` unless told not to. Returns the version."""
        return self.publish_package(name, self.package(source), approve=approve, stage=stage)

    def publish_package(self, name: str, package: Path, *, approve: bool = True, stage: Stage = Stage.PROD) -> int:
        registry = self.registry
        version = registry.register(registry.authenticate(self.tokens["ml-engineer"]), package, name).version
        if approve:
            registry.approve(registry.authenticate(self.tokens["approver"]), name, version, stage=Stage.PROD)
            mlops = registry.authenticate(self.tokens["mlops"])
            if stage in (Stage.STAGING, Stage.PROD):
                registry.promote(mlops, name, version, Stage.STAGING)
            if stage is Stage.PROD:
                registry.promote(mlops, name, version, Stage.PROD)
        return version


@dataclass(frozen=True)
class ApprovedModel:
    """Model ``name`` version ``version``: signed by the instance key, approved for prod by an approver, in prod."""

    instance: Instance
    name: str
    version: int
    source: Path
    """The directory it was packaged from."""
    package: Path


@pytest.fixture(scope="session")
def churn_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The trained model directory (seed 0), built once."""
    return model_directory(tmp_path_factory.mktemp("models"), 0)


@pytest.fixture(scope="session")
def churn_source_v2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second, different model of the same inputs (seed 1): another version of ``churn``."""
    return model_directory(tmp_path_factory.mktemp("models-v2"), 1)


@contextlib.contextmanager
def new_instance(root: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Instance]:
    """A fresh instance as ``bastion init`` leaves it, plus one user per shipped role and a ``client`` role."""
    from bastion.audit import AuditSigner

    memory = Path("/dev/shm")
    scratch = Path(tempfile.mkdtemp(prefix="bastion-serve-", dir=memory if memory.is_dir() else root))
    home = scratch / "home"
    artifacts = root / "artifacts"
    artifacts.mkdir()
    monkeypatch.setenv("BASTION_HOME", str(home))
    monkeypatch.setenv("BASTION_ARTIFACT_ROOTS", str(artifacts))
    monkeypatch.delenv("BASTION_DB_URL", raising=False)
    monkeypatch.delenv("BASTION_AUDIT_URL", raising=False)
    monkeypatch.delenv("BASTION_TOKEN", raising=False)
    home.mkdir(mode=0o700)
    AuditSigner.open(home / "keys")
    (home / "audit").mkdir(mode=0o700)
    signing = generate_key_pair(home / "keys" / "signing")
    assert signing.private_key == home / "keys" / "signing" / PRIVATE_KEY_FILE
    registry = Registry.open(create=True)
    admin = registry.create_first_admin("root")
    assert admin is not None
    root_principal = registry.authenticate(admin.token)
    registry.trust_key(root_principal, home / "keys" / "signing" / PUBLIC_KEY_FILE)
    registry.add_role(root_principal, CLIENT_ROLE, ["model.predict"], "calls served models")
    tokens = {"admin": admin.token}
    for name, role in [*((role, role) for role in ROLES), ("approver2", "approver"), (CLIENT_ROLE, CLIENT_ROLE)]:
        tokens[name] = registry.add_user(root_principal, name.replace("-", ""), [role]).token
    try:
        yield Instance(home, registry, tokens, signing, artifacts)
    finally:
        registry.close()
        shutil.rmtree(scratch, ignore_errors=True)


@pytest.fixture
def instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Instance]:
    """A fresh instance for one test."""
    with new_instance(tmp_path, monkeypatch) as made:
        yield made


@pytest.fixture
def approved_model(instance: Instance, churn_source: Path) -> ApprovedModel:
    """``churn`` version 1, approved for prod and promoted to prod."""
    package = instance.package(churn_source)
    version = instance.publish_package("churn", package)
    return ApprovedModel(instance, "churn", version, churn_source, package)


@pytest.fixture(scope="module")
def shared_model(tmp_path_factory: pytest.TempPathFactory, churn_source: Path) -> Iterator[ApprovedModel]:
    """Like ``approved_model``, but one instance for a whole test module (for tests that change nothing in it)."""
    with pytest.MonkeyPatch.context() as monkeypatch, new_instance(tmp_path_factory.mktemp("instance"), monkeypatch) as made:
        package = made.package(churn_source)
        yield ApprovedModel(made, "churn", made.publish_package("churn", package), churn_source, package)


def example_records(count: int = 3, seed: int = 7) -> list[dict[str, Any]]:
    """Valid request rows (inside the training ranges)."""
    table, _ = training_table(seed, count)
    return [{name: row[name] for name in FEATURES} for row in table.to_pylist()]


@dataclass(frozen=True)
class RunningServer:
    """A real uvicorn server on 127.0.0.1 serving a Bastion app."""

    url: str
    state: Any
    """The app's ``ServerState``."""


@contextlib.contextmanager
def running_server(config: Any, **kwargs: Any) -> Iterator[RunningServer]:
    """Admit ``config``'s models and serve them with uvicorn on a free port of 127.0.0.1 (in a thread) until the end
    of the ``with`` block."""
    import socket
    import threading
    import time

    import uvicorn

    from bastion.serve._server import build_state
    from bastion.serve.app import create_app

    state = build_state(config, **kwargs)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(state), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield RunningServer(f"http://127.0.0.1:{port}", state)
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture
def start_server() -> Iterator[Any]:
    """``start_server(config)``: a ``RunningServer`` (see ``running_server``) stopped at the end of the test."""
    with contextlib.ExitStack() as stack:
        yield lambda config, **kwargs: stack.enter_context(running_server(config, **kwargs))
