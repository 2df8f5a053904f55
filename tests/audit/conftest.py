"""Audit fixtures: a real SeaweedFS S3 server (started once per session, on first use) for the shared log."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.store import servers


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.Server]:
    with servers.seaweedfs(tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server


@pytest.fixture
def audit_url(s3_server: servers.Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """BASTION_AUDIT_URL of a fresh prefix in the bucket, set with the endpoint and credentials as users set them
    (and no user configuration read); BASTION_HOME in the test's directory."""
    monkeypatch.setenv("BASTION_HOME", str(tmp_path / "home"))
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "BASTION_DB_URL", "BASTION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", servers.ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", servers.SECRET_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", servers.REGION)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_server.url)
    url = f"s3://{servers.BUCKET}/{uuid.uuid4().hex}/audit"
    monkeypatch.setenv("BASTION_AUDIT_URL", url)
    return url


@pytest.fixture
def bucket(s3_server: servers.Server) -> Any:
    """A boto3 S3 client on the server: the tests' own hands, to tamper with objects as an attacker would."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=s3_server.url,
        aws_access_key_id=servers.ACCESS_KEY,
        aws_secret_access_key=servers.SECRET_KEY,
        region_name=servers.REGION,
    )
