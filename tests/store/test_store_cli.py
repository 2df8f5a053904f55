"""``bastion store put/get/refs`` and ``bastion keys rotate``, run as a user runs them."""

from __future__ import annotations

import hashlib
import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

from bastion.store import LocalKeyring
from tests.conftest import RunBastion
from tests.store import servers


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    return result.stderr


def files_under(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file()) if directory.exists() else []


def test_put_get_refs_and_rotate(run_bastion: RunBastion, tmp_path: Path, keyring: LocalKeyring) -> None:
    data = tmp_path / "patients.csv"
    data.write_bytes(b"id,name\n1,Alice\n" * 1000)
    digest = "sha256:" + hashlib.sha256(data.read_bytes()).hexdigest()

    put = run_bastion("store", "put", str(data), "--name", "datasets/patients", cwd=tmp_path)
    assert put.returncode == 0, put.stderr
    assert put.stdout == f"{digest} datasets/patients@v1\n"
    again = run_bastion("store", "put", str(data), "--name", "datasets/patients", "--format", "json", cwd=tmp_path)
    document = json.loads(again.stdout)
    assert document["digest"] == digest and document["ref"]["version"] == 1

    other = tmp_path / "patients-v2.csv"
    other.write_bytes(b"id,name\n1,Alice\n2,Bob\n")
    assert run_bastion("store", "put", str(other), "--name", "datasets/patients", cwd=tmp_path).returncode == 0

    out = tmp_path / "restored.csv"
    got = run_bastion("store", "get", "datasets/patients@v1", "-o", str(out), cwd=tmp_path)
    assert got.returncode == 0, got.stderr
    assert out.read_bytes() == data.read_bytes()
    assert run_bastion("store", "get", digest, "-o", str(out), cwd=tmp_path).returncode == 0

    refs = json.loads(run_bastion("store", "refs", "--format", "json", cwd=tmp_path).stdout)
    assert [(r["name"], r["version"]) for r in refs["refs"]] == [("datasets/patients", 2)]
    history = run_bastion("store", "refs", "datasets/patients", cwd=tmp_path).stdout.splitlines()
    assert [line.split()[0] for line in history] == ["datasets/patients@v1", "datasets/patients@v2"]
    assert history[0].split()[1] == digest

    rotated = run_bastion("keys", "rotate", "--format", "json", cwd=tmp_path)
    assert rotated.returncode == 0, rotated.stderr
    assert {k: v for k, v in json.loads(rotated.stdout).items() if k != "store"} == {
        "key": "default",
        "version": 2,
        "rewrapped": 2,
    }
    out.unlink()
    assert run_bastion("store", "get", "datasets/patients@v1", "-o", str(out), cwd=tmp_path).returncode == 0
    assert out.read_bytes() == data.read_bytes()


def test_missing_keyring_file_and_output_directory(run_bastion: RunBastion, tmp_path: Path) -> None:
    data = tmp_path / "a.bin"
    data.write_bytes(b"x")
    assert "run `bastion keys init`" in one_line_error(run_bastion("store", "put", str(data), cwd=tmp_path))
    assert files_under(tmp_path / "home" / "store") == []
    assert "missing.bin: cannot read: No such file" in one_line_error(
        run_bastion("store", "put", str(tmp_path / "missing.bin"), cwd=tmp_path)
    )
    error = one_line_error(run_bastion("store", "get", "sha256:" + "0" * 64, "-o", str(tmp_path / "no" / "x"), cwd=tmp_path))
    assert "no such directory for -o" in error
    assert "is not in the store" in one_line_error(
        run_bastion("store", "get", "sha256:" + "0" * 64, "-o", str(tmp_path / "x"), cwd=tmp_path)
    )


def test_unreachable_openbao_is_one_line(run_bastion: RunBastion, tmp_path: Path) -> None:
    data = tmp_path / "a.bin"
    data.write_bytes(b"x")
    port = servers.free_port()
    env = {"BASTION_KMS_URL": f"vault+http://127.0.0.1:{port}/transit", "VAULT_TOKEN": "t"}
    error = one_line_error(run_bastion("store", "put", str(data), cwd=tmp_path, env=env))
    assert (
        error == f"bastion: error: cannot reach Vault/OpenBao at http://127.0.0.1:{port}; is it running? Check BASTION_KMS_URL\n"
    )


def test_unreachable_s3_is_one_line(run_bastion: RunBastion, tmp_path: Path, keyring: LocalKeyring) -> None:
    data = tmp_path / "a.bin"
    data.write_bytes(b"x")
    port = servers.free_port()
    env = {
        "BASTION_STORE_URL": "s3://bastion/team",
        "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{port}",
        "AWS_MAX_ATTEMPTS": "1",
    }
    error = one_line_error(run_bastion("store", "put", str(data), cwd=tmp_path, env=env))
    assert error.startswith("bastion: error: s3://bastion/team: cannot reach the object store: Could not connect")


def test_the_cli_stores_on_s3_with_openbao_keys(run_bastion: RunBastion, tmp_path: Path, s3_url: str, vault_url: str) -> None:
    data = tmp_path / "model.bin"
    data.write_bytes(os.urandom(3 << 20))
    env = {"BASTION_STORE_URL": s3_url, "BASTION_KMS_URL": vault_url}
    put = run_bastion("store", "put", str(data), "--name", "models/churn", cwd=tmp_path, env=env)
    assert put.returncode == 0, put.stderr
    rotated = run_bastion("keys", "rotate", cwd=tmp_path, env=env)
    assert rotated.returncode == 0, rotated.stderr
    assert "re-wrapped 1 data keys" in rotated.stdout
    got = run_bastion("store", "get", "models/churn", "-o", str(tmp_path / "out.bin"), cwd=tmp_path, env=env)
    assert got.returncode == 0, got.stderr
    assert (tmp_path / "out.bin").read_bytes() == data.read_bytes()


def limited_file_size(limit: int) -> None:
    """In the child: files may not grow past ``limit`` bytes, and writing past it fails (EFBIG) instead of killing it."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def test_a_full_disk_during_put_or_get_leaves_nothing_behind(tmp_path: Path, keyring: LocalKeyring) -> None:
    data = tmp_path / "big.bin"
    data.write_bytes(os.urandom(6 << 20))
    command = [sys.executable, "-m", "bastion", "store"]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*command, *args], capture_output=True, text=True, cwd=tmp_path, preexec_fn=lambda: limited_file_size(2 << 20)
        )

    error = one_line_error(run("put", str(data)))
    assert "cannot write: File too large; nothing was changed" in error
    assert files_under(tmp_path / "home" / "store") == []

    stored = subprocess.run([*command, "put", str(data)], capture_output=True, text=True, cwd=tmp_path, check=True)
    digest = stored.stdout.strip()
    error = one_line_error(run("get", digest, "-o", str(tmp_path / "out.bin")))
    assert "out.bin: cannot write: File too large" in error
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.bin", "home"], "no partial output, no temporary file"
