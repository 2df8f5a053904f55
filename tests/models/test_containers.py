"""Containers around model files: zip (torch, npz), tar (legacy torch), compressed streams, .npy.

Benign files come from the real libraries and must give no finding; malicious pickles (assembled
from opcodes in ``payloads``) wrapped in every container must be found with their member chain;
bombs and broken archives must end in a limit finding or a ``ScanError``, never a hang or another
exception. Nothing here is ever loaded: an autouse fixture checks that no payload ran.
"""

from __future__ import annotations

import bz2
import functools
import gzip
import io
import json
import lzma
import struct
import subprocess
import sys
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bastion.core import Finding
from bastion.scanners.detect import detect_bytes
from bastion.scanners.interface import ScanError
from bastion.scanners.models import Budget, Limits, ModelContext, handler_for
from bastion.scanners.models._zip import ZipArchive, read_names
from bastion.scanners.models.containers import scan_compressed, scan_npy, scan_tar, scan_zip
from tests.models import payloads

np = pytest.importorskip("numpy")

DANGEROUS_CALL = "model.pickle.dangerous-call"
LIMIT = "model.archive.limit-exceeded"


# --- helpers -------------------------------------------------------------------------------------


@dataclass
class Outcome:
    findings: list[Finding]
    error: ScanError | None = None

    @property
    def rules(self) -> set[str]:
        return {f.rule_id for f in self.findings}

    @property
    def partial(self) -> bool:
        return self.error is not None and self.error.partial

    def members(self, rule: str) -> set[str | None]:
        return {f.location.member for f in self.findings if f.rule_id == rule}

    def assert_clean(self) -> None:
        assert self.error is None, self.error
        assert self.findings == [], [f"{f.rule_id} {f.location} {f.message}" for f in self.findings]

    def assert_call(self, member: str | None) -> None:
        calls = [f for f in self.findings if f.rule_id == DANGEROUS_CALL and f.severity == "critical"]
        assert calls, (self.error, [f"{f.rule_id} {f.location} {f.message}" for f in self.findings])
        assert member in {f.location.member for f in calls}, [str(f.location) for f in calls]


def scan(data: bytes, *, limits: Limits | None = None, name: str = "model.bin") -> Outcome:
    """Scan ``data`` as the model scanner would: detect its format, then run that handler."""
    ctx = ModelContext(name, budget=Budget(limits or Limits()))
    handler = handler_for(detect_bytes(data, name).format)
    assert handler is not None, detect_bytes(data, name)
    return run(handler, data, ctx)


def run(handler: Any, data: bytes, ctx: ModelContext | None = None) -> Outcome:
    try:
        return Outcome(handler(data, ctx or ModelContext("model.bin")))
    except ScanError as exc:
        return Outcome(list(exc.findings), exc)


@pytest.fixture
def marker(tmp_path: Path) -> Iterator[Path]:
    """Where a payload would write if anything ever ran it; it must not exist after the test."""
    path = tmp_path / "PWNED"
    yield path
    assert not path.exists(), "a payload ran"


@pytest.fixture
def evil_payload(marker: Path) -> payloads.Payload:
    """A protocol-2 pickle calling ``os.system`` through GLOBAL + REDUCE, assembled from opcodes."""
    return {p.name: p for p in payloads.malicious(marker)}["os_system_p2"]


@pytest.fixture
def evil(evil_payload: payloads.Payload) -> bytes:
    return evil_payload.data


def zip_of(members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def tar_of(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def npy_bytes(array: Any) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def npy_object_header(count: int = 1) -> bytes:
    header = repr({"descr": "|O", "fortran_order": False, "shape": (count,)}).encode()
    header += b" " * (63 - (10 + len(header)) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header


# A zip written by hand, for the layouts no library writes: names that differ between the local
# header and the central directory, wrong CRCs, entries missing from the directory, overlaps.


@dataclass
class Entry:
    name: bytes
    payload: bytes
    """The bytes as stored (already compressed when ``method`` is not 0)."""
    plain: bytes | None = None
    """The uncompressed content, for the CRC and size (defaults to ``payload``)."""
    method: int = 0
    crc: int | None = None
    local_name: bytes | None = None
    local_method: int | None = None
    flags: int = 0
    listed: bool = True
    offset: int = field(default=0, init=False)

    def local(self) -> bytes:
        plain = self.payload if self.plain is None else self.plain
        crc = zlib.crc32(plain) if self.crc is None else self.crc
        name = self.name if self.local_name is None else self.local_name
        method = self.method if self.local_method is None else self.local_method
        fields = (b"PK\x03\x04", 20, self.flags, method, 0, 0x21, crc, len(self.payload), len(plain), len(name), 0)
        return struct.pack("<4s5H3L2H", *fields) + name + self.payload

    def central(self, offset: int | None = None, size: int | None = None) -> bytes:
        plain = self.payload if self.plain is None else self.plain
        crc = zlib.crc32(plain) if self.crc is None else self.crc
        header_offset = self.offset if offset is None else offset
        stored = len(self.payload) if size is None else size
        fields = (b"PK\x01\x02", 20, 20, self.flags, self.method, 0, 0x21, crc, stored, len(plain))
        return struct.pack("<4s6H3L", *fields) + struct.pack("<5HLL", len(self.name), 0, 0, 0, 0, 0, header_offset) + self.name


def handmade_zip(entries: list[Entry], directory: list[bytes] | None = None) -> bytes:
    body = b""
    for entry in entries:
        entry.offset = len(body)
        body += entry.local()
    if directory is None:
        directory = [entry.central() for entry in entries if entry.listed]
    central = b"".join(directory)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(directory), len(directory), len(central), len(body), 0)
    return body + central + end


def deflate(data: bytes, level: int = 9) -> bytes:
    compressor = zlib.compressobj(level, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


# --- the zip reader ------------------------------------------------------------------------------


def test_reader_lists_what_zipfile_lists() -> None:
    data = zip_of({f"d/{i}.bin": bytes([i]) * i for i in range(50)}, zipfile.ZIP_DEFLATED)
    archive = ZipArchive(data)
    layout = archive.locate()
    with zipfile.ZipFile(io.BytesIO(data)) as reference:
        infos = reference.infolist()
    assert [m.name.decode() for m in archive.members] == [i.filename for i in infos]
    assert [m.header_offset for m in archive.members] == [i.header_offset for i in infos]
    assert [(m.compressed_size, m.size, m.crc) for m in archive.members] == [(i.compress_size, i.file_size, i.CRC) for i in infos]
    assert read_names(data) == [m.name for m in archive.members]
    assert not (layout.broken or layout.overlapping or layout.hidden or layout.views)


def test_reader_handles_zip64_and_prefixed_archives(tmp_path: Path) -> None:
    path = tmp_path / "big.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a.bin", b"x" * 10)
        with archive.open("b.bin", "w", force_zip64=True) as member:
            member.write(b"y" * 10)
    data = b"#!/bin/sh\nexit 0\n" + path.read_bytes()  # a self-extractor style prefix
    archive64 = ZipArchive(data)
    layout = archive64.locate()
    assert [m.name for m in archive64.members] == [b"a.bin", b"b.bin"]
    assert data[archive64.members[1].data_offset : archive64.members[1].data_offset + 10] == b"y" * 10
    assert not (layout.broken or layout.overlapping or layout.hidden or layout.views or layout.renamed)


def test_reader_skips_a_fake_end_record_in_the_comment() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.bin", b"x")
        archive.comment = b"PK\x05\x06" + b"\xff" * 18
    assert read_names(buffer.getvalue()) == [b"a.bin"]


# --- benign files from the real libraries --------------------------------------------------------


@pytest.fixture(scope="module")
def torch_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    torch = pytest.importorskip("torch")
    directory = tmp_path_factory.mktemp("torch")
    model = torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.BatchNorm1d(4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.randn(3, 8)).sum().backward()
    optimizer.step()
    checkpoint = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": 3, "loss": 0.25}
    tricky = {"ids": torch.tensor([640, 1, 2], dtype=torch.int64), "gz": torch.tensor([0x8B1F], dtype=torch.int32)}
    files = {}
    for name, obj in {"state_dict": model.state_dict(), "checkpoint": checkpoint, "tricky": tricky}.items():
        path = directory / f"{name}.pt"
        torch.save(obj, path)
        files[f"{name}.pt"] = path.read_bytes()
        path = directory / f"{name}.legacy.pt"
        torch.save(obj, path, _use_new_zipfile_serialization=False)
        files[f"{name}.legacy.pt"] = path.read_bytes()
    return files


@pytest.mark.parametrize("name", ["state_dict.pt", "checkpoint.pt", "state_dict.legacy.pt", "checkpoint.legacy.pt"])
def test_torch_files_are_clean(torch_files: dict[str, bytes], name: str) -> None:
    scan(torch_files[name], name=name).assert_clean()


def test_torch_storages_that_look_like_pickles_are_not_errors(torch_files: dict[str, bytes]) -> None:
    """int64 640 starts with 80 02 (a pickle header): torch reads storages raw, so a failed parse is no error."""
    outcome = scan(torch_files["tricky.pt"], name="tricky.pt")
    outcome.assert_clean()


@pytest.fixture(scope="module")
def joblib_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    joblib = pytest.importorskip("joblib")
    ensemble = pytest.importorskip("sklearn.ensemble")
    linear = pytest.importorskip("sklearn.linear_model")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(200, 6)), rng.integers(0, 2, size=200)
    models = {
        "forest": ensemble.RandomForestClassifier(n_estimators=5, random_state=0).fit(x, y),
        "logistic": linear.LogisticRegression().fit(x, y),
        "arrays": {"weights": rng.normal(size=(300, 40)), "zeros": np.zeros(5000), "labels": np.array(["a", "b"], dtype=object)},
    }
    directory = tmp_path_factory.mktemp("joblib")
    files = {}
    for name, model in models.items():
        for compress in (0, ("zlib", 3), "gzip", "bz2", "lzma", "xz"):
            label = compress[0] if isinstance(compress, tuple) else compress or "raw"
            path = directory / f"{name}.{label}.joblib"
            joblib.dump(model, path, compress=compress if isinstance(compress, tuple) else (compress, 3) if compress else 0)
            files[path.name] = path.read_bytes()
    return files


@pytest.mark.parametrize("model", ["forest", "logistic", "arrays"])
@pytest.mark.parametrize("compression", ["raw", "zlib", "gzip", "bz2", "lzma", "xz"])
def test_joblib_dumps_are_clean(joblib_files: dict[str, bytes], model: str, compression: str) -> None:
    scan(joblib_files[f"{model}.{compression}.joblib"]).assert_clean()


@functools.cache
def numpy_files() -> dict[str, bytes]:
    objects = np.array([1, "two", 3.0, None, (4, 5)], dtype=object)
    structured = np.zeros(4, dtype=[("id", "<i8"), ("score", "<f4", (2,)), ("tag", "S3")])
    files = {
        "float.npy": npy_bytes(np.arange(12.0).reshape(3, 4)),
        "fortran.npy": npy_bytes(np.asfortranarray(np.ones((3, 2)))),
        "structured.npy": npy_bytes(structured),
        "objects.npy": npy_bytes(objects),
        "strings.npy": npy_bytes(np.array(["a", "bc"], dtype=object)),
    }
    for name, save in (("savez.npz", np.savez), ("savez_compressed.npz", np.savez_compressed)):
        buffer = io.BytesIO()
        save(buffer, floats=np.arange(1000.0), objects=objects, structured=structured, big_zeros=np.zeros(3_000_000))
        files[name] = buffer.getvalue()
    return files


@pytest.mark.parametrize("name", sorted(numpy_files()))
def test_numpy_files_are_clean(name: str) -> None:
    scan(numpy_files()[name], name=name).assert_clean()


def test_nested_benign_archives_are_clean(torch_files: dict[str, bytes]) -> None:
    inner = zip_of({"model.pt": torch_files["state_dict.pt"], "arrays.npz": numpy_files()["savez.npz"]})
    bundle = tar_of({"bundle/inner.zip": inner, "bundle/README.md": b"# a model\n"})
    scan(gzip.compress(bundle), name="bundle.tar.gz").assert_clean()
    scan(zip_of({"deep/bundle.tar": bundle}, zipfile.ZIP_DEFLATED)).assert_clean()


def test_arrays_are_never_inflated() -> None:
    """A compressed .npz of plain arrays: headers are read, the array data is not decompressed."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, zeros=np.zeros(50_000_000, dtype=np.uint8))
    ctx = ModelContext("zeros.npz")
    assert scan_zip(buffer.getvalue(), ctx) == []
    assert ctx.budget.decompressed < 1 << 20


# --- malicious pickles in every container --------------------------------------------------------


def test_pickle_under_any_member_name(torch_files: dict[str, bytes], evil: bytes) -> None:
    with zipfile.ZipFile(io.BytesIO(torch_files["state_dict.pt"])) as original:
        members = {name: original.read(name) for name in original.namelist()}
    members["state_dict/extra/notes.txt"] = evil
    scan(zip_of(members), name="m.pt").assert_call("state_dict/extra/notes.txt")


def test_pickle_as_torch_data_pkl(torch_files: dict[str, bytes], evil: bytes) -> None:
    with zipfile.ZipFile(io.BytesIO(torch_files["state_dict.pt"])) as original:
        members = {name: original.read(name) for name in original.namelist()}
    members["state_dict/data.pkl"] = evil
    outcome = scan(zip_of(members, zipfile.ZIP_DEFLATED), name="m.pt")
    outcome.assert_call("state_dict/data.pkl")


def test_pickle_hidden_as_a_torch_storage(torch_files: dict[str, bytes], evil: bytes) -> None:
    with zipfile.ZipFile(io.BytesIO(torch_files["state_dict.pt"])) as original:
        members = {name: original.read(name) for name in original.namelist()}
    members["state_dict/data/0"] = evil
    scan(zip_of(members), name="m.pt").assert_call("state_dict/data/0")


def test_local_name_differs_from_central_directory(evil: bytes) -> None:
    """torch looks members up by the directory's name; a streaming scanner would see the local one."""
    entries = [
        Entry(b"archive/data.pkl", evil, local_name=b"archive/data/7"),
        Entry(b"archive/data/0", b"\x00" * 64),
    ]
    outcome = scan(handmade_zip(entries), name="m.pt")
    outcome.assert_call("archive/data.pkl")
    assert "model.archive.header-mismatch" in outcome.rules
    assert outcome.error is None


def test_local_header_method_differs_from_central_directory(evil: bytes) -> None:
    """The directory says stored (scanners see deflate noise); the local header says deflated (a streaming loader runs it)."""
    packed = deflate(evil)
    entries = [Entry(b"archive/data.pkl", packed, plain=packed, local_method=8)]
    outcome = scan(handmade_zip(entries), name="m.pt")
    outcome.assert_call("archive/data.pkl")
    assert "model.archive.header-mismatch" in outcome.rules


def test_wrong_crc_is_tolerated_and_reported(evil: bytes) -> None:
    entries = [Entry(b"archive/data.pkl", deflate(evil), plain=evil, method=8, crc=0xDEADBEEF)]
    outcome = scan(handmade_zip(entries), name="m.pt")
    outcome.assert_call("archive/data.pkl")
    assert "model.archive.bad-crc" in outcome.rules
    assert outcome.error is None


def test_local_entry_missing_from_the_directory(evil: bytes) -> None:
    entries = [Entry(b"weights.bin", b"\x00" * 32), Entry(b"payload.pkl", evil, listed=False), Entry(b"x.txt", b"text")]
    outcome = scan(handmade_zip(entries))
    outcome.assert_call("payload.pkl")
    assert "model.archive.hidden-member" in outcome.rules


def test_duplicate_names_are_all_scanned(evil: bytes) -> None:
    entries = [Entry(b"archive/data.pkl", evil), Entry(b"archive/data.pkl", b"\x80\x02}q\x00.")]
    outcome = scan(handmade_zip(entries), name="m.pt")
    outcome.assert_call("archive/data.pkl")
    assert "model.archive.duplicate-name" in outcome.rules


def test_pickle_after_many_legitimate_members(evil: bytes) -> None:
    members = {f"arrays/{i:04d}.npy": npy_bytes(np.arange(4.0)) for i in range(300)}
    members["arrays/zzzz.npy"] = evil
    scan(zip_of(members)).assert_call("arrays/zzzz.npy")


def test_bzip2_and_lzma_members(evil: bytes) -> None:
    scan(zip_of({"a/b.bin": evil}, zipfile.ZIP_BZIP2)).assert_call("a/b.bin")
    scan(zip_of({"a/c.bin": evil}, zipfile.ZIP_LZMA)).assert_call("a/c.bin")


def test_encrypted_and_unknown_methods_are_incomplete(evil: bytes) -> None:
    outcome = scan(handmade_zip([Entry(b"a.pkl", evil, flags=1)]))
    assert outcome.partial and "model.archive.encrypted-member" in outcome.rules
    outcome = scan(handmade_zip([Entry(b"a.pkl", evil, method=93)]))
    assert outcome.partial and "model.archive.unknown-compression" in outcome.rules


def test_pickle_in_a_tar(evil: bytes) -> None:
    outcome = scan(tar_of({"model/README": b"hello", "model/weights.bin": evil}), name="m.tar")
    outcome.assert_call("model/weights.bin")


def legacy_tar(*, main: bytes, storages: bytes | None = None, tensors: bytes | None = None) -> bytes:
    torch = pytest.importorskip("torch")
    values = struct.pack("<4f", 1.0, 2.0, 3.0, 4.0)
    default_storages = (
        pickle_dumps(1) + pickle_dumps(("0", "cpu", torch.FloatStorage)) + struct.pack("<q", 4) + values + pickle_dumps([])
    )
    default_tensors = pickle_dumps(1) + pickle_dumps(("1", "0", torch.FloatStorage)) + struct.pack("<iiqqq", 1, 0, 4, 1, 0)
    return tar_of(
        {
            "sys_info": pickle_dumps({"protocol_version": 1001, "little_endian": True}),
            "pickle": main,
            "storages": default_storages if storages is None else storages,
            "tensors": default_tensors if tensors is None else tensors,
        }
    )


def pickle_dumps(obj: Any) -> bytes:
    import pickle

    return pickle.dumps(obj, protocol=2)


def test_legacy_torch_tar(evil: bytes) -> None:
    scan(legacy_tar(main=pickle_dumps({"weight": 1})), name="old.pt").assert_clean()
    scan(legacy_tar(main=evil), name="old.pt").assert_call("pickle")
    torch = pytest.importorskip("torch")
    storages = pickle_dumps(2) + pickle_dumps(("0", "cpu", torch.FloatStorage)) + struct.pack("<q", 1) + b"\x00" * 4 + evil
    scan(legacy_tar(main=pickle_dumps({}), storages=storages), name="old.pt").assert_call("storages")


@pytest.mark.parametrize(
    ("compress", "kind"),
    [
        (gzip.compress, "gzip"),
        (bz2.compress, "bz2"),
        (lzma.compress, "xz"),
        (lambda d: lzma.compress(d, format=lzma.FORMAT_ALONE), "lzma"),
        (zlib.compress, "zlib"),
    ],
)
def test_compressed_pickles(evil: bytes, compress: Any, kind: str) -> None:
    scan(compress(evil), name="m.joblib").assert_call(f"<{kind}>")


def test_gzip_with_several_members_and_trailing_garbage(evil: bytes) -> None:
    data = gzip.compress(pickle_dumps({"fine": 1})) + gzip.compress(evil) + b"GARBAGE"
    outcome = scan(data)
    outcome.assert_call("<gzip>")
    assert "model.archive.trailing-data" in outcome.rules


def test_joblib_style_dump_with_arrays(evil: bytes) -> None:
    """joblib writes array bytes right after the pickle that describes them; a payload after the arrays still counts."""
    joblib = pytest.importorskip("joblib")
    buffer = io.BytesIO()
    joblib.dump({"w": np.arange(1000.0)}, buffer)
    scan(buffer.getvalue()).assert_clean()
    scan(zlib.compress(evil), name="m.joblib").assert_call("<zlib>")


def test_lz4_without_the_package_is_never_clean() -> None:
    pytest.importorskip("numpy")
    try:
        import lz4  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        outcome = run(scan_compressed, b"\x04\x22\x4d\x18" + b"\x00" * 16)
        assert outcome.error is not None and "install lz4" in str(outcome.error)
    else:
        pytest.skip("lz4 is installed")


def test_npy_object_array_with_a_payload(evil_payload: payloads.Payload) -> None:
    evil = evil_payload.data
    data = npy_object_header() + evil
    outcome = scan(data, name="a.npy")
    outcome.assert_call(None)
    offsets = {f.location.offset for f in outcome.findings if f.rule_id == DANGEROUS_CALL}
    assert len(npy_object_header()) + evil_payload.offset in offsets
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("weights.npy", npy_bytes(np.arange(3.0)))
        archive.writestr("labels.npy", data)
    scan(buffer.getvalue(), name="a.npz").assert_call("labels.npy")


def test_npy_dtype_spelled_unusually_is_scanned(evil: bytes) -> None:
    header = repr({"descr": [("a", "<f8"), ("b", "object")], "fortran_order": False, "shape": (1,)}).encode() + b"\n"
    data = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + evil
    run(scan_npy, data).assert_call(None)


def test_three_levels_of_nesting(evil: bytes) -> None:
    inner = tar_of({"inner/x.gz": gzip.compress(evil)})
    data = zip_of({"outer/inner.tar": inner, "outer/readme.txt": b"fine"}, zipfile.ZIP_DEFLATED)
    scan(data).assert_call("outer/inner.tar!inner/x.gz!<gzip>")


# --- bombs and limits ----------------------------------------------------------------------------


def test_nested_bomb_stops_at_the_depth_limit() -> None:
    """42.zip in miniature: each level holds copies of the level below; the depth bound ends it."""
    level = zip_of({f"{i}.bin": b"\x00" * 1_000_000 for i in range(4)}, zipfile.ZIP_DEFLATED)
    for depth in range(8):
        level = zip_of({f"{depth}-{i}.zip": level for i in range(4)}, zipfile.ZIP_DEFLATED)
    outcome = scan(level, name="42.zip")
    assert LIMIT in outcome.rules and outcome.partial


def test_nested_bomb_stops_at_the_inflation_bound() -> None:
    """42.zip in miniature, within depth and member bounds: each level inflates modestly, the whole file hugely."""
    level = zip_of({f"{i}.bin": b"\x00" * 1_000_000 for i in range(16)}, zipfile.ZIP_DEFLATED)
    for depth in range(4):
        level = zip_of({f"{depth}-{i}.zip": level for i in range(16)}, zipfile.ZIP_DEFLATED)
    outcome = scan(level, name="42.zip")
    assert LIMIT in outcome.rules and outcome.partial
    assert any("file's size" in f.message for f in outcome.findings if f.rule_id == LIMIT)


def test_wide_bomb_stops_at_the_member_limit() -> None:
    level = zip_of({f"{i}.bin": b"\x00" * 1000 for i in range(16)}, zipfile.ZIP_DEFLATED)
    for depth in range(3):
        level = zip_of({f"{depth}-{i}.zip": level for i in range(16)}, zipfile.ZIP_DEFLATED)
    outcome = scan(level, name="42.zip", limits=Limits(max_members=10_000))
    assert LIMIT in outcome.rules and outcome.partial


def test_overlapping_members_bomb() -> None:
    """Fifield's construction, simplified: every directory entry points at the same compressed kernel."""
    kernel = Entry(b"k", deflate(b"\x80\x04" + b"\x00" * 10_000_000), plain=b"\x80\x04" + b"\x00" * 10_000_000, method=8)
    directory = [Entry(f"{i}".encode(), kernel.payload, plain=b"", crc=0, method=8).central(offset=0) for i in range(500)]
    outcome = scan(handmade_zip([kernel], directory=directory))
    assert LIMIT in outcome.rules and outcome.partial


def test_quoted_overlap_bomb() -> None:
    """Each entry's compressed data runs on over the local headers of every later entry."""
    plain = b"\x80\x04" + b"\x00" * 100_000
    entries = [Entry(f"{i}".encode(), deflate(plain), plain=plain, method=8) for i in range(3)]
    handmade_zip(entries)
    body_end = entries[-1].offset + len(entries[-1].local())
    directory = [e.central(size=body_end - (e.offset + 30 + len(e.name))) for e in entries]
    outcome = scan(handmade_zip(entries, directory=directory))
    assert LIMIT in outcome.rules and outcome.partial


def test_high_ratio_member() -> None:
    plain = b"\x80\x04" + b"\x00" * 100_000_000
    outcome = scan(zip_of({"bomb.pkl": plain}, zipfile.ZIP_DEFLATED))
    assert LIMIT in outcome.rules and outcome.partial
    outcome = scan(gzip.compress(plain, 1))
    assert LIMIT in outcome.rules and outcome.partial


def test_decompressed_budget() -> None:
    plain = b"\x80\x04" + bytes(range(256)) * 40_000
    outcome = scan(gzip.compress(plain), limits=Limits(max_decompressed=1_000_000))
    assert LIMIT in outcome.rules and outcome.partial


# --- broken input --------------------------------------------------------------------------------


def test_empty_and_truncated_archives(torch_files: dict[str, bytes]) -> None:
    for handler in (scan_zip, scan_tar, scan_compressed, scan_npy):
        outcome = run(handler, b"")
        assert outcome.error is not None and not outcome.findings
    scan(zip_of({"empty.pkl": b"", "fine.txt": b"ok"})).assert_clean()
    whole = torch_files["state_dict.pt"]
    for cut in (len(whole) // 2, len(whole) - 30, 100):
        outcome = run(scan_zip, whole[:cut])
        assert outcome.error is not None


def test_garbage_inside_a_member(evil: bytes) -> None:
    entries = [Entry(b"a.pkl", b"\xff" * 100, plain=evil, method=8)]
    outcome = scan(handmade_zip(entries))
    assert outcome.partial


ARCHIVE_SEEDS = [
    zip_of({"a/data.pkl": b"\x80\x02}q\x00.", "a/data/0": b"\x00" * 16}),
    zip_of({"x.npy": b"\x93NUMPY\x01\x00v\x00{'descr': '|O', 'fortran_order': False, 'shape': (1,), }" + b" " * 50 + b"\n"}, 8),
    tar_of({"pickle": b"\x80\x02K\x01.", "storages": b"\x80\x02K\x00."}),
    gzip.compress(b"\x80\x02K\x01."),
]


@settings(max_examples=300, deadline=5000, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=4096))
def test_arbitrary_bytes_only_raise_scan_errors(data: bytes) -> None:
    for handler in (scan_zip, scan_tar, scan_compressed, scan_npy):
        run(handler, data)


@settings(max_examples=300, deadline=5000, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.sampled_from(ARCHIVE_SEEDS), edits=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=8))
def test_mutated_archives_only_raise_scan_errors(seed: bytes, edits: list[tuple[int, int]]) -> None:
    data = bytearray(seed)
    for position, value in edits:
        data[position % len(data)] = value
    for handler in (scan_zip, scan_tar, scan_compressed, scan_npy):
        run(handler, bytes(data))


# --- the command line ----------------------------------------------------------------------------


def test_cli_reports_a_malicious_torch_zip(tmp_path: Path, torch_files: dict[str, bytes], evil: bytes) -> None:
    with zipfile.ZipFile(io.BytesIO(torch_files["state_dict.pt"])) as original:
        members = {name: original.read(name) for name in original.namelist()}
    members["state_dict/data.pkl"] = evil
    path = tmp_path / "model.pt"
    path.write_bytes(zip_of(members))
    result = subprocess.run(
        [sys.executable, "-m", "bastion", "scan", str(path), "--format", "json"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1, result.stderr
    document = json.loads(result.stdout)
    assert document["scanned"][0]["format"] == "pytorch-zip"
    calls = [f for f in document["findings"] if f["rule_id"] == DANGEROUS_CALL]
    assert calls and calls[0]["location"]["member"] == "state_dict/data.pkl"
    assert calls[0]["severity"] == "critical"
