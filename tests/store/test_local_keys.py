"""The local keyring: created 0600 and atomically, refused when others can read it, wrap/unwrap and derive."""

from __future__ import annotations

import base64
import json
import os
import stat
import threading
from pathlib import Path

import pytest

from bastion.store import DataKey, KeyProviderError, LocalKeyring, WrappedKey, init_keyring, open_key_provider
from bastion.store.keys import InitOutcome
from tests.conftest import RunBastion


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "home" / "keys" / "keyring.json"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_init_creates_a_keyring_only_its_owner_can_read(path: Path) -> None:
    old_umask = os.umask(0)  # even with a permissive umask
    try:
        assert init_keyring(path) is InitOutcome.CREATED
    finally:
        os.umask(old_umask)
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700
    document = json.loads(path.read_text())
    assert document["format"] == "bastion-keyring/1"
    (version,) = document["keys"]["default"]["versions"]
    assert len(base64.b64decode(version["material"])) == 32 and version["created"].endswith("Z")
    assert sorted(os.listdir(path.parent)) == ["keyring.json"], "no temporary file is left"


def test_init_never_replaces_a_key_and_adds_new_ones(path: Path) -> None:
    init_keyring(path)
    before = path.read_text()
    assert init_keyring(path) is InitOutcome.EXISTS
    assert path.read_text() == before
    assert init_keyring(path, "research") is InitOutcome.ADDED
    keys = json.loads(path.read_text())["keys"]
    assert sorted(keys) == ["default", "research"]
    assert keys["default"] == json.loads(before)["keys"]["default"]
    assert mode(path) == 0o600


def test_concurrent_inits_lose_no_key(path: Path) -> None:
    init_keyring(path)
    threads = [threading.Thread(target=init_keyring, args=(path, f"k{i}")) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(json.loads(path.read_text())["keys"]) == ["default"] + [f"k{i}" for i in range(8)]


@pytest.mark.parametrize("name", ["", "-x", "a/b", "a b", "x" * 65])
def test_key_names_are_checked(path: Path, name: str) -> None:
    with pytest.raises(KeyProviderError, match="is not a valid key name"):
        init_keyring(path, name)


@pytest.mark.parametrize("bad_mode", [0o644, 0o640, 0o604, 0o660])
def test_a_keyring_others_can_read_is_refused(path: Path, bad_mode: int) -> None:
    init_keyring(path)
    os.chmod(path, bad_mode)
    with pytest.raises(KeyProviderError, match=rf"keyring has mode {bad_mode:04o}, so group or others can read it.*chmod 600"):
        LocalKeyring(path).derive("default", "test")
    with pytest.raises(KeyProviderError, match="chmod 600"):
        init_keyring(path, "another")


def test_missing_and_damaged_keyrings_say_what_to_do(path: Path) -> None:
    with pytest.raises(KeyProviderError, match=r"no keyring at .*; run `bastion keys init`$"):
        LocalKeyring(path).wrap("default", bytes(32))
    init_keyring(path)
    with pytest.raises(KeyProviderError, match=r"no key named 'other'; run `bastion keys init --name other`$"):
        LocalKeyring(path).derive("other", "test")
    path.write_text("{not json")
    with pytest.raises(KeyProviderError, match="not a Bastion keyring"):
        LocalKeyring(path).derive("default", "test")
    path.write_text(json.dumps({"format": "bastion-keyring/1", "keys": {"default": {"versions": [{"material": "c2hvcnQ="}]}}}))
    with pytest.raises(KeyProviderError, match="key 'default' is damaged"):
        LocalKeyring(path).derive("default", "test")


def test_wrap_and_unwrap_round_trip(path: Path) -> None:
    init_keyring(path)
    keyring = LocalKeyring(path)
    data_key = os.urandom(32)
    wrapped = keyring.wrap("default", data_key)
    assert (wrapped.provider, wrapped.key_name, wrapped.key_version) == ("local", "default", 1)
    assert data_key not in wrapped.ciphertext
    assert LocalKeyring(path).unwrap(wrapped) == data_key
    assert WrappedKey.from_dict(json.loads(json.dumps(wrapped.to_dict()))) == wrapped


def test_unwrap_refuses_altered_foreign_or_misfiled_keys(path: Path, tmp_path: Path) -> None:
    init_keyring(path)
    init_keyring(path, "other")
    keyring = LocalKeyring(path)
    wrapped = keyring.wrap("default", bytes(32))
    altered = WrappedKey(wrapped.provider, wrapped.key_name, 1, wrapped.ciphertext[:-1] + bytes([wrapped.ciphertext[-1] ^ 1]))
    with pytest.raises(KeyProviderError, match="cannot unwrap this data key"):
        keyring.unwrap(altered)
    with pytest.raises(KeyProviderError, match="cannot unwrap this data key"):
        keyring.unwrap(WrappedKey("local", "other", 1, wrapped.ciphertext))  # bound to its key's name
    with pytest.raises(KeyProviderError, match="has no version 2"):
        keyring.unwrap(WrappedKey("local", "default", 2, wrapped.ciphertext))
    with pytest.raises(KeyProviderError, match="wrapped by the 'vault' key provider"):
        keyring.unwrap(WrappedKey("vault", "default", 1, wrapped.ciphertext))
    elsewhere = tmp_path / "elsewhere" / "keyring.json"
    init_keyring(elsewhere)
    with pytest.raises(KeyProviderError, match="cannot unwrap this data key"):
        LocalKeyring(elsewhere).unwrap(wrapped)
    with pytest.raises(KeyProviderError, match="not a wrapped data key"):
        WrappedKey.from_dict({"provider": "local", "key_name": "default", "key_version": 1, "ciphertext": "not base64!"})


def test_generate_data_key_keeps_the_plaintext_out_of_its_repr(path: Path) -> None:
    init_keyring(path)
    keyring = LocalKeyring(path)
    data_key = keyring.generate_data_key("default")
    assert isinstance(data_key, DataKey) and len(data_key.plaintext) == 32
    assert keyring.unwrap(data_key.wrapped) == data_key.plaintext
    assert data_key.plaintext.hex() not in repr(data_key) and repr(data_key.plaintext) not in repr(data_key)


def test_derive_is_stable_per_key_and_purpose(path: Path, tmp_path: Path) -> None:
    init_keyring(path)
    init_keyring(path, "other")
    secret = LocalKeyring(path).derive("default", "bastion.privacy.pseudonym/v1")
    assert len(secret) == 32
    assert LocalKeyring(path).derive("default", "bastion.privacy.pseudonym/v1") == secret
    assert LocalKeyring(path).derive("default", "another purpose") != secret
    assert LocalKeyring(path).derive("other", "bastion.privacy.pseudonym/v1") != secret
    elsewhere = tmp_path / "elsewhere" / "keyring.json"
    init_keyring(elsewhere)
    assert LocalKeyring(elsewhere).derive("default", "bastion.privacy.pseudonym/v1") != secret


def test_the_provider_comes_from_bastion_home_and_kms_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BASTION_HOME", str(tmp_path / "h"))
    monkeypatch.delenv("BASTION_KMS_URL", raising=False)
    provider = open_key_provider()
    assert isinstance(provider, LocalKeyring) and provider.path == tmp_path / "h" / "keys" / "keyring.json"
    monkeypatch.setenv("BASTION_KMS_URL", "vault://127.0.0.1:8200/transit")
    with pytest.raises(KeyProviderError, match=r"^BASTION_KMS_URL=vault://127\.0\.0\.1:8200/transit: unknown key provider"):
        open_key_provider()


def test_keys_init_command(run_bastion: RunBastion, tmp_path: Path) -> None:
    env = {"BASTION_HOME": str(tmp_path / "state")}
    first = run_bastion("keys", "init", cwd=tmp_path, env=env)
    assert first.returncode == 0, first.stderr
    keyring = tmp_path / "state" / "keys" / "keyring.json"
    assert first.stdout == f"Created keyring {keyring} (mode 0600) with key 'default'.\n"
    assert mode(keyring) == 0o600
    again = run_bastion("keys", "init", cwd=tmp_path, env=env)
    assert again.returncode == 0 and "already exists" in again.stdout
    added = run_bastion("keys", "init", "--name", "research", cwd=tmp_path, env=env)
    assert added.stdout == f"Added key 'research' to keyring {keyring}.\n"

    os.chmod(keyring, 0o644)
    refused = run_bastion("keys", "init", "--name", "third", cwd=tmp_path, env=env)
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1 and "chmod 600" in refused.stderr and "Traceback" not in refused.stderr


def test_keys_init_defaults_to_dot_bastion_in_the_working_directory(run_bastion: RunBastion, tmp_path: Path) -> None:
    result = run_bastion("keys", "init", cwd=tmp_path, env={"BASTION_HOME": ""})
    assert result.returncode == 0, result.stderr
    assert mode(tmp_path / ".bastion" / "keys" / "keyring.json") == 0o600
