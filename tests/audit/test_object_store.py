"""The shared audit log in S3 (a real SeaweedFS server): one chain from many writers, immutable objects, and every
edit, deletion or replacement of an object found by verification, from Python and from the CLI."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bastion.audit import AuditError, AuditSigner, ObjectStoreLog, encoding, open_log, prove_inclusion, record, verify_log
from bastion.audit.merkle import verify_inclusion
from tests.conftest import RunBastion
from tests.store import servers


@pytest.fixture
def signer(tmp_path: Path) -> AuditSigner:
    return AuditSigner.open(tmp_path / "keys")


def filled(url: str, signer: AuditSigner, count: int = 10, checkpoint_at: tuple[int, ...] = (6, 10)) -> ObjectStoreLog:
    log = ObjectStoreLog(url)
    for i in range(count):
        log.append("scan", actor=f"user{i % 3}", target=f"models/m{i}.pt", outcome="pass", details={"findings": i})
        if i + 1 in checkpoint_at:
            log.checkpoint(signer)
    return log


def entry_key(url: str, kind: str, number: int) -> str:
    """The object key of entry (or checkpoint) ``number`` below ``url``."""
    prefix = url.removeprefix(f"s3://{servers.BUCKET}/")
    return f"{prefix}/{kind}/{10**16 - 1 - number:016d}-{number}.json"


def read(bucket: Any, key: str) -> bytes:
    return bytes(bucket.get_object(Bucket=servers.BUCKET, Key=key)["Body"].read())


def write(bucket: Any, key: str, data: bytes) -> None:
    bucket.put_object(Bucket=servers.BUCKET, Key=key, Body=data)


def test_round_trip_and_verify(audit_url: str, signer: AuditSigner) -> None:
    log = filled(audit_url, signer)
    fresh = ObjectStoreLog(audit_url)  # another process: knows nothing but the URL
    entries = list(fresh.entries())
    assert [e.seq for e in entries] == list(range(10)) and fresh.size() == 10
    assert entries[4].actor == "user1" and entries[4].details == {"findings": 4} and entries[4].target == "models/m4.pt"
    assert entries[0].prev == encoding.GENESIS and all(b.prev == a.hash for a, b in itertools.pairwise(entries))
    assert [e.seq for e in fresh.entries(7)] == [7, 8, 9]
    assert [c.size for c in fresh.checkpoints()] == [6, 10] and fresh.last_checkpoint() == log.last_checkpoint()
    assert fresh.checkpoint(signer) == log.last_checkpoint()  # nothing new: the same checkpoint, no new object
    result = verify_log(fresh, signer.public_key)
    assert result.to_dict() == {"intact": True, "entries": 10, "checkpoints": 2, "problem": None, "torn_tail_bytes": 0}
    proof = prove_inclusion(fresh, 3)
    path = [bytes.fromhex(node) for node in proof.path]
    assert verify_inclusion(3, 10, bytes.fromhex(proof.leaf), path, bytes.fromhex(proof.checkpoint.root))


def test_writers_racing_for_a_seq_keep_one_chain(audit_url: str, signer: AuditSigner) -> None:
    """A writer whose idea of the tail is stale loses the conditional create and chains after the winner."""
    first, second = ObjectStoreLog(audit_url), ObjectStoreLog(audit_url)
    assert first.append("scan", actor="a").seq == 0
    assert second.append("scan", actor="b").seq == 1
    assert second.append("scan", actor="b").seq == 2
    late = first.append("scan", actor="a")  # believed the next seq was 1
    assert late.seq == 3
    first.checkpoint(signer)
    result = verify_log(ObjectStoreLog(audit_url), signer.public_key)
    assert result.intact and (result.entries, result.checkpoints) == (4, 1)
    assert [e.actor for e in ObjectStoreLog(audit_url).entries()] == ["a", "b", "b", "a"]


def test_a_writer_far_behind_the_tail_still_appends(audit_url: str, signer: AuditSigner) -> None:
    """A long-running writer (a server) whose tail is more entries behind than it has attempts catches up at once."""
    server, busy = ObjectStoreLog(audit_url), ObjectStoreLog(audit_url)
    assert server.append("serve.admit", actor="bastion-serve").seq == 0
    for _ in range(60):
        busy.append("scan", actor="ci")
    assert server.append("serve.admit", actor="bastion-serve").seq == 61
    assert verify_log(ObjectStoreLog(audit_url), signer.public_key).intact


def test_objects_are_never_replaced(audit_url: str, signer: AuditSigner, bucket: Any) -> None:
    log = filled(audit_url, signer, count=3, checkpoint_at=(3,))
    stored = read(bucket, entry_key(audit_url, "entries", 2))
    stale = ObjectStoreLog(audit_url)
    stale._tail = (2, encoding.GENESIS)  # as if it had missed entry 2 being written
    assert stale.append("scan", actor="late").seq == 3
    assert read(bucket, entry_key(audit_url, "entries", 2)) == stored
    assert verify_log(log, signer.public_key).intact


def _edit(bucket: Any, url: str) -> None:
    key = entry_key(url, "entries", 4)
    write(bucket, key, read(bucket, key).replace(b'"actor":"user1"', b'"actor":"admin"'))


def _rehash(bucket: Any, url: str) -> None:
    """Replace entry 4 with a consistent-looking entry of its own (fresh hash): the next link breaks."""
    key = entry_key(url, "entries", 4)
    fields = json.loads(read(bucket, key))
    fields["outcome"] = "fail"
    _hash, line = encoding.encode_entry(fields)
    write(bucket, key, line)


def _replace_last(bucket: Any, url: str) -> None:
    """Replace the last entry, re-hashed: nothing follows it, but the signed root no longer matches."""
    key = entry_key(url, "entries", 9)
    fields = json.loads(read(bucket, key))
    fields["target"] = "models/innocent.pt"
    _hash, line = encoding.encode_entry(fields)
    write(bucket, key, line)


def _delete(bucket: Any, url: str) -> None:
    bucket.delete_object(Bucket=servers.BUCKET, Key=entry_key(url, "entries", 3))


def _truncate(bucket: Any, url: str) -> None:
    for seq in (8, 9):
        bucket.delete_object(Bucket=servers.BUCKET, Key=entry_key(url, "entries", seq))


def _forge_checkpoint(bucket: Any, url: str) -> None:
    key = entry_key(url, "checkpoints", 6)
    checkpoint = json.loads(read(bucket, key))
    checkpoint["root"] = "00" * 32
    write(bucket, key, json.dumps(checkpoint).encode())


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        (_edit, "entries/9999999999999995-4.json line 1 (entry 4): its hash does not match its content (edited)"),
        (_rehash, "entries/9999999999999994-5.json line 1 (entry 5): does not chain to the entry before it"),
        (_replace_last, "checkpoint at 10 entries: the entries no longer have the signed root"),
        (_delete, "entries/9999999999999996-3.json is missing (deleted)"),
        (_truncate, "log truncated: a checkpoint signed 10 entries, only 8 are present"),
        (_forge_checkpoint, "checkpoint at 6 entries: signature does not verify (forged or edited checkpoint)"),
    ],
)
def test_tampered_objects_are_named(audit_url: str, signer: AuditSigner, bucket: Any, tamper: Any, expected: str) -> None:
    log = filled(audit_url, signer)
    assert verify_log(log, signer.public_key).intact
    tamper(bucket, audit_url)
    problem = verify_log(ObjectStoreLog(audit_url), signer.public_key).problem
    assert problem is not None and problem.startswith(expected), problem


def test_a_checkpoint_is_not_signed_over_a_broken_chain(audit_url: str, signer: AuditSigner, bucket: Any, tmp_path: Path) -> None:
    filled(audit_url, signer, checkpoint_at=())
    _edit(bucket, audit_url)
    with pytest.raises(AuditError, match=r"entry 4: its hash does not match its content \(edited\); not signing"):
        ObjectStoreLog(audit_url).checkpoint(signer)
    assert ObjectStoreLog(audit_url).checkpoints() == []


def test_record_goes_to_the_configured_log(audit_url: str, signer: AuditSigner, tmp_path: Path) -> None:
    """With BASTION_AUDIT_URL set, every command's action lands in the bucket, no local log needed."""
    entry = record("scan", target="models/", outcome="fail", details={"violations": 2})
    assert entry is not None and entry.seq == 0 and not (tmp_path / "home" / "audit").exists()
    log = open_log()
    assert isinstance(log, ObjectStoreLog) and [e.action for e in log.entries()] == ["scan"]
    assert log.last_checkpoint() is not None and log.last_checkpoint().size == 1  # type: ignore[union-attr]


def test_bad_url_and_unreachable_bucket_are_one_line(audit_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(AuditError, match="not an S3 URL; give s3://BUCKET/PREFIX"):
        ObjectStoreLog("gs://elsewhere/audit")
    with pytest.raises(AuditError, match="s3://no-such-bucket/audit: cannot list the audit log"):
        ObjectStoreLog("s3://no-such-bucket/audit").size()


def test_cli_log_and_verify_against_the_bucket(audit_url: str, bucket: Any, tmp_path: Path, run_bastion: RunBastion) -> None:
    env = {"BASTION_HOME": str(tmp_path / "home")}
    init = run_bastion("init", "--format", "json", env=env)
    assert init.returncode == 0, init.stderr
    assert json.loads(init.stdout)["audit_log"] == audit_url and not (tmp_path / "home" / "audit").exists()
    log = run_bastion("audit", "log", "--format", "jsonl", env=env)
    assert log.returncode == 0, log.stderr
    entries = [json.loads(line) for line in log.stdout.splitlines()]
    assert [(e["seq"], e["action"]) for e in entries] == [(0, "init"), (1, "user.add"), (2, "key.trust")]
    assert run_bastion("audit", "log", "--actor", "nobody", "--format", "jsonl", env=env).stdout == ""
    verify = run_bastion("audit", "verify", "--format", "json", env=env)
    assert verify.returncode == 0 and json.loads(verify.stdout)["entries"] == 3, verify.stdout + verify.stderr
    assert json.loads(run_bastion("audit", "prove", "2", "--format", "json", env=env).stdout)["checkpoint"]["size"] == 3
    bucket.delete_object(Bucket=servers.BUCKET, Key=entry_key(audit_url, "entries", 1))
    tampered = run_bastion("audit", "verify", env=env)
    assert tampered.returncode == 1
    assert tampered.stdout.strip() == "TAMPERED: entries/9999999999999998-1.json is missing (deleted)"


@pytest.mark.parametrize("moment", ["before-append", "after-append"])
def test_a_change_killed_before_its_entry_reaches_the_bucket_is_recorded_once(
    audit_url: str, tmp_path: Path, run_bastion: RunBastion, moment: str
) -> None:
    """The registry's outbox drains into the shared log as into the local one (tests/registry/test_crash.py)."""
    from bastion.registry import Registry

    env = {"BASTION_HOME": str(tmp_path / "home")}
    token = json.loads(run_bastion("init", "--format", "json", env=env).stdout)["token"]
    worker = subprocess.run(
        [sys.executable, "-m", "tests.registry.crash_worker", moment, "ghost"],
        env={**os.environ, **env, "ADMIN_TOKEN": token},
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert worker.returncode == -signal.SIGKILL, worker.stderr

    def ghosts() -> int:
        return sum(e.action == "user.add" and e.target == "ghost" for e in ObjectStoreLog(audit_url).entries())

    assert ghosts() == (1 if moment == "after-append" else 0)
    Registry.open().close()
    Registry.open().close()
    assert ghosts() == 1
    key = AuditSigner.open(tmp_path / "home" / "keys").public_key
    assert verify_log(ObjectStoreLog(audit_url), key).intact


_WRITER = """
import sys
from bastion.audit import ObjectStoreLog
log = ObjectStoreLog(sys.argv[1])
for i in range(int(sys.argv[2])):
    log.append("scan", actor=sys.argv[3], details={"i": i})
"""


def test_concurrent_writer_processes_keep_one_chain(audit_url: str, signer: AuditSigner) -> None:
    writers = [subprocess.Popen([sys.executable, "-c", _WRITER, audit_url, "15", f"w{n}"]) for n in range(3)]
    assert [w.wait(timeout=300) for w in writers] == [0, 0, 0]
    log = ObjectStoreLog(audit_url)
    log.checkpoint(signer)
    result = verify_log(log, signer.public_key)
    assert result.intact and result.entries == 45, result.problem
    actors = [e.actor for e in log.entries()]
    assert sorted(set(actors)) == ["w0", "w1", "w2"] and all(actors.count(a) == 15 for a in set(actors))
