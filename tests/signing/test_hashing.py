"""Parallel hashing gives hashlib's digests, for whole files and for byte ranges across read-buffer boundaries."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from bastion.signing import hash_file, hash_model

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
