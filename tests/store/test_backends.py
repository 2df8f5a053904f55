"""Every key provider (local keyring, OpenBao transit, KMS API) with every backend (local directory, SeaweedFS S3),
against the real servers on 127.0.0.1."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
from pathlib import Path

import boto3
import pytest

from bastion.store import KeyProvider, KeyProviderError, StoreError, open_key_provider, open_store
from bastion.store.envelope import SEGMENT_SIZE
from tests.store import servers

PROVIDER_NAMES = {"local": "local", "vault": "vault", "kms": "kms"}


def test_round_trip_with_each_provider_and_backend(provider_url: str, store_url: str, tmp_path: Path) -> None:
    store = open_store(store_url, open_key_provider(provider_url))
    contents = [b"", b"small", os.urandom(2 * SEGMENT_SIZE + 17)]
    digests = [store.put(content) for content in contents]
    assert digests == ["sha256:" + hashlib.sha256(content).hexdigest() for content in contents]
    assert store.put(contents[1]) == digests[1]
    store.tag("models/churn", digests[2])

    reader = open_store(store_url, open_key_provider(provider_url))  # a new process would see the same
    assert [reader.get(digest) for digest in digests] == contents
    reader.export("models/churn@v1", tmp_path / "model.bin")
    assert (tmp_path / "model.bin").read_bytes() == contents[2]
    info = reader.info(digests[2])
    assert info.size == len(contents[2]) and info.key.provider in PROVIDER_NAMES.values()


def test_rotation_with_each_provider(provider_url: str, tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "store"), open_key_provider(provider_url))
    contents = [os.urandom(100), os.urandom(SEGMENT_SIZE + 1)]
    digests = [store.put(content) for content in contents]
    before = {d: store.info(d).key for d in digests}

    rotation = store.rotate_key("default")
    assert rotation.rewrapped == 2
    fresh = open_store(str(tmp_path / "store"), open_key_provider(provider_url))
    for digest, content in zip(digests, contents, strict=True):
        after = fresh.info(digest).key
        assert after.key_version == rotation.version > before[digest].key_version
        assert after.ciphertext != before[digest].ciphertext
        assert fresh.get(digest) == content


def test_derived_secrets_are_stable_across_rotation(provider_url: str) -> None:
    provider = open_key_provider(provider_url)
    secret = provider.derive("default", "bastion.privacy.pseudonym/v1")
    assert len(secret) == 32 and secret != provider.derive("default", "another purpose")
    provider.rotate("default")
    assert open_key_provider(provider_url).derive("default", "bastion.privacy.pseudonym/v1") == secret


def test_altered_wrapped_keys_are_refused(provider: KeyProvider) -> None:
    data_key = provider.generate_data_key("default")
    assert provider.unwrap(data_key.wrapped) == data_key.plaintext
    ciphertext = data_key.wrapped.ciphertext
    if provider.name == "vault":  # "vault:v1:<base64>": alter the sealed bytes, not the framing
        prefix, sealed = ciphertext.rsplit(b":", 1)
        raw = bytearray(base64.b64decode(sealed))
        raw[-1] ^= 1
        altered = prefix + b":" + base64.b64encode(bytes(raw))
    else:
        altered = ciphertext[:-1] + bytes([ciphertext[-1] ^ 1])
    from dataclasses import replace

    with pytest.raises(KeyProviderError):
        provider.unwrap(replace(data_key.wrapped, ciphertext=altered))


def test_s3_blobs_are_encrypted_and_tamper_evident(s3_url: str, s3_server: servers.Server, keyring: object) -> None:
    store = open_store(s3_url)
    first = store.put(b"approved model weights " * 1000)
    second = store.put(b"backdoored model weights " * 1000)
    client = boto3.client("s3", endpoint_url=s3_server.url, region_name=servers.REGION)
    prefix = s3_url.removeprefix(f"s3://{servers.BUCKET}/")

    def key(digest: str) -> str:
        hex_digest = digest.removeprefix("sha256:")
        return f"{prefix}/blobs/sha256/{hex_digest[:2]}/{hex_digest}"

    stored = client.get_object(Bucket=servers.BUCKET, Key=key(first))["Body"].read()
    assert b"approved model" not in stored
    client.put_object(Bucket=servers.BUCKET, Key=key(first), Body=stored[:-100])
    with pytest.raises(StoreError, match="fails authentication"):
        open_store(s3_url).get(first)
    client.copy_object(Bucket=servers.BUCKET, Key=key(first), CopySource={"Bucket": servers.BUCKET, "Key": key(second)})
    with pytest.raises(StoreError, match=r"another digest .*swapped or replaced"):
        open_store(s3_url).get(first)
    leftovers = client.list_objects_v2(Bucket=servers.BUCKET, Prefix=f"{prefix}/tmp/").get("KeyCount", 0)
    assert leftovers == 0


def test_s3_retention_and_idempotence(s3_url: str, keyring: object) -> None:
    store = open_store(s3_url)
    digest = store.put(b"evidence", retain_until=dt.datetime.now(dt.UTC) + dt.timedelta(days=7))
    info = store.info(digest)
    assert store.put(b"evidence") == digest
    assert store.info(digest) == info, "the second put wrote nothing"
    with pytest.raises(StoreError, match="is retained until"):
        store.delete(digest)
    scratch = store.put(b"scratch")
    store.delete(scratch)
    assert not store.contains(scratch) and store.contains(digest)


def test_s3_references(s3_url: str, keyring: object) -> None:
    store = open_store(s3_url)
    v1, v2 = store.put(b"one"), store.put(b"two")
    store.tag("datasets/patients", v1)
    store.tag("datasets/patients", v2)
    reader = open_store(s3_url)
    assert [(r.version, r.digest) for r in reader.refs.history("datasets/patients")] == [(1, v1), (2, v2)]
    assert reader.get("datasets/patients@v1") == b"one" and reader.get("datasets/patients") == b"two"
    assert reader.refs.names() == ["datasets/patients"]


def test_vault_missing_key_token_and_server_are_clear_errors(vault_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    provider = open_key_provider(vault_url)
    with pytest.raises(KeyProviderError, match=r"no such transit key; create it with `bao write -f transit/keys/typo`$"):
        provider.wrap("typo", bytes(32))
    monkeypatch.setenv("VAULT_TOKEN", "not-a-token")
    with pytest.raises(KeyProviderError, match="permission denied; check VAULT_TOKEN"):
        open_key_provider(vault_url).wrap("default", bytes(32))
    monkeypatch.delenv("VAULT_TOKEN")
    with pytest.raises(KeyProviderError, match=r"no token for .*: set VAULT_TOKEN"):
        open_key_provider(vault_url)
    monkeypatch.setenv("BAO_TOKEN", servers.VAULT_TOKEN)
    assert open_key_provider(vault_url).generate_data_key("models").wrapped.key_name == "models"
    port = servers.free_port()
    with pytest.raises(KeyProviderError, match=rf"^cannot reach Vault/OpenBao at http://127.0.0.1:{port}; is it running"):
        open_key_provider(f"vault+http://127.0.0.1:{port}/transit").wrap("default", bytes(32))


def test_kms_missing_alias_is_a_clear_error(kms_url: str) -> None:
    with pytest.raises(KeyProviderError, match=r"AWS KMS key alias/typo: no such key"):
        open_key_provider(kms_url).generate_data_key("typo")


def test_an_unreachable_s3_is_one_clear_error(monkeypatch: pytest.MonkeyPatch, keyring: object) -> None:
    port = servers.free_port()
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # the message is the point here, not botocore's back-off
    store = open_store(f"s3://{servers.BUCKET}/nowhere")
    with pytest.raises(StoreError, match=r"^s3://bastion/nowhere: cannot reach the object store: Could not connect"):
        store.put(b"data")
    with pytest.raises(StoreError, match=r"^s3://bastion/nowhere: cannot reach the object store"):
        store.get("sha256:" + "0" * 64)


@pytest.mark.parametrize("url", ["vault://127.0.0.1:8200", "kms://eu-west-1/alias", "https://example.invalid", "vault+http://"])
def test_unknown_provider_urls_are_refused(url: str) -> None:
    with pytest.raises(KeyProviderError, match="unknown key provider; use 'local'"):
        open_key_provider(url)
