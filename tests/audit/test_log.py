"""The audit log on disk: chain, checkpoints, tamper detection, torn writes, crashes and concurrent writers."""

from __future__ import annotations

import itertools
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from bastion.audit import AuditError, AuditLog, AuditSigner, encoding, prove_inclusion, record, verify_log
from bastion.audit import log as audit_log
from bastion.audit.merkle import verify_inclusion


@pytest.fixture
def signer(tmp_path: Path) -> AuditSigner:
    return AuditSigner.open(tmp_path / "keys")


def filled(directory: Path, signer: AuditSigner, count: int = 12, checkpoint_at: tuple[int, ...] = (8, 12)) -> AuditLog:
    log = AuditLog(directory, durable=False)
    for i in range(count):
        log.append("scan", actor=f"user{i % 3}", target=f"models/m{i}.pt", outcome="pass", details={"findings": i})
        if i + 1 in checkpoint_at:
            log.checkpoint(signer)
    return log


def lines_of(log: AuditLog) -> list[bytes]:
    return log.segments()[0].read_bytes().splitlines(keepends=True)


def rewrite(log: AuditLog, lines: list[bytes]) -> None:
    log.segments()[0].write_bytes(b"".join(lines))


def test_appended_entries_chain_and_verify(tmp_path: Path, signer: AuditSigner) -> None:
    log = filled(tmp_path / "audit", signer)
    entries = list(log.entries())
    assert [e.seq for e in entries] == list(range(12))
    assert entries[0].prev == encoding.GENESIS and all(b.prev == a.hash for a, b in itertools.pairwise(entries))
    assert entries[5].actor == "user2" and entries[5].details == {"findings": 5}
    result = verify_log(log, signer.public_key)
    assert result.intact and (result.entries, result.checkpoints) == (12, 2)
    assert oct(log.segments()[0].stat().st_mode & 0o777) == "0o600"


def test_checkpoint_is_reused_when_nothing_was_added(tmp_path: Path, signer: AuditSigner) -> None:
    log = filled(tmp_path / "audit", signer)
    assert log.checkpoint(signer) == log.last_checkpoint()
    assert len(log.checkpoints()) == 2


def test_edited_entry_is_named(tmp_path: Path, signer: AuditSigner) -> None:
    log = filled(tmp_path / "audit", signer)
    lines = lines_of(log)
    lines[4] = lines[4].replace(b'"actor":"user1"', b'"actor":"admin"')
    rewrite(log, lines)
    result = verify_log(log, signer.public_key)
    assert not result.intact
    assert result.problem == "segment-00000001.jsonl line 5 (entry 4): its hash does not match its content (edited)"


def test_edit_with_a_recomputed_hash_breaks_the_next_link(tmp_path: Path, signer: AuditSigner) -> None:
    log = filled(tmp_path / "audit", signer)
    lines = lines_of(log)
    fields = json.loads(lines[4])
    fields["outcome"] = "fail"
    fields["hash"], lines[4] = encoding.encode_entry(fields)
    rewrite(log, lines)
    problem = verify_log(log, signer.public_key).problem
    assert problem is not None and problem.startswith("segment-00000001.jsonl line 6 (entry 5): does not chain")


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        ("delete", "line 4 (entry 3): numbered 4 where 3 was expected"),
        ("reorder", "line 4 (entry 3): numbered 4 where 3 was expected"),
        ("insert", "line 4 (entry 3): numbered 2 where 3 was expected"),
        ("garbage", "line 4 (entry 3): not JSON"),
        ("reformat", "line 4 (entry 3): not an entry line (edited)"),
    ],
)
def test_deleted_reordered_inserted_lines(tmp_path: Path, signer: AuditSigner, tamper: str, expected: str) -> None:
    log = filled(tmp_path / "audit", signer)
    lines = lines_of(log)
    if tamper == "delete":
        del lines[3]
    elif tamper == "reorder":
        lines[3], lines[4] = lines[4], lines[3]
    elif tamper == "insert":
        lines.insert(3, lines[2])
    elif tamper == "reformat":  # the same fields, spelt differently: the bytes are what is signed
        lines[3] = json.dumps(json.loads(lines[3]), indent=1).replace("\n", " ").encode() + b"\n"
    else:
        lines[3] = b"{not json\n"
    rewrite(log, lines)
    problem = verify_log(log, signer.public_key).problem
    assert problem is not None and expected in problem


def test_truncation_under_a_checkpoint_is_caught(tmp_path: Path, signer: AuditSigner) -> None:
    log = filled(tmp_path / "audit", signer)
    rewrite(log, lines_of(log)[:10])
    result = verify_log(log, signer.public_key)
    assert result.problem == "log truncated: a checkpoint signed 12 entries, only 10 are present"


def test_a_consistently_rewritten_chain_contradicts_the_signed_root(tmp_path: Path, signer: AuditSigner) -> None:
    """An attacker who drops an entry and re-hashes everything after it still cannot re-sign the checkpoint."""
    log = filled(tmp_path / "audit", signer, checkpoint_at=(12,))
    entries = [json.loads(line) for line in lines_of(log)]
    del entries[2]
    prev = encoding.GENESIS
    rebuilt = []
    entries.append(dict(entries[-1]))  # pad back to 12 entries
    for seq, fields in enumerate(entries):
        fields.update(seq=seq, prev=prev)
        prev, line = encoding.encode_entry(fields)
        rebuilt.append(line)
    rewrite(log, rebuilt)
    result = verify_log(log, signer.public_key)
    assert result.problem == (
        "checkpoint at 12 entries: the entries no longer have the signed root (entries before it were rewritten)"
    )


def test_forged_checkpoint_and_foreign_key(tmp_path: Path, signer: AuditSigner) -> None:
    log = filled(tmp_path / "audit", signer)
    other = AuditSigner.open(tmp_path / "other-keys")
    assert "not the given key" in (verify_log(log, other.public_key).problem or "")
    path = log.directory / "checkpoints.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    forged = json.loads(lines[0])
    forged["root"] = "00" * 32
    lines[0] = json.dumps(forged).encode() + b"\n"
    path.write_bytes(b"".join(lines))
    problem = verify_log(log, signer.public_key).problem
    assert problem == "checkpoint at 8 entries: signature does not verify (forged or edited checkpoint)"


def test_deleted_segment_is_named(tmp_path: Path, signer: AuditSigner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audit_log, "SEGMENT_LIMIT", 600)
    log = filled(tmp_path / "audit", signer, count=20, checkpoint_at=(20,))
    segments = log.segments()
    assert len(segments) >= 3
    assert verify_log(log, signer.public_key).intact
    segments[1].unlink()
    assert verify_log(log, signer.public_key).problem == "segment-00000002.jsonl is missing (deleted)"


def test_entries_from_a_seq_across_segments(tmp_path: Path, signer: AuditSigner, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading from an entry's number (what the registry's outbox does after a crash) searches from the end."""
    monkeypatch.setattr(audit_log, "SEGMENT_LIMIT", 700)
    log = filled(tmp_path / "audit", signer, count=25, checkpoint_at=())
    assert len(log.segments()) >= 4 and log.size() == 25
    for start in (0, 1, 4, 5, 11, 24, 25, 40):
        assert [e.seq for e in log.entries(start)] == list(range(start, 25)), start
    with log.segments()[-1].open("ab") as handle:
        handle.write(b'{"seq":25,"ti')  # a torn write is not an entry
    assert [e.seq for e in AuditLog(log.directory).entries(24)] == [24]
    monkeypatch.undo()
    big = filled(tmp_path / "big", signer, count=800, checkpoint_at=())  # one segment, past the first 64 KiB window
    assert len(big.segments()) == 1 and big.segments()[0].stat().st_size > 3 * 64 * 1024
    for start in (0, 3, 400, 799):
        assert [e.seq for e in big.entries(start)] == list(range(start, 800)), start


def test_torn_last_write_is_reported_then_cut_off(tmp_path: Path, signer: AuditSigner) -> None:
    log = filled(tmp_path / "audit", signer)
    with log.segments()[0].open("ab") as handle:
        handle.write(b'{"seq":12,"time":"2026-')
    result = verify_log(log, signer.public_key)
    assert result.intact and result.torn_tail == 23 and result.entries == 12
    fresh = AuditLog(log.directory)  # another process: reads the tail from disk
    entry = fresh.append("scan", actor="user0")
    assert entry.seq == 12
    assert verify_log(fresh, signer.public_key).to_dict() == {
        "intact": True,
        "entries": 13,
        "checkpoints": 2,
        "problem": None,
        "torn_tail_bytes": 0,
    }


def test_inclusion_proof_against_the_signed_root(tmp_path: Path, signer: AuditSigner) -> None:
    log = filled(tmp_path / "audit", signer, count=37, checkpoint_at=(37,))
    for seq in (0, 17, 36):
        proof = prove_inclusion(log, seq)
        path = [bytes.fromhex(node) for node in proof.path]
        root = bytes.fromhex(proof.checkpoint.root)
        assert verify_inclusion(seq, proof.checkpoint.size, bytes.fromhex(proof.leaf), path, root)
    log.append("scan", actor="late")
    with pytest.raises(AuditError, match="entry 37 is not under a checkpoint yet"):
        prove_inclusion(log, 37)


def test_signer_checkpoints_automatically(tmp_path: Path, signer: AuditSigner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(encoding, "CHECKPOINT_EVERY", 5)
    log = AuditLog(tmp_path / "audit", durable=False, signer=signer)
    for _ in range(12):
        log.append("store.put", actor="svc")
    assert [c.size for c in log.checkpoints()] == [5, 10]


def test_oversized_details_are_refused(tmp_path: Path) -> None:
    with pytest.raises(AuditError, match="at most 16384"):
        AuditLog(tmp_path / "audit").append("scan", actor="x", details={"blob": "x" * 20_000})
    assert not list(AuditLog(tmp_path / "audit").entries())


def test_record_needs_an_initialised_instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BASTION_HOME", str(tmp_path / "home"))
    assert record("scan", target="x") is None
    assert not (tmp_path / "home").exists()
    (tmp_path / "home" / "audit").mkdir(parents=True)
    entry = record("scan", target="models/", outcome="fail", details={"violations": 2})
    assert entry is not None and entry.actor.startswith("os:")
    log = AuditLog(tmp_path / "home" / "audit")
    assert log.last_checkpoint() is not None and log.last_checkpoint().size == 1  # type: ignore[union-attr]
    assert oct((tmp_path / "home" / "keys" / "audit-private.pem").stat().st_mode & 0o777) == "0o600"


_WRITER = textwrap.dedent(
    """
    import sys
    from bastion.audit import AuditLog
    log = AuditLog(sys.argv[1])
    for i in range(int(sys.argv[2])):
        log.append("scan", actor=sys.argv[3], details={"i": i})
    """
)


def _writer(directory: Path, count: int, actor: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", _WRITER, str(directory), str(count), actor])


def test_concurrent_writers_keep_one_chain(tmp_path: Path, signer: AuditSigner) -> None:
    directory = tmp_path / "audit"
    writers = [_writer(directory, 60, f"w{n}") for n in range(3)]
    assert [w.wait(timeout=120) for w in writers] == [0, 0, 0]
    log = AuditLog(directory)
    result = verify_log(log, signer.public_key)
    assert result.intact and result.entries == 180
    assert sorted(e.actor for e in log.entries()).count("w1") == 60


def test_killed_writers_leave_a_consistent_log(tmp_path: Path, signer: AuditSigner) -> None:
    """SIGKILL at random moments while appending: every time, the log verifies and the next append continues it."""
    directory = tmp_path / "audit"
    rng = random.Random(7)
    seen = 0
    for _ in range(8):
        writer = _writer(directory, 100_000, "victim")
        time.sleep(0.3 + rng.random() * 0.4)
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait()
        log = AuditLog(directory)
        result = verify_log(log, signer.public_key)
        assert result.intact, result.problem
        assert result.entries >= seen
        entry = log.append("check", actor="test")
        seen = entry.seq + 1
        assert verify_log(log, signer.public_key).entries == seen
    assert seen > 100  # the writers got going before they were killed
