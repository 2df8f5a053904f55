"""The blob store on a local directory with the local keyring: format, tamper detection, object lock, references."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import stat
import struct
import tracemalloc
from pathlib import Path

import pytest

from bastion.store import KeyProviderError, LocalKeyring, Store, StoreError, open_store
from bastion.store.envelope import MAGIC, SEGMENT_SIZE

SIZES = [0, 1, SEGMENT_SIZE - 1, SEGMENT_SIZE, SEGMENT_SIZE + 1, 3 * SEGMENT_SIZE + 12345]


def blob_path(store_root: Path, digest: str) -> Path:
    hex_digest = digest.removeprefix("sha256:")
    return store_root / "blobs" / "sha256" / hex_digest[:2] / hex_digest


def writable(path: Path) -> Path:
    os.chmod(path, 0o644)  # stored blobs are read-only; the tests play the attacker with write access
    return path


@pytest.mark.parametrize("size", SIZES)
def test_put_get_round_trip_addressed_by_plaintext_sha256(local_store: Store, tmp_path: Path, size: int) -> None:
    content = os.urandom(size)
    digest = local_store.put(content)
    assert digest == "sha256:" + hashlib.sha256(content).hexdigest()
    assert local_store.get(digest) == content
    assert local_store.get(digest.removeprefix("sha256:")) == content
    assert local_store.info(digest).size == size
    out = tmp_path / "out.bin"
    assert local_store.export(digest, out) == digest
    assert out.read_bytes() == content


def test_blobs_are_encrypted_at_rest_and_keys_stored_wrapped(local_store: Store, tmp_path: Path) -> None:
    content = b"patient_id,diagnosis\n" * 5000
    digest = local_store.put(content)
    stored = blob_path(tmp_path / "store", digest).read_bytes()
    assert stored.startswith(MAGIC)
    assert b"patient_id" not in stored
    (header_length,) = struct.unpack(">I", stored[8:12])
    header = json.loads(stored[12 : 12 + header_length])
    assert header["cipher"] == "AES-256-GCM" and header["segment_size"] == SEGMENT_SIZE
    record = json.loads((tmp_path / "store" / "keys" / f"{header['blob_id']}.json").read_text())
    assert record["format"] == "bastion-blob-key/1" and record["digest"] == digest
    assert record["wrapped_key"]["provider"] == "local" and record["wrapped_key"]["key_name"] == "default"
    assert stat.S_IMODE(blob_path(tmp_path / "store", digest).stat().st_mode) == 0o444


def test_each_blob_has_its_own_data_key(local_store: Store, tmp_path: Path) -> None:
    local_store.put(b"a")
    local_store.put(b"b")
    records = [json.loads(p.read_text()) for p in (tmp_path / "store" / "keys").iterdir()]
    assert len({r["wrapped_key"]["ciphertext"] for r in records}) == 2


def test_put_streams_with_bounded_memory(local_store: Store, tmp_path: Path) -> None:
    size = 48 * SEGMENT_SIZE
    source = tmp_path / "big.bin"
    with source.open("wb") as handle:
        for _ in range(size // SEGMENT_SIZE):
            handle.write(os.urandom(SEGMENT_SIZE))
    tracemalloc.start()
    try:
        with source.open("rb") as handle:
            digest = local_store.put(handle)
        local_store.export(digest, tmp_path / "copy.bin")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * SEGMENT_SIZE, f"peak {peak} bytes for a {size}-byte blob"
    assert hashlib.sha256((tmp_path / "copy.bin").read_bytes()).hexdigest() == digest.removeprefix("sha256:")


def test_a_second_put_of_the_same_content_changes_nothing(local_store: Store, tmp_path: Path) -> None:
    digest = local_store.put(b"same bytes")
    path = blob_path(tmp_path / "store", digest)
    before = (path.read_bytes(), path.stat().st_mtime_ns, sorted(os.listdir(tmp_path / "store" / "keys")))
    assert local_store.put(io.BytesIO(b"same bytes")) == digest
    assert (path.read_bytes(), path.stat().st_mtime_ns, sorted(os.listdir(tmp_path / "store" / "keys"))) == before
    assert os.listdir(tmp_path / "store" / "tmp") == []


@pytest.mark.parametrize("where", ["header", "first segment", "last tag"])
def test_a_flipped_byte_fails_the_read(local_store: Store, tmp_path: Path, where: str) -> None:
    digest = local_store.put(os.urandom(2 * SEGMENT_SIZE + 100))
    path = writable(blob_path(tmp_path / "store", digest))
    data = bytearray(path.read_bytes())
    (header_length,) = struct.unpack(">I", data[8:12])
    created_year = data.index(b'"created":"') + len(b'"created":"') + 3  # still a valid header, another date
    offset = {"header": created_year, "first segment": 12 + header_length + 40, "last tag": len(data) - 1}[where]
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match=r"segment \d+ fails authentication: the blob was altered, truncated or reordered"):
        local_store.get(digest)
    out = tmp_path / "out.bin"
    with pytest.raises(StoreError, match="fails authentication"):
        local_store.export(digest, out)
    assert not out.exists() and [p for p in os.listdir(tmp_path) if p.startswith(".out.bin")] == []


@pytest.mark.parametrize("cut", ["segment boundary", "mid segment", "whole segment dropped"])
def test_a_truncated_blob_fails_the_read(local_store: Store, tmp_path: Path, cut: str) -> None:
    digest = local_store.put(os.urandom(3 * SEGMENT_SIZE))
    path = writable(blob_path(tmp_path / "store", digest))
    data = path.read_bytes()
    record = 12 + SEGMENT_SIZE + 16
    keep = {"segment boundary": len(data) - record, "mid segment": len(data) - 1000, "whole segment dropped": -1}[cut]
    if keep == -1:  # drop the middle segment, keep the final one
        end = len(data)
        data = data[: end - 2 * record] + data[end - record :]
    else:
        data = data[:keep]
    path.write_bytes(data)
    with pytest.raises(StoreError, match=r"fails authentication|truncated"):
        local_store.get(digest)


def test_reordered_segments_fail_the_read(local_store: Store, tmp_path: Path) -> None:
    digest = local_store.put(os.urandom(3 * SEGMENT_SIZE + 5))
    path = writable(blob_path(tmp_path / "store", digest))
    data = path.read_bytes()
    record = 12 + SEGMENT_SIZE + 16
    (header_length,) = struct.unpack(">I", data[8:12])
    start = 12 + header_length
    first, second = data[start : start + record], data[start + record : start + 2 * record]
    path.write_bytes(data[:start] + second + first + data[start + 2 * record :])
    with pytest.raises(StoreError, match="segment 0 fails authentication"):
        local_store.get(digest)


def test_a_swapped_blob_fails_the_read(local_store: Store, tmp_path: Path) -> None:
    first = local_store.put(b"the approved model")
    second = local_store.put(b"a backdoored model")
    first_path, second_path = writable(blob_path(tmp_path / "store", first)), blob_path(tmp_path / "store", second)
    first_path.write_bytes(second_path.read_bytes())  # a whole, valid blob under the wrong address
    with pytest.raises(StoreError, match=r"the stored content has another digest .*swapped or replaced"):
        local_store.get(first)


def test_a_missing_or_foreign_data_key_fails_the_read(local_store: Store, tmp_path: Path) -> None:
    first = local_store.put(b"one")
    second = local_store.put(b"two")
    keys = tmp_path / "store" / "keys"
    records = {json.loads(p.read_text())["digest"]: p for p in keys.iterdir()}
    records[first].write_text(records[second].read_text())  # another blob's data key
    with pytest.raises(StoreError, match="fails authentication"):
        local_store.get(first)
    records[second].unlink()
    with pytest.raises(StoreError, match=r"its data key record .* is missing"):
        local_store.get(second)


def test_reading_with_another_keyring_fails_clearly(local_store: Store, tmp_path: Path) -> None:
    digest = local_store.put(b"secret")
    other = tmp_path / "other" / "keyring.json"
    from bastion.store import init_keyring

    init_keyring(other)
    with pytest.raises(StoreError, match="cannot unwrap this data key"):
        open_store(str(tmp_path / "store"), LocalKeyring(other)).get(digest)


def test_a_missing_keyring_is_one_clear_error(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "store"), LocalKeyring(tmp_path / "nowhere" / "keyring.json"))
    with pytest.raises(KeyProviderError, match=r"no keyring at .*; run `bastion keys init`$"):
        store.put(b"data")
    assert not (tmp_path / "store").exists()


def test_unknown_digests_and_names_are_clear_errors(local_store: Store) -> None:
    with pytest.raises(StoreError, match="is not in the store"):
        local_store.get("sha256:" + "0" * 64)
    with pytest.raises(StoreError, match="not a valid reference name"):
        local_store.get("../../etc/passwd")
    with pytest.raises(StoreError, match="no reference named 'datasets/none'"):
        local_store.get("datasets/none")


def test_retention_refuses_deletion_before_the_date(local_store: Store, tmp_path: Path) -> None:
    future = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
    kept = local_store.put(b"audit evidence", retain_until=future)
    assert local_store.info(kept).retain_until == future.strftime("%Y-%m-%dT%H:%M:%SZ")
    with pytest.raises(StoreError, match=r"is retained until \d{4}-\d\d-\d\dT.*cannot be deleted before then"):
        local_store.delete(kept)
    assert local_store.get(kept) == b"audit evidence"

    expired = local_store.put(b"old scratch", retain_until=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
    unlocked = local_store.put(b"no retention")
    local_store.delete(expired)
    local_store.delete(unlocked)
    assert not local_store.contains(expired) and not local_store.contains(unlocked)
    assert len(os.listdir(tmp_path / "store" / "keys")) == 1, "the deleted blobs' data keys are gone too"


def test_a_second_put_cannot_shorten_retention(local_store: Store) -> None:
    future = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    digest = local_store.put(b"locked", retain_until=future)
    local_store.put(b"locked")
    with pytest.raises(StoreError, match="is retained until"):
        local_store.delete(digest)


def test_references_keep_their_history(local_store: Store) -> None:
    v1 = local_store.put(b"patients, January")
    v2 = local_store.put(b"patients, February")
    assert local_store.tag("datasets/patients", v1).version == 1
    assert local_store.tag("datasets/patients", v1).version == 1, "re-pointing at the same digest adds nothing"
    assert local_store.tag("datasets/patients", v2).version == 2
    assert local_store.tag("datasets/patients", v1).version == 3, "going back is a new version, history kept"
    history = local_store.refs.history("datasets/patients")
    assert [(ref.version, ref.digest) for ref in history] == [(1, v1), (2, v2), (3, v1)]
    assert local_store.get("datasets/patients@v2") == b"patients, February"
    assert local_store.get("datasets/patients") == b"patients, January"
    with pytest.raises(StoreError, match="has no version 4; its latest is v3"):
        local_store.get("datasets/patients@v4")
    local_store.tag("models/churn", v2)
    assert local_store.refs.names() == ["datasets/patients", "models/churn"]


def test_references_must_point_at_stored_blobs(local_store: Store) -> None:
    with pytest.raises(StoreError, match="is not in the store"):
        local_store.tag("datasets/x", "sha256:" + "1" * 64)
    for bad in ["", "/abs", "a//b", "a/../b", "a@b", "a b"]:
        with pytest.raises(StoreError, match=r"not a valid reference name|is not a reference"):
            local_store.tag(bad, local_store.put(b"x"))


def test_references_are_append_only_on_disk(local_store: Store, tmp_path: Path) -> None:
    digest = local_store.put(b"x")
    local_store.tag("a", digest)
    local_store.tag("a", local_store.put(b"y"))
    files = sorted((tmp_path / "store" / "refs" / "a").iterdir())
    assert [p.name for p in files] == ["00000001.json", "00000002.json"]
    assert json.loads(files[0].read_text())["digest"] == digest


def test_rotation_rewraps_data_keys_without_touching_blobs(local_store: Store, tmp_path: Path) -> None:
    contents = [os.urandom(n) for n in (0, 10, SEGMENT_SIZE + 3)]
    digests = [local_store.put(c) for c in contents]
    keys = tmp_path / "store" / "keys"
    blobs_before = {d: blob_path(tmp_path / "store", d).read_bytes() for d in digests}
    records_before = {p.name: json.loads(p.read_text()) for p in keys.iterdir()}

    rotation = local_store.rotate_key("default")
    assert (rotation.version, rotation.rewrapped) == (2, 3)
    for name, before in records_before.items():
        after = json.loads((keys / name).read_text())
        assert after["wrapped_key"]["key_version"] == 2
        assert after["wrapped_key"]["ciphertext"] != before["wrapped_key"]["ciphertext"], "the old wrapped key is replaced"
    assert {d: blob_path(tmp_path / "store", d).read_bytes() for d in digests} == blobs_before
    fresh = open_store(str(tmp_path / "store"), LocalKeyring(local_store.keys.path))  # type: ignore[attr-defined]
    assert [fresh.get(d) for d in digests] == contents
    assert fresh.info(fresh.put(b"new")).key.key_version == 2
    assert fresh.rotate_key("default").rewrapped == 4


def test_a_failed_write_leaves_nothing_behind(local_store: Store, tmp_path: Path) -> None:
    class FailingSource(io.RawIOBase):
        """A source that fails part-way, as a network stream or a dying disk would."""

        def __init__(self) -> None:
            self.sent = 0

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
            if self.sent >= 2 * SEGMENT_SIZE:
                raise OSError(5, "Input/output error")
            count = min(len(buffer), 65536)
            buffer[:count] = bytes(count)
            self.sent += count
            return count

    with pytest.raises(StoreError, match="cannot write: Input/output error; nothing was changed"):
        local_store.put(io.BufferedReader(FailingSource()))
    root = tmp_path / "store"
    assert [p for p in root.rglob("*") if p.is_file()] == []


def test_concurrent_writers_keep_blobs_and_references_consistent(local_store: Store, tmp_path: Path) -> None:
    import threading

    content = os.urandom(SEGMENT_SIZE + 10)
    digests: list[str] = []
    refs: list[int] = []
    blobs = [local_store.put(f"blob {i}".encode()) for i in range(8)]

    def write(i: int) -> None:
        digests.append(local_store.put(content))
        refs.append(local_store.tag("models/churn", blobs[i]).version)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(digests)) == 1 and local_store.get(digests[0]) == content
    assert len(os.listdir(tmp_path / "store" / "keys")) == 9, "one data key per stored blob, the losers' removed"
    assert sorted(refs) == list(range(1, 9)), "every writer got its own version"
    assert [ref.version for ref in local_store.refs.history("models/churn")] == list(range(1, 9))
