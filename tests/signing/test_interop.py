"""Bastion and the reference ``model_signing`` read each other's signatures, both ways, through CLI and API.

The key pairs are made by Bastion (one encrypted), so the reference also reads our keys.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bastion.signing import KeyPair, generate_key_pair, sign_model, verify_model
from tests.conftest import RunBastion

MODEL_SIGNING = Path(sys.executable).with_name("model_signing")


def _model_signing(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(MODEL_SIGNING), *args], capture_output=True, text=True, timeout=300)


def _reference_verifies(model: Path, signature: Path, public_key: Path) -> subprocess.CompletedProcess[str]:
    return _model_signing("verify", "key", str(model), "--signature", str(signature), "--public_key", str(public_key))


@pytest.mark.parametrize("signature_inside", [False, True], ids=["signature-beside", "signature-inside"])
def test_reference_cli_verifies_bastion_signature(
    signature_inside: bool, model: Path, key_pair: KeyPair, run_bastion: RunBastion
) -> None:
    signature = model / "model.sig" if signature_inside else model.parent / "model.sig"
    signed = run_bastion("sign", str(model), "--key", str(key_pair.private_key), "--signature", str(signature))
    assert signed.returncode == 0, signed.stderr
    accepted = _reference_verifies(model, signature, key_pair.public_key)
    assert accepted.returncode == 0, accepted.stderr
    assert "Verification succeeded" in accepted.stdout
    (model / "tokenizer" / "vocab.txt").write_text("a\nc\n")
    rejected = _reference_verifies(model, signature, key_pair.public_key)
    assert rejected.returncode == 1 and "tokenizer/vocab.txt" in rejected.stderr


def test_reference_api_verifies_bastion_signature_of_a_single_file(model: Path, key_pair: KeyPair) -> None:
    import model_signing

    weights = model / "model-00001.safetensors"
    signature = model.parent / "weights.sig"
    sign_model(weights, key_pair.private_key, signature)
    model_signing.verifying.Config().use_elliptic_key_verifier(public_key=key_pair.public_key).verify(weights, signature)
    weights.write_bytes(b"other weights")
    with pytest.raises(ValueError, match="Signature mismatch"):
        model_signing.verifying.Config().use_elliptic_key_verifier(public_key=key_pair.public_key).verify(weights, signature)


def test_bastion_verifies_reference_cli_signature(model: Path, key_pair: KeyPair, run_bastion: RunBastion) -> None:
    signature = model / "model.sig"  # the reference's default place: inside the model
    signed = _model_signing("sign", "key", str(model), "--private_key", str(key_pair.private_key), "--signature", str(signature))
    assert signed.returncode == 0, signed.stderr
    accepted = run_bastion("verify", str(model), "--key", str(key_pair.public_key), "--signature", str(signature))
    assert accepted.returncode == 0, accepted.stderr
    shutil.copy(model / "config.json", model / "config-copy.json")
    rejected = run_bastion("verify", str(model), "--key", str(key_pair.public_key), "--signature", str(signature))
    assert rejected.returncode == 1
    assert "1 file added: config-copy.json" in rejected.stderr


def test_bastion_verifies_reference_api_signature_made_with_an_encrypted_bastion_key(tmp_path: Path, model: Path) -> None:
    # The reference CLI's --password hands cryptography a str and fails (model_signing 1.1.1); its API takes bytes.
    import model_signing

    pair = generate_key_pair(tmp_path / "keys", b"s3cret")
    signature = tmp_path / "model.sig"
    signer = model_signing.signing.Config().use_elliptic_key_signer(private_key=pair.private_key, password=b"s3cret")
    signer.sign(model, signature)
    assert verify_model(model, pair.public_key, signature).valid
    (model / "config.json").unlink()
    outcome = verify_model(model, pair.public_key, signature)
    assert not outcome.valid and outcome.diff.missing == ("config.json",)


def test_bastion_verifies_reference_api_signature_of_a_single_file(model: Path, key_pair: KeyPair) -> None:
    import model_signing

    weights = model / "model-00002.safetensors"
    signature = model.parent / "weights.sig"
    model_signing.signing.Config().use_elliptic_key_signer(private_key=key_pair.private_key).sign(weights, signature)
    assert verify_model(weights, key_pair.public_key, signature).valid
    weights.write_bytes(weights.read_bytes()[:-1])
    outcome = verify_model(weights, key_pair.public_key, signature)
    assert not outcome.valid and outcome.diff.changed == (".",)


def test_same_digests_as_the_reference(model: Path, key_pair: KeyPair) -> None:
    """Bastion's manifest is the reference's, resource for resource, in the same order."""
    import model_signing

    from bastion.signing import hash_model

    reference = model_signing.hashing.Config().hash(model)
    ours = hash_model(model)
    assert [(r.identifier, r.digest.digest_hex) for r in reference.resource_descriptors()] == [
        (r.name, r.digest) for r in ours.resources
    ]


@pytest.mark.parametrize("single_file", [False, True], ids=["directory", "single-file"])
def test_same_shards_as_the_reference(single_file: bool, model: Path) -> None:
    import model_signing

    from bastion.signing import hash_model

    target = model / "model-00001.safetensors" if single_file else model
    shard_size = 1_000_003  # not a power of two: shards straddle Bastion's read buffer
    reference = model_signing.hashing.Config().use_shard_serialization(shard_size=shard_size).hash(target)
    ours = hash_model(target, shard_size=shard_size)
    assert [(r.identifier, r.digest.digest_hex) for r in reference.resource_descriptors()] == [
        (r.name, r.digest) for r in ours.resources
    ]
    weights = "." if single_file else "model-00001.safetensors"
    assert f"{weights}:{shard_size}:{2 * shard_size}" in [r.name for r in ours.resources]


def test_reference_api_verifies_bastion_sharded_signature(model: Path, key_pair: KeyPair, run_bastion: RunBastion) -> None:
    import model_signing

    signature = model.parent / "model.sig"
    signed = run_bastion("sign", str(model), "--key", str(key_pair.private_key), "--shard-size", "1048576")
    assert signed.returncode == 0, signed.stderr
    # Bastion writes the shard size as an integer, so the reference can slice files by it
    model_signing.verifying.Config().use_elliptic_key_verifier(public_key=key_pair.public_key).verify(model, signature)
    with (model / "model-00001.safetensors").open("r+b") as handle:
        handle.seek(2 * 1048576 + 5)
        handle.write(b"\xff")
    with pytest.raises(ValueError, match=re.escape("model-00001.safetensors:2097152:3145728")):
        model_signing.verifying.Config().use_elliptic_key_verifier(public_key=key_pair.public_key).verify(model, signature)


def test_bastion_verifies_reference_sharded_signature(model: Path, key_pair: KeyPair) -> None:
    # The reference writes its shard size as a float (1048576.0) and then cannot slice by it itself; Bastion can.
    import model_signing

    signature = model.parent / "model.sig"
    hashing = model_signing.hashing.Config().use_shard_serialization(shard_size=1048576)
    config = model_signing.signing.Config().use_elliptic_key_signer(private_key=key_pair.private_key)
    config.set_hashing_config(hashing).sign(model, signature)
    outcome = verify_model(model, key_pair.public_key, signature)
    assert outcome.valid and outcome.manifest is not None and outcome.manifest.serialization.shard_size == 1048576
    (model / "model-00002.safetensors").write_bytes(b"")
    outcome = verify_model(model, key_pair.public_key, signature)
    # an empty file has no shards: the file is reported missing from what was signed
    assert not outcome.valid and outcome.diff.missing == ("model-00002.safetensors",)
