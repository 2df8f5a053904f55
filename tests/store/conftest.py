"""Store fixtures: the real servers (started once per session, on first use) and stores over each backend
with each key provider."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bastion.store import KeyProvider, LocalKeyring, Store, init_keyring, open_store
from tests.store import servers


@pytest.fixture(scope="session")
def running_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, servers.Server]]:
    """SeaweedFS, OpenBao and moto, started side by side (start-up is mostly waiting) on first use."""
    starters = {"s3": servers.seaweedfs, "vault": servers.openbao, "kms": servers.moto_kms}
    contexts = {name: start(tmp_path_factory.mktemp(name)) for name, start in starters.items()}
    with contextlib.ExitStack() as stack:
        with ThreadPoolExecutor(len(contexts)) as pool:
            started = {name: pool.submit(context.__enter__) for name, context in contexts.items()}
        for name, future in started.items():
            if future.exception() is None:  # stop whatever started, even when another server failed to
                stack.push(contexts[name].__exit__)
        yield {name: future.result() for name, future in started.items()}


@pytest.fixture(scope="session")
def s3_server(running_servers: dict[str, servers.Server]) -> servers.Server:
    return running_servers["s3"]


@pytest.fixture(scope="session")
def vault_server(running_servers: dict[str, servers.Server]) -> servers.Server:
    return running_servers["vault"]


@pytest.fixture(scope="session")
def kms_server(running_servers: dict[str, servers.Server]) -> servers.Server:
    return running_servers["kms"]


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """BASTION_HOME in the test's directory, no store or KMS URL, and AWS clients that read no user configuration."""
    home = tmp_path / "home"
    monkeypatch.setenv("BASTION_HOME", str(home))
    for name in ("BASTION_STORE_URL", "BASTION_KMS_URL", "VAULT_TOKEN", "BAO_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", servers.ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", servers.SECRET_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", servers.REGION)
    return home


@pytest.fixture
def keyring(isolated_environment: Path) -> LocalKeyring:
    """A local keyring under BASTION_HOME holding the key ``default``."""
    path = isolated_environment / "keys" / "keyring.json"
    init_keyring(path)
    return LocalKeyring(path)


@pytest.fixture
def local_store(tmp_path: Path, keyring: LocalKeyring) -> Store:
    return open_store(str(tmp_path / "store"), keyring)


@pytest.fixture
def s3_url(s3_server: servers.Server, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh prefix in the SeaweedFS bucket, with the endpoint set as users set it (AWS_ENDPOINT_URL_S3)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_server.url)
    return f"s3://{servers.BUCKET}/{uuid.uuid4().hex}"


@pytest.fixture
def vault_url(vault_server: servers.Server, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("VAULT_TOKEN", servers.VAULT_TOKEN)
    return "vault+" + vault_server.url + "/transit"


@pytest.fixture
def kms_url(kms_server: servers.Server, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("AWS_ENDPOINT_URL_KMS", kms_server.url)
    return f"kms://{servers.REGION}"


@pytest.fixture(params=["local", "vault", "kms"])
def provider_url(request: pytest.FixtureRequest, keyring: LocalKeyring) -> str:
    """BASTION_KMS_URL of each key provider, its server running."""
    return "local" if request.param == "local" else str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture(params=["local", "s3"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """BASTION_STORE_URL of each backend, its server running."""
    return str(tmp_path / "store") if request.param == "local" else str(request.getfixturevalue("s3_url"))


@pytest.fixture
def provider(provider_url: str) -> KeyProvider:
    from bastion.store import open_key_provider

    return open_key_provider(provider_url)
