"""``bastion sign/verify --keyless`` without the network: Sigstore is unreachable here, so these tests check the
argument rules and that every offline failure is one line, exit status 2 and no signature written.

All HTTPS goes through a proxy on 127.0.0.1 that this test runs and that refuses every tunnel, so no test reaches
the internet; the proxy also records where the command tried to go. Signing and verifying against the real
Sigstore public-good instance are not tested.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest

from bastion.signing import KeyPair, sign_model
from bastion.signing.keyless import INSTALL_HINT
from bastion.signing.oms import read_statement
from tests.conftest import RunBastion

AMBIENT_CREDENTIAL_VARIABLES = ("GITHUB_ACTIONS", "GOOGLE_SERVICE_ACCOUNT_NAME", "BUILDKITE", "GITLAB_CI", "CIRCLECI")
"""What ``id.detect_credential`` looks for; emptied so that no CI identity is picked up."""


class RefusingProxy:
    """An HTTP proxy on 127.0.0.1 that answers every request with 403 and remembers its request lines."""

    def __init__(self) -> None:
        self._socket = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._socket.getsockname()[1]
        self.requests: list[str] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._socket.accept()
            except OSError:
                return
            with connection:
                head = connection.recv(65536).split(b"\r\n", 1)[0]
                self.requests.append(head.decode("latin-1"))
                connection.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    def close(self) -> None:
        self._socket.close()


@pytest.fixture
def proxy() -> Iterator[RefusingProxy]:
    server = RefusingProxy()
    yield server
    server.close()


@pytest.fixture
def offline(tmp_path: Path, proxy: RefusingProxy) -> dict[str, str]:
    """Environment for the CLI: HTTPS through the refusing proxy, an empty Sigstore cache, no ambient identity."""
    url = f"http://127.0.0.1:{proxy.port}"
    cache = tmp_path / "xdg"
    cache.mkdir()
    env = {name: "" for name in AMBIENT_CREDENTIAL_VARIABLES}
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        env[name] = url
    env.update(NO_PROXY="", no_proxy="", XDG_CACHE_HOME=str(cache), XDG_DATA_HOME=str(cache))
    return env


def _identity_token(issuer: str = "https://oauth2.sigstore.dev/auth") -> str:
    """A well-formed OIDC token for the audience Sigstore expects (its signature is Fulcio's to check, not ours)."""
    now = int(time.time())
    claims = {"aud": "sigstore", "sub": "ml@example.com", "email": "ml@example.com", "email_verified": True}
    claims.update(iss=issuer, iat=now, exp=now + 600)
    return jwt.encode(claims, "k" * 32, algorithm="HS256")


def _one_line_error(result: subprocess.CompletedProcess[str], status: int, *fragments: str) -> None:
    assert result.returncode == status, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def _entries(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


def test_keyless_signing_offline_fails_in_one_line_and_writes_nothing(
    model: Path, offline: dict[str, str], proxy: RefusingProxy, run_bastion: RunBastion
) -> None:
    before = _entries(model.parent)
    result = run_bastion("sign", str(model), "--keyless", "--identity-token", _identity_token(), env=offline)
    _one_line_error(result, 2, "keyless signing failed", "unreachable", "--key")
    assert _entries(model.parent) == before
    assert any("sigstore.dev" in request for request in proxy.requests), proxy.requests


def test_keyless_verification_offline_fails_in_one_line(
    model: Path, key_pair: KeyPair, offline: dict[str, str], proxy: RefusingProxy, run_bastion: RunBastion
) -> None:
    assert run_bastion("sign", str(model), "--key", str(key_pair.private_key)).returncode == 0
    result = run_bastion(
        "verify", str(model), "--keyless", "--identity", "ml@example.com", "--issuer", "https://oauth2.sigstore.dev/auth",
        env=offline,
    )  # fmt: skip
    _one_line_error(result, 2, "cannot verify", "unreachable")
    assert any("sigstore.dev" in request for request in proxy.requests), proxy.requests


def test_keyless_signing_without_an_identity_stops_before_the_network(
    model: Path, offline: dict[str, str], proxy: RefusingProxy, run_bastion: RunBastion
) -> None:
    before = _entries(model.parent)
    _one_line_error(run_bastion("sign", str(model), "--keyless", env=offline), 2, "--identity-token", "--oauth")
    _one_line_error(
        run_bastion("sign", str(model), "--keyless", "--identity-token", "not-a-token", env=offline),
        2,
        "identity token is not usable",
    )
    assert _entries(model.parent) == before
    assert proxy.requests == []


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("sign", "{model}", "--key", "{key}", "--keyless"), "not allowed with"),
        (("sign", "{model}"), "one of the arguments --key --keyless is required"),
        (("sign", "{model}", "--key", "{key}", "--identity-token", "t"), "go with --keyless"),
        (("sign", "{model}", "--keyless", "--shard-size", "1024"), "--shard-size goes with --key"),
        (("verify", "{model}", "--keyless"), "--keyless needs --identity"),
        (("verify", "{model}", "--keyless", "--identity", "ml@example.com"), "--keyless needs --identity"),
        (("verify", "{model}", "--key", "{public}", "--keyless"), "not allowed with"),
        (("verify", "{model}", "--key", "{public}", "--identity", "ml@example.com"), "go with --keyless"),
    ],
)
def test_argument_rules(
    arguments: tuple[str, ...],
    message: str,
    model: Path,
    key_pair: KeyPair,
    offline: dict[str, str],
    proxy: RefusingProxy,
    run_bastion: RunBastion,
) -> None:
    paths = {"model": str(model), "key": str(key_pair.private_key), "public": str(key_pair.public_key)}
    before = _entries(model.parent)
    _one_line_error(run_bastion(*(argument.format(**paths) for argument in arguments), env=offline), 2, message)
    assert _entries(model.parent) == before
    assert proxy.requests == []


def test_without_the_sigstore_extra_keyless_names_the_install(tmp_path: Path, model: Path, offline: dict[str, str]) -> None:
    shadow = tmp_path / "shadow" / "model_signing"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('model_signing is not installed')\n")
    env = {**os.environ, **offline, "PYTHONPATH": str(shadow.parent)}
    for arguments in (
        ("sign", str(model), "--keyless", "--identity-token", _identity_token()),
        ("verify", str(model), "--keyless", "--identity", "ml@example.com", "--issuer", "https://oauth2.sigstore.dev/auth"),
    ):
        result = subprocess.run(
            [sys.executable, "-m", "bastion", *arguments], capture_output=True, text=True, env=env, timeout=300
        )
        _one_line_error(result, 2, INSTALL_HINT)


def test_the_statement_of_a_bundle_is_what_was_signed(model: Path, key_pair: KeyPair, tmp_path: Path) -> None:
    """What ``bastion sign --keyless`` reports is read back from the bundle Sigstore returns, which has this shape."""
    signed = sign_model(model, key_pair.private_key, tmp_path / "model.sig")
    assert read_statement(signed.signature.read_bytes()) == signed.manifest
    assert {resource.name for resource in signed.manifest.resources} >= {"config.json", "tokenizer/vocab.txt"}
