"""Registry fixtures: a real PostgreSQL server (Debian's, in a temporary data directory, on 127.0.0.1, as an
unprivileged user), signed packages built with Bastion's own packager, and a registry with one user per shipped role."""

from __future__ import annotations

import contextlib
import itertools
import os
import pickle
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from bastion.registry import Principal, Registry
from bastion.signing import KeyPair, build_package, generate_key_pair, sign_model

PG_BIN = max(
    Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name), default=Path("/usr/lib/postgresql/15/bin")
)
"""The newest installed PostgreSQL server (Debian installs each major version side by side)."""
ROLES = ("admin", "ml-engineer", "data-scientist", "approver", "mlops", "auditor")
BACKENDS = ("sqlite", "postgresql")


@dataclass(frozen=True)
class PostgresServer:
    """A running PostgreSQL server that tests create databases on."""

    port: int
    _databases: Iterator[int]

    def new_database(self) -> str:
        """A fresh, empty database; its SQLAlchemy URL."""
        import psycopg

        name = f"bastion_test_{next(self._databases)}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """PostgreSQL 15 from the Debian package, started in a temporary data directory and stopped at the end."""
    if not (PG_BIN / "postgres").exists():
        pytest.fail(
            f"PostgreSQL is not installed ({PG_BIN}/postgres missing); install the Debian package "
            "(apt-get install postgresql; .ci/run does it when it runs as root)"
        )
    # Not below pytest's temporary directory: that is private to root, and the server runs as nobody.
    directory = Path(tempfile.mkdtemp(prefix="bastion-pg-"))
    data, log = directory / "data", directory / "server.log"
    drop: list[str] = []
    if os.geteuid() == 0:  # the server refuses to run as root
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.fail("setpriv (util-linux) is needed to run PostgreSQL as an unprivileged user")
        drop = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]
        os.chown(directory, 65534, 65534)
    env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    initdb = [str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"]
    subprocess.run([*drop, *initdb], check=True, capture_output=True, env=env, timeout=120)
    # mmap keeps dynamic shared memory in the data directory, removed with it (posix segments outlive an immediate stop)
    options = f"-h 127.0.0.1 -p {port} -k {directory} -F -c max_connections=50 -c dynamic_shared_memory_type=mmap"
    pg_ctl = [*drop, str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60", "-o", options]
    started = subprocess.run([*pg_ctl, "start"], capture_output=True, text=True, env=env, timeout=90)
    if started.returncode != 0:
        pytest.fail(f"PostgreSQL did not start: {started.stderr or started.stdout}\n{log.read_text() if log.exists() else ''}")
    try:
        yield PostgresServer(port, itertools.count(1))
    finally:
        # Immediate: the data is thrown away, so no shutdown checkpoint; pg_ctl's own wait polls once a second.
        subprocess.run([*pg_ctl, "-m", "immediate", "-W", "stop"], capture_output=True, env=env, timeout=90)
        deadline = time.monotonic() + 30
        while (data / "postmaster.pid").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
            os.kill(int((data / "postmaster.pid").read_text().split()[0]), signal.SIGKILL)  # it ignored the stop
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh BASTION_HOME (in memory where /dev/shm exists: the tests check behaviour, not fsync's speed);
    artifacts may live anywhere below the test's directory."""
    memory = Path("/dev/shm")
    directory = Path(tempfile.mkdtemp(prefix="bastion-home-", dir=memory if memory.is_dir() else tmp_path))
    home = directory / "home"
    monkeypatch.setenv("BASTION_HOME", str(home))
    monkeypatch.setenv("BASTION_ARTIFACT_ROOTS", str(tmp_path))
    monkeypatch.delenv("BASTION_DB_URL", raising=False)
    monkeypatch.delenv("BASTION_TOKEN", raising=False)
    yield home
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, home: Path) -> str | None:
    """None for the default SQLite file under BASTION_HOME; a fresh database on the PostgreSQL server otherwise."""
    if request.param == "sqlite":
        return None
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.new_database()


@dataclass(frozen=True)
class Packages:
    """Signed packages, built once per session."""

    key: KeyPair
    """The signer (trusted by the registries below)."""
    signed: tuple[Path, ...]
    """Distinct clean packages, each signed with ``key``."""
    malicious: Path
    """A signed package whose model is a pickle that runs os.system."""
    untrusted: Path
    """A clean package signed by a key nobody trusts."""
    directory: Path


class _RunsACommand:
    """Pickled (never loaded): unpickling it would call os.system."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("id",))


def _model_directory(root: Path, seed: int) -> Path:
    directory = root / f"model-{seed}"
    (directory / "model").mkdir(parents=True)
    save_file({"weight": np.full((4, 4), seed, dtype=np.float32)}, str(directory / "model" / "weights.safetensors"))
    return directory


def build_signed(source: Path, output: Path, key: KeyPair) -> Path:
    build_package(source, output)
    sign_model(output, key.private_key, output.with_name(output.name + ".sig"))
    return output


@pytest.fixture(scope="session")
def packages(tmp_path_factory: pytest.TempPathFactory) -> Packages:
    root = tmp_path_factory.mktemp("packages")
    key = generate_key_pair(root / "key")
    signed = tuple(build_signed(_model_directory(root, seed), root / f"package-{seed}", key) for seed in range(1, 7))
    evil = root / "evil"
    (evil / "model").mkdir(parents=True)
    (evil / "model" / "model.pkl").write_bytes(pickle.dumps(_RunsACommand(), protocol=4))
    malicious = build_signed(evil, root / "package-evil", key)
    stranger = generate_key_pair(root / "stranger")
    untrusted = build_signed(_model_directory(root, 99), root / "package-untrusted", stranger)
    return Packages(key, signed, malicious, untrusted, root)


@dataclass
class World:
    """A registry with a trusted signer and one user per shipped role (plus a second approver and engineer)."""

    registry: Registry
    principals: dict[str, Principal]
    """By role name, plus ``approver2`` and ``engineer2``."""
    tokens: dict[str, str]
    packages: Packages


@pytest.fixture
def world(database_url: str | None, packages: Packages, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.setenv("BASTION_ARTIFACT_ROOTS", str(packages.directory))
    registry = Registry.open(database_url, create=True)
    admin = registry.create_first_admin("root")
    assert admin is not None
    tokens = {"admin": admin.token}
    admin_principal = registry.authenticate(admin.token)
    registry.trust_key(admin_principal, packages.key.public_key)
    users = [(role, role) for role in ROLES if role != "admin"] + [("approver2", "approver"), ("engineer2", "ml-engineer")]
    for name, role in users:
        tokens[name] = registry.add_user(admin_principal, name.replace("-", ""), [role]).token
    principals = {name: registry.authenticate(token) for name, token in tokens.items()}
    yield World(registry, principals, tokens, packages)
    registry.close()
