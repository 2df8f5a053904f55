"""Parallel hashing gives hashlib's digests, for whole files and for byte ranges across map-window boundaries, and
for files that cannot be mapped; hashing in the background while the key loads."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from bastion.core import BastionError
from bastion.signing import generate_key_pair, hash_file, hash_model, sign_model
from bastion.signing.hashing import _WINDOW, start_hashing

MIB = 1 << 20


@pytest.mark.parametrize(
    ("start", "end"),
    [(0, None), (0, 0), (0, 1), (MIB - 1, MIB + 1), (5, 3 * MIB + 7), (2 * MIB, None), (3 * MIB + 7, 4 * MIB)],
)
def test_hash_file_range_is_hashlib_of_the_slice(tmp_path: Path, start: int, end: int | None) -> None:
    data = os.urandom(3 * MIB + 100)
    path = tmp_path / "blob"
    path.write_bytes(data)
    assert hash_file(path, start, end) == hashlib.sha256(data[start:end]).hexdigest()


@pytest.mark.parametrize(
    ("start", "end"),
    [(0, None), (_WINDOW - 1, _WINDOW + 1), (4097, None), (_WINDOW + 5, 2 * _WINDOW + 9), (2 * _WINDOW, None), (0, 3 * _WINDOW)],
)
def test_ranges_across_map_windows_are_hashlib_of_the_slice(tmp_path: Path, start: int, end: int | None) -> None:
    data = os.urandom(2 * _WINDOW + 4099)  # the last window is short and ends off a page boundary
    path = tmp_path / "blob"
    path.write_bytes(data)
    assert hash_file(path, start, end) == hashlib.sha256(data[start:end]).hexdigest()


@pytest.mark.parametrize(
    "path",
    [
        Path("/sys/devices/system/cpu/online"),  # sysfs: says 4096 bytes, holds fewer, cannot be mapped
        Path("/proc/version"),  # procfs: says 0 bytes, holds some
    ],
)
def test_files_that_cannot_be_mapped_are_read(path: Path) -> None:
    if not path.is_file():
        pytest.skip(f"{path} is a Linux file")
    data = path.read_bytes()
    assert data
    assert hash_file(path) == hashlib.sha256(data).hexdigest()


def test_many_files_hash_in_parallel_to_the_same_digests(tmp_path: Path) -> None:
    contents = {f"d{i % 7}/f{i}.bin": os.urandom(i * 997) for i in range(60)}
    for name, data in contents.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(data)
    manifest = hash_model(tmp_path)
    assert {r.name: r.digest for r in manifest.resources} == {n: hashlib.sha256(d).hexdigest() for n, d in contents.items()}
    assert [r.name for r in manifest.resources] == sorted(contents, key=lambda name: Path(name).parts)


def test_resources_sort_by_path_components(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    for name in ("a/b", "a-c", "a.d"):
        (tmp_path / name).write_bytes(name.encode())
    # by characters "a-c" < "a.d" < "a/b"; by components ("a", "b") comes first, as model_signing orders them
    assert [r.name for r in hash_model(tmp_path).resources] == ["a/b", "a-c", "a.d"]


def test_start_hashing_raises_listing_errors_at_once_and_waits_for_the_digests(tmp_path: Path) -> None:
    with pytest.raises(BastionError, match="no such file or directory"):
        start_hashing(tmp_path / "missing")
    contents = {f"f{i}.bin": os.urandom(i * 4099) for i in range(1, 9)}
    for name, data in contents.items():
        (tmp_path / name).write_bytes(data)
    with start_hashing(tmp_path) as pending:
        manifest = pending.manifest()
    assert manifest == hash_model(tmp_path)
    assert {r.name: r.digest for r in manifest.resources} == {n: hashlib.sha256(d).hexdigest() for n, d in contents.items()}


def test_a_key_error_while_the_files_hash_is_raised_and_nothing_is_written(tmp_path: Path, model: Path) -> None:
    pair = generate_key_pair(tmp_path / "keys", passphrase=b"correct horse")
    signature = tmp_path / "model.sig"
    with pytest.raises(BastionError, match="wrong passphrase"):
        sign_model(model, pair.private_key, signature, passphrase=b"wrong")
    assert not signature.exists()
