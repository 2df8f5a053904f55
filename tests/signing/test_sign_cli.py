"""``bastion keys generate``, ``bastion sign`` and ``bastion verify`` as a user runs them."""

from __future__ import annotations

import base64
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from bastion.signing import KeyPair, generate_key_pair
from tests.conftest import RunBastion


def _one_line_error(result: subprocess.CompletedProcess[str], status: int, *fragments: str) -> None:
    assert result.returncode == status, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_keys_generate_writes_a_private_key_only_its_owner_reads(tmp_path: Path, run_bastion: RunBastion) -> None:
    out = tmp_path / "keys"
    result = run_bastion("keys", "generate", "--out", str(out), "--format", "json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document == {"private_key": str(out / "private.pem"), "public_key": str(out / "public.pem"), "encrypted": False}
    assert stat.S_IMODE((out / "private.pem").stat().st_mode) == 0o600
    assert (out / "private.pem").read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert (out / "public.pem").read_text().startswith("-----BEGIN PUBLIC KEY-----")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = serialization.load_pem_private_key((out / "private.pem").read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"


def test_keys_generate_never_replaces_a_key(tmp_path: Path, run_bastion: RunBastion) -> None:
    out = tmp_path / "keys"
    assert run_bastion("keys", "generate", "--out", str(out)).returncode == 0
    before = (out / "private.pem").read_bytes()
    _one_line_error(run_bastion("keys", "generate", "--out", str(out)), 2, str(out / "private.pem"), "already there")
    assert (out / "private.pem").read_bytes() == before


def test_passphrase_encrypts_the_private_key_and_signing_needs_it(tmp_path: Path, model: Path, run_bastion: RunBastion) -> None:
    out = tmp_path / "keys"
    secret = {"BASTION_KEY_PASSPHRASE": "correct horse"}
    result = run_bastion("keys", "generate", "--out", str(out), env=secret)
    assert result.returncode == 0 and "encrypted" in result.stdout
    assert "ENCRYPTED PRIVATE KEY" in (out / "private.pem").read_text()

    no_passphrase = {**os.environ}
    no_passphrase.pop("BASTION_KEY_PASSPHRASE", None)
    missing = subprocess.run(
        [sys.executable, "-m", "bastion", "sign", str(model), "--key", str(out / "private.pem")],
        capture_output=True, text=True, env=no_passphrase, timeout=120,
    )  # fmt: skip
    _one_line_error(missing, 2, "encrypted", "BASTION_KEY_PASSPHRASE")
    wrong = run_bastion("sign", str(model), "--key", str(out / "private.pem"), env={"BASTION_KEY_PASSPHRASE": "wrong"})
    _one_line_error(wrong, 2, "wrong passphrase", str(out / "private.pem"))
    assert not (tmp_path / "model.sig").exists()

    assert run_bastion("sign", str(model), "--key", str(out / "private.pem"), env=secret).returncode == 0
    assert run_bastion("verify", str(model), "--key", str(out / "public.pem")).returncode == 0


def test_directory_round_trip(model: Path, key_pair: KeyPair, run_bastion: RunBastion) -> None:
    signed = run_bastion("sign", str(model), "--key", str(key_pair.private_key), "--format", "json")
    assert signed.returncode == 0, signed.stderr
    document = json.loads(signed.stdout)
    signature = model.parent / "model.sig"
    assert document["signature"] == str(signature) and signature.is_file()
    names = [entry["name"] for entry in document["resources"]]
    # git metadata is not the model; files are listed by path components, as model_signing lists them
    assert names == ["EMPTY", "config.json", "model-00001.safetensors", "model-00002.safetensors", "tokenizer/vocab.txt"]
    import hashlib

    weights = next(entry for entry in document["resources"] if entry["name"] == "model-00001.safetensors")
    assert weights["sha256"] == hashlib.sha256((model / "model-00001.safetensors").read_bytes()).hexdigest()

    verified = run_bastion("verify", str(model), "--key", str(key_pair.public_key), "--format", "json")
    assert verified.returncode == 0, verified.stderr
    report = json.loads(verified.stdout)
    assert report["valid"] is True and report["digest"] == document["digest"]
    assert report["changed"] == report["added"] == report["missing"] == []


def test_single_file_round_trip(model: Path, key_pair: KeyPair, run_bastion: RunBastion) -> None:
    weights = model / "model-00002.safetensors"
    assert run_bastion("sign", str(weights), "--key", str(key_pair.private_key)).returncode == 0
    assert (model / "model-00002.safetensors.sig").is_file()
    assert run_bastion("verify", str(weights), "--key", str(key_pair.public_key)).returncode == 0
    with weights.open("r+b") as handle:
        handle.seek(12345)
        byte = handle.read(1)
        handle.seek(12345)
        handle.write(bytes([byte[0] ^ 1]))
    _one_line_error(run_bastion("verify", str(weights), "--key", str(key_pair.public_key)), 1, "1 file changed: .")


def test_signature_inside_the_model_is_not_signed(model: Path, key_pair: KeyPair, run_bastion: RunBastion) -> None:
    signature = model / "model.sig"
    args = ("--key", str(key_pair.private_key), "--signature", str(signature), "--format", "json")
    signed = run_bastion("sign", str(model), *args)
    assert signed.returncode == 0, signed.stderr
    assert "model.sig" not in [entry["name"] for entry in json.loads(signed.stdout)["resources"]]
    verified = run_bastion("verify", str(model), "--key", str(key_pair.public_key), "--signature", str(signature))
    assert verified.returncode == 0, verified.stderr


def _flip_one_byte(model: Path) -> None:
    path = model / "model-00001.safetensors"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (_flip_one_byte, "1 file changed: model-00001.safetensors"),
        (lambda model: (model / "tokenizer" / "merges.txt").write_text("a b\n"), "1 file added: tokenizer/merges.txt"),
        (lambda model: (model / "config.json").unlink(), "1 file missing: config.json"),
        (lambda model: (model / ".git" / "HEAD").unlink() or (model / "EMPTY").write_bytes(b"\0"), "1 file changed: EMPTY"),
    ],
    ids=["one-byte-changed", "file-added", "file-removed", "empty-file-filled"],
)
def test_tampering_fails_verification(
    tamper: Callable[[Path], object], message: str, model: Path, key_pair: KeyPair, run_bastion: RunBastion
) -> None:
    assert run_bastion("sign", str(model), "--key", str(key_pair.private_key)).returncode == 0
    tamper(model)
    result = run_bastion("verify", str(model), "--key", str(key_pair.public_key))
    _one_line_error(result, 1, f"invalid: {model}: {message}")
    assert result.stdout == ""


def test_signature_of_another_model_fails(tmp_path: Path, model: Path, key_pair: KeyPair, run_bastion: RunBastion) -> None:
    other = tmp_path / "other"
    shutil.copytree(model, other)
    (other / "config.json").write_text('{"hidden_size": 16}\n')
    (other / "extra.bin").write_bytes(b"x")
    assert run_bastion("sign", str(other), "--key", str(key_pair.private_key)).returncode == 0
    result = run_bastion(
        "verify", str(model), "--key", str(key_pair.public_key), "--signature", str(tmp_path / "other.sig"), "--format", "json"
    )
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert (report["valid"], report["changed"], report["added"], report["missing"]) == (
        False, ["config.json"], [], ["extra.bin"],
    )  # fmt: skip
    assert "1 file changed: config.json; 1 file missing: extra.bin" in result.stderr


def test_signature_by_another_key_fails(tmp_path: Path, model: Path, key_pair: KeyPair, run_bastion: RunBastion) -> None:
    stranger = generate_key_pair(tmp_path / "stranger")
    assert run_bastion("sign", str(model), "--key", str(stranger.private_key)).returncode == 0
    result = run_bastion("verify", str(model), "--key", str(key_pair.public_key))
    _one_line_error(result, 1, "signed with a different key")


def test_altered_signature_fails(model: Path, key_pair: KeyPair, run_bastion: RunBastion) -> None:
    """An attacker who changes a file and rewrites its digest in the signature (dropping the key hint) is caught."""
    assert run_bastion("sign", str(model), "--key", str(key_pair.private_key)).returncode == 0
    signature = model.parent / "model.sig"
    bundle = json.loads(signature.read_text())
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    (model / "config.json").write_text('{"hidden_size": 9}\n')
    import hashlib

    for resource in statement["predicate"]["resources"]:
        if resource["name"] == "config.json":
            resource["digest"] = hashlib.sha256((model / "config.json").read_bytes()).hexdigest()
    root = hashlib.sha256(b"".join(bytes.fromhex(r["digest"]) for r in statement["predicate"]["resources"]))
    statement["subject"][0]["digest"]["sha256"] = root.hexdigest()
    bundle["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    del bundle["verificationMaterial"]["publicKey"]
    signature.write_text(json.dumps(bundle))
    result = run_bastion("verify", str(model), "--key", str(key_pair.public_key))
    _one_line_error(result, 1, "does not match its contents")


@pytest.mark.parametrize(
    ("damage", "fragment"),
    [
        (lambda data: data[: len(data) // 2], "not JSON"),
        (lambda data: b"", "not JSON"),
        (lambda data: os.urandom(300), "not JSON"),
        (lambda data: b'{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json"}', "verificationMaterial"),
        (lambda data: b"[1, 2]", "not a JSON object"),
    ],
    ids=["truncated", "empty", "garbage", "incomplete-bundle", "not-an-object"],
)
def test_damaged_signature_is_a_usage_error(
    damage: Callable[[bytes], bytes], fragment: str, model: Path, key_pair: KeyPair, run_bastion: RunBastion
) -> None:
    assert run_bastion("sign", str(model), "--key", str(key_pair.private_key)).returncode == 0
    signature = model.parent / "model.sig"
    signature.write_bytes(damage(signature.read_bytes()))
    _one_line_error(run_bastion("verify", str(model), "--key", str(key_pair.public_key)), 2, str(signature), fragment)


def test_missing_keys_and_signature_are_usage_errors(
    tmp_path: Path, model: Path, key_pair: KeyPair, run_bastion: RunBastion
) -> None:
    absent = tmp_path / "nowhere.pem"
    _one_line_error(run_bastion("sign", str(model), "--key", str(absent)), 2, str(absent), "bastion keys generate")
    _one_line_error(run_bastion("verify", str(model), "--key", str(absent)), 2, str(absent))
    _one_line_error(run_bastion("verify", str(model), "--key", str(key_pair.public_key)), 2, "model.sig", "no signature")
    _one_line_error(run_bastion("sign", str(model), "--key", str(key_pair.public_key)), 2, "not a PEM private key")
    _one_line_error(run_bastion("verify", str(model), "--key", str(key_pair.private_key)), 2, "private key")
    _one_line_error(run_bastion("sign", str(tmp_path / "absent"), "--key", str(key_pair.private_key)), 2, "no such file")
    usage = run_bastion("sign", str(model))
    assert usage.returncode == 2 and "--key" in usage.stderr


def test_symlink_escaping_the_model_is_refused(tmp_path: Path, model: Path, key_pair: KeyPair, run_bastion: RunBastion) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("not part of the model\n")
    (model / "tokenizer" / "link.txt").symlink_to(outside)
    result = run_bastion("sign", str(model), "--key", str(key_pair.private_key))
    _one_line_error(result, 2, str(model / "tokenizer" / "link.txt"), "outside")
    assert not (tmp_path / "model.sig").exists()
    (model / "tokenizer" / "link.txt").unlink()
    (model / "up").symlink_to("..", target_is_directory=True)
    _one_line_error(run_bastion("sign", str(model), "--key", str(key_pair.private_key)), 2, str(model / "up"), "outside")


def test_symlink_inside_the_model_is_signed_as_its_target(model: Path, key_pair: KeyPair, run_bastion: RunBastion) -> None:
    (model / "latest.safetensors").symlink_to("model-00002.safetensors")
    signed = run_bastion("sign", str(model), "--key", str(key_pair.private_key), "--format", "json")
    assert signed.returncode == 0, signed.stderr
    digests = {entry["name"]: entry["sha256"] for entry in json.loads(signed.stdout)["resources"]}
    assert digests["latest.safetensors"] == digests["model-00002.safetensors"]
    (model / "model-00002.safetensors").write_bytes(b"swapped")
    result = run_bastion("verify", str(model), "--key", str(key_pair.public_key))
    _one_line_error(result, 1, "2 files changed: latest.safetensors, model-00002.safetensors")


def test_fifo_is_refused_without_blocking(model: Path, key_pair: KeyPair, run_bastion: RunBastion) -> None:
    os.mkfifo(model / "pipe")
    _one_line_error(run_bastion("sign", str(model), "--key", str(key_pair.private_key)), 2, "pipe", "not a regular file")


def test_unreadable_file_is_an_error_and_leaves_the_old_signature(key_pair: KeyPair) -> None:
    # pytest's tmp_path is private to root, so the unprivileged user below gets a world-readable tree.
    top = Path(tempfile.mkdtemp(prefix="bastion-sign-unreadable-"))
    try:
        top.chmod(0o777)
        tree = top / "model"
        tree.mkdir(mode=0o777)
        tree.chmod(0o777)
        (tree / "open.bin").write_bytes(b"weights")
        (tree / "locked.bin").write_bytes(b"secret weights")
        for path in (tree / "open.bin", tree / "locked.bin"):
            path.chmod(0o644)
        key = shutil.copy(key_pair.private_key, top / "private.pem")
        os.chmod(key, 0o644)  # the unprivileged signer must read the key
        signature = top / "model.sig"
        signature.write_text("previous signature\n")
        signature.chmod(0o666)
        (tree / "locked.bin").chmod(0)
        command = [sys.executable, "-m", "bastion", "sign", str(tree), "--key", str(key)]
        if os.geteuid() == 0:  # root reads everything: drop to an unprivileged user to see the error
            setpriv = shutil.which("setpriv")
            if setpriv is None:
                pytest.skip("setpriv is needed to drop root privileges")
            command = [setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        _one_line_error(result, 2, str(tree / "locked.bin"), "ermission denied")
        assert signature.read_text() == "previous signature\n"
        assert sorted(p.name for p in top.iterdir()) == ["model", "model.sig", "private.pem"]
    finally:
        shutil.rmtree(top)


def test_sharded_round_trip_reports_files_not_shards(model: Path, key_pair: KeyPair, run_bastion: RunBastion) -> None:
    signed = run_bastion("sign", str(model), "--key", str(key_pair.private_key), "--shard-size", "1000000", "--format", "json")
    assert signed.returncode == 0, signed.stderr
    document = json.loads(signed.stdout)
    assert document["method"] == "shards"
    names = [entry["name"] for entry in document["resources"]]
    assert names[:5] == [
        "config.json:0:19",
        "model-00001.safetensors:0:1000000",
        "model-00001.safetensors:1000000:2000000",
        "model-00001.safetensors:2000000:3000000",
        "model-00001.safetensors:3000000:3145728",
    ]
    assert run_bastion("verify", str(model), "--key", str(key_pair.public_key)).returncode == 0
    weights = model / "model-00001.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1])
    _one_line_error(
        run_bastion("verify", str(model), "--key", str(key_pair.public_key)), 1, "1 file changed: model-00001.safetensors"
    )


def test_shard_size_must_be_positive(model: Path, key_pair: KeyPair, run_bastion: RunBastion) -> None:
    _one_line_error(run_bastion("sign", str(model), "--key", str(key_pair.private_key), "--shard-size", "0"), 2, "positive")


def test_signature_cannot_overwrite_the_model(model: Path, key_pair: KeyPair, run_bastion: RunBastion) -> None:
    weights = model / "config.json"
    before = weights.read_bytes()
    result = run_bastion("sign", str(weights), "--key", str(key_pair.private_key), "--signature", str(weights))
    _one_line_error(result, 2, "the model itself")
    assert weights.read_bytes() == before


def test_keys_that_are_not_ec_or_not_keys_are_refused(tmp_path: Path, model: Path, run_bastion: RunBastion) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    rsa_key = tmp_path / "rsa.pem"
    rsa_key.write_bytes(
        rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    _one_line_error(run_bastion("sign", str(model), "--key", str(rsa_key)), 2, str(rsa_key), "not an EC P-256")
    damaged = tmp_path / "damaged.pem"
    damaged.write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    _one_line_error(run_bastion("sign", str(model), "--key", str(damaged)), 2, str(damaged), "damaged private key")
    assert not (tmp_path / "model.sig").exists()


def test_a_failed_signature_write_leaves_the_old_signature_whole(model: Path, key_pair: KeyPair) -> None:
    """A full disk, simulated with a file-size limit: the write fails with one line and no half-written file."""
    import resource

    signature = model.parent / "model.sig"
    signature.write_text("previous signature\n")
    result = subprocess.run(
        [sys.executable, "-m", "bastion", "sign", str(model), "--key", str(key_pair.private_key)],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (256, 256)),
    )
    _one_line_error(result, 2, str(signature), "cannot write the signature", "File too large")
    assert signature.read_text() == "previous signature\n"
    assert sorted(p.name for p in model.parent.iterdir()) == ["keys", "model", "model.sig"]
