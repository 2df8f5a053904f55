"""The pickle analysis: every technique family found, real-library files clean, broken streams partial, fuzzing safe."""

from __future__ import annotations

import contextlib
import io
import mmap
import os
import pickle
import random
import struct
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bastion.core import Finding, Kind, Severity
from bastion.scanners.interface import ScanError, ScanTarget
from bastion.scanners.models import _pickle_parser
from bastion.scanners.models.allowlist import Verdict, classify
from bastion.scanners.models.context import Budget, LimitExceeded, Limits, ModelContext
from bastion.scanners.models.pickle import Action, analyze_pickle, scan_pickle
from bastion.scanners.models.scanner import ModelScanner
from tests.models import payloads
from tests.models.payloads import Asm

MARKER = Path("/nonexistent-bastion-marker-dir/marker")
"""Payloads are built against this path only to be parsed; the never-executed test uses a real one."""


def scan(data: bytes | mmap.mmap, ctx: ModelContext | None = None) -> tuple[list[Finding], ScanError | None]:
    """Findings and the scan error, if the scan was incomplete."""
    try:
        return scan_pickle(data, ctx or ModelContext("model.pkl")), None
    except ScanError as exc:
        return list(exc.findings), exc


def matching(findings: list[Finding], payload: payloads.Payload) -> list[Finding]:
    return [
        f
        for f in findings
        if f.rule_id == payload.rule_id
        and f.severity.value == payload.severity
        and f.location.offset == payload.offset
        and payload.callable in f.message
    ]


@pytest.fixture(scope="session")
def benign_pickles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    return payloads.benign_pickles(tmp_path_factory.mktemp("benign"))


# --- malicious samples ---------------------------------------------------------------------------


@pytest.mark.parametrize("payload", payloads.malicious(MARKER), ids=lambda p: p.name)
def test_each_technique_is_found_with_rule_severity_callable_and_offset(payload: payloads.Payload) -> None:
    findings, error = scan(payload.data)
    assert matching(findings, payload), [(f.rule_id, f.severity.value, f.location.offset, f.message) for f in findings]
    if payload.partial:
        assert error is not None and error.partial
        assert any(f.rule_id == "model.pickle.malformed" for f in findings)
    else:
        assert error is None, error


def test_scanning_every_sample_leaves_no_marker(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    for name, data in payloads.all_malicious(marker).items():
        findings, _ = scan(data)
        assert any(f.severity >= Severity.MEDIUM for f in findings), name
        view = mmap_of(tmp_path / f"{name}.pkl", data)
        try:
            assert scan(view)[0] == findings
        finally:
            view.close()
    assert not marker.exists()


def mmap_of(path: Path, data: bytes) -> mmap.mmap:
    path.write_bytes(data)
    with path.open("rb") as handle:
        return mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)


def test_a_memory_map_reads_like_bytes(tmp_path: Path) -> None:
    payload = next(p for p in payloads.malicious(MARKER) if p.name == "subprocess_popen_list")
    view = mmap_of(tmp_path / "m.pkl", payload.data)
    try:
        assert scan(view)[0] == scan(payload.data)[0]
    finally:
        view.close()


def test_findings_name_the_member_of_a_child_context() -> None:
    payload = next(p for p in payloads.malicious(MARKER) if p.name == "os_system_p2")
    findings, _ = scan(payload.data, ModelContext("m.pt").child("archive/data.pkl"))
    assert findings[0].location.path == "m.pt"
    assert findings[0].location.member == "archive/data.pkl"
    assert findings[0].message == "REDUCE calls os.system"
    assert "safetensors" in (findings[0].remediation or "")


def test_the_analysis_lists_imports_and_invocations_with_offsets() -> None:
    payload = next(p for p in payloads.malicious(MARKER) if p.name == "builtins_exec")
    analysis = analyze_pickle(payload.data)
    assert [(i.name, i.offset, i.verdict) for i in analysis.imports] == [("builtins.exec", 2, Verdict.DANGEROUS)]
    (call,) = analysis.invocations
    assert (call.target, call.offset, call.opcode, call.action) == ("builtins.exec", payload.offset, "REDUCE", Action.CALL)
    assert analysis.pickles == 1 and analysis.error is None


def test_repeated_calls_make_one_finding_with_a_count() -> None:
    body = Asm().proto(2).global_("acme.hooks", "run").raw(b"q\x00")
    for _ in range(500):
        body.raw(b"h\x00").empty_tuple().reduce().raw(b"0")
    findings, _ = scan(body.raw(b"N.").bytes())
    (finding,) = findings
    assert finding.rule_id == "model.pickle.unknown-call" and finding.count == 500


# --- decisions ------------------------------------------------------------------------------------


def test_an_unknown_class_instantiated_is_medium_and_called_with_a_function_name_high() -> None:
    newobj = Asm().proto(2).global_("acme.models", "Net").empty_tuple().raw(b"\x81").empty_dict().build().stop()
    reduce_class = Asm().proto(2).global_("acme.models", "Net").empty_tuple().reduce().stop()
    reduce_function = Asm().proto(2).global_("acme.models", "make_net").empty_tuple().reduce().stop()
    stdlib_class = Asm().proto(2).global_("zipimport", "Importer").empty_tuple().reduce().stop()
    assert [f.severity for f in scan(newobj.bytes())[0]] == [Severity.MEDIUM]
    assert [f.rule_id for f in scan(reduce_class.bytes())[0]] == ["model.pickle.unknown-class"]
    assert [f.rule_id for f in scan(reduce_function.bytes())[0]] == ["model.pickle.unknown-call"]
    assert scan(stdlib_class.bytes())[0][0].severity >= Severity.HIGH


def test_an_unknown_storage_class_in_a_torch_persistent_id_is_reported() -> None:
    pid = Asm().proto(2).mark().unicode("storage").global_("acme.storage", "FastStorage").unicode("0").unicode("cpu")
    data = pid.raw(b"K\x02").tuple_().label("persid").raw(b"Q").stop().bytes()
    findings, _ = scan(data)
    assert [(f.rule_id, f.location.offset) for f in findings] == [("model.pickle.unknown-class", pid.labels["persid"])]


def test_a_build_with_a_plain_dict_on_an_allowed_class_is_fine() -> None:
    data = Asm().proto(2).global_("collections", "OrderedDict").empty_tuple().reduce()
    data.empty_dict().unicode("weights").raw(b"N").raw(b"s").build().stop()
    assert scan(data.bytes()) == ([], None)


def scipy_distribution_pickle(template: str | None) -> bytes:
    """A frozen-distribution generator as scipy pickles it: NEWOBJ, then BUILD with a state dict."""
    data = Asm().proto(2).global_("scipy.stats._continuous_distns", "norm_gen").empty_tuple().raw(b"\x81").empty_dict()
    data.unicode("__doc__").unicode("A normal continuous random variable.").raw(b"s")
    if template is not None:
        data.unicode("_parse_arg_template").unicode(template).raw(b"s")
    return data.build().stop().bytes()


def test_scipy_distributions_are_allowed_only_with_scipys_own_argument_parser_code() -> None:
    import scipy.stats

    assert scan(scipy_distribution_pickle(scipy.stats.norm._parse_arg_template)) == ([], None)
    assert scan(scipy_distribution_pickle(None)) == ([], None)
    tampered = scipy.stats.norm._parse_arg_template.replace("return (", "__import__('os').system('id'); return (", 1)
    findings, _ = scan(scipy_distribution_pickle(tampered))
    assert [(f.rule_id, f.severity) for f in findings] == [("model.pickle.dangerous-call", Severity.CRITICAL)]
    assert "_parse_arg_template" in findings[0].message
    mapping_state = Asm().proto(2).global_("scipy.stats._continuous_distns", "norm_gen").empty_tuple().raw(b"\x81")
    mapping_state.global_("collections", "OrderedDict").empty_tuple().reduce().build().stop()
    assert [f.rule_id for f in scan(mapping_state.bytes())[0]] == ["model.pickle.dangerous-call"]


def test_partial_is_judged_by_what_it_wraps_even_when_build_swaps_it() -> None:
    benign = Asm().proto(2).global_("functools", "partial").global_("numpy", "mean").tuple1().reduce().stop()
    assert scan(benign.bytes()) == ([], None)
    swapped = Asm().proto(2).global_("functools", "partial").global_("numpy", "mean").tuple1().reduce()
    swapped.mark().global_("os", "system").empty_tuple().empty_dict().raw(b"N").tuple_().build("swap").stop()
    findings, _ = scan(swapped.bytes())
    assert [(f.rule_id, f.location.offset) for f in findings] == [("model.pickle.dangerous-call", swapped.labels["swap"])]
    assert findings[0].message == "functools.partial calls os.system (when the object is used)"


def test_getattr_with_constants_resolves_like_a_dotted_global() -> None:
    # As pickle writes bound methods: getattr(zoneinfo.ZoneInfo, '_unpickle')('UTC', 1).
    method = Asm().proto(2).global_("builtins", "getattr").global_("zoneinfo", "ZoneInfo").unicode("_unpickle").tuple2().reduce()
    assert scan(method.unicode("UTC").raw(b"K\x01").tuple2().reduce().stop().bytes()) == ([], None)
    # A method of an allowed class is judged by its own name: Path.write_text writes files.
    write = Asm().proto(2).global_("builtins", "getattr").global_("pathlib", "PosixPath").unicode("/tmp/x").tuple1().reduce()
    write.unicode("write_text").tuple2().reduce().unicode("data").tuple1().reduce("call").stop()
    findings, _ = scan(write.bytes())
    assert [(f.message, f.location.offset) for f in findings] == [
        ("REDUCE calls pathlib.PosixPath.write_text", write.labels["call"])
    ]
    # A dunder or a computed name leaves getattr the gadget it is.
    dunder = Asm().proto(2).global_("builtins", "getattr").global_("collections", "OrderedDict").unicode("__class__").tuple2()
    assert [f.message for f in scan(dunder.reduce().stop().bytes())[0]] == ["REDUCE calls builtins.getattr"]


def test_plain_dunder_data_in_a_state_is_no_injection() -> None:
    data = Asm().proto(2).global_("collections", "OrderedDict").empty_tuple().reduce().empty_dict()
    data.unicode("__doc__").unicode("text").raw(b"s").unicode("__module__").unicode("m").raw(b"s").build().stop()
    assert scan(data.bytes()) == ([], None)


def test_sklearn_functions_are_not_allowed_like_its_classes() -> None:
    assert classify("sklearn.ensemble._forest.RandomForestClassifier", False) is Verdict.ALLOWED
    assert classify("sklearn.utils._testing.assert_run_python_script", False) is Verdict.DANGEROUS
    assert classify("sklearn.utils.validation.check_array", False) is Verdict.UNKNOWN
    assert classify("sklearn.utils._testing.TempMemmap", False) is not Verdict.ALLOWED


@pytest.mark.parametrize(
    "name",
    [
        "pathlib.os.system",
        "shutil.os.popen",
        "tempfile._os.system",
        "builtins.object.__subclasses__",
        "torch.serialization.pickle.loads",
        "collections.OrderedDict.__init__.__globals__",
        "pathlib.Path.write_text",
    ],
)
def test_attribute_paths_that_reach_something_dangerous_are_dangerous(name: str) -> None:
    assert classify(name, True) is Verdict.DANGEROUS


KNOWN_GADGETS = [
    "os.system",
    "posix.system",
    "nt.system",
    "subprocess.Popen",
    "pty.spawn",
    "_posixsubprocess.fork_exec",
    "multiprocessing.util.spawnv_passfds",
    "builtins.eval",
    "builtins.exec",
    "builtins.compile",
    "builtins.open",
    "builtins.__import__",
    "builtins.getattr",
    "builtins.setattr",
    "builtins.breakpoint",
    "builtins.globals",
    "builtins.vars",
    "builtins.input",
    "builtins.apply",
    "code.InteractiveInterpreter.runcode",
    "cProfile.run",
    "doctest.debug_script",
    "ensurepip._run_pip",
    "idlelib.pyshell.ModifiedInterpreter.runcode",
    "lib2to3.pgen2.pgen.ParserGenerator.make_label",
    "pdb.run",
    "profile.Profile.run",
    "pydoc.pipepager",
    "pydoc.locate",
    "timeit.timeit",
    "trace.Trace.run",
    "venv.create",
    "webbrowser.open",
    "torch._dynamo.guards.GuardBuilder.get",
    "torch._inductor.codecache.compile_file",
    "torch.fx.experimental.symbolic_shapes.ShapeEnv.evaluate_guards_expression",
    "torch.jit.unsupported_tensor_ops.execWrapper",
    "torch.serialization.load",
    "torch.utils._config_module.ConfigModule.load_config",
    "torch.utils.collect_env.run",
    "torch.utils.data.datapipes.utils.decoder.basichandlers",
    "torch.hub.load",
    "torch.load",
    "torch._C._jit_script_compile",
    "torch.classes.load_library",
    "numpy.f2py.crackfortran.getlincoef",
    "numpy.testing._private.utils.runstring",
    "numpy.load",
    "numpy.ctypeslib.load_library",
    "numpy.core._ufunc_reconstruct",
    "distutils.file_util.write_file",
    "ssl.get_server_certificate",
    "requests.api.get",
    "aiohttp.client.ClientSession",
    "asyncio.unix_events._UnixSubprocessTransport._start",
    "bdb.Bdb.run",
    "ctypes.CDLL",
    "runpy.run_path",
    "runpy._run_code",
    "marshal.loads",
    "types.FunctionType",
    "types.CodeType",
    "importlib.import_module",
    "pkgutil.resolve_name",
    "operator.attrgetter",
    "operator.methodcaller",
    "operator.itemgetter",
    "functools.reduce",
    "shutil.rmtree",
    "socket.create_connection",
    "http.client.HTTPSConnection",
    "urllib.request.urlopen",
    "ftplib.FTP",
    "smtplib.SMTP",
    "telnetlib.Telnet",
    "pickle.loads",
    "_pickle.loads",
    "dill.loads",
    "cloudpickle.loads",
    "joblib.load",
    "shelve.open",
    "pip.main",
    "uuid._get_command_stdout",
    "_osx_support._read_output",
    "imaplib.IMAP4_stream",
    "gc.get_referrers",
    "sys.modules",
    "copyreg.add_extension",
    "zipimport.zipimporter",
    "tempfile.NamedTemporaryFile",
    "logging.FileHandler",
    "io.open",
    "_io.FileIO",
    "pandas.read_pickle",
    "scipy.io.loadmat",
    "sklearn.datasets.fetch_openml",
    "sklearn.utils._testing.assert_run_python_script",
    "antigravity.fly",
    "threading.Thread",
    "signal.signal",
    "inspect.getattr_static",
    "setuptools.sandbox.run_setup",
    "yaml.unsafe_load",
]


@pytest.mark.parametrize("name", KNOWN_GADGETS)
def test_known_gadgets_from_public_scanners_and_advisories_are_dangerous(name: str) -> None:
    assert classify(name, False) is Verdict.DANGEROUS


def test_an_unknown_module_named_like_a_dangerous_one_below_a_package_is_not_dangerous() -> None:
    assert classify("acme.io.readers.Reader", False) is Verdict.UNKNOWN


# --- benign files made by the real libraries --------------------------------------------------------


def test_benign_files_from_real_libraries_are_clean(benign_pickles: dict[str, bytes]) -> None:
    dirty = {}
    for name, data in benign_pickles.items():
        findings, error = scan(data)
        if findings or error:
            dirty[name] = (error, [f.message for f in findings])
    assert not dirty
    assert len(benign_pickles) > 150


def test_every_global_in_the_benign_files_is_allowed(
    benign_pickles: dict[str, bytes], capsys: pytest.CaptureFixture[str]
) -> None:
    used: dict[str, Verdict] = {}
    for data in benign_pickles.values():
        used.update({i.name: i.verdict for i in analyze_pickle(data).imports})
    with capsys.disabled():
        print(f"\nglobals in the benign corpus ({len(used)}):", *sorted(used), sep="\n  ")
    assert {name for name, verdict in used.items() if verdict is not Verdict.ALLOWED} == set()


def test_legacy_torch_files_are_five_pickles_then_raw_storage(benign_pickles: dict[str, bytes]) -> None:
    legacy = {name: data for name, data in benign_pickles.items() if name.endswith(".legacy.pt")}
    assert legacy
    for data in legacy.values():
        analysis = analyze_pickle(data)
        assert analysis.pickles == 5 and analysis.error is None
        assert analysis.end < len(data)  # the storage bytes were not taken for pickles


def test_joblib_inline_arrays_are_skipped_and_object_arrays_parsed(benign_pickles: dict[str, bytes]) -> None:
    for name in ("numpy_object.joblib", "numpy_structured.joblib", "sklearn_random_forest.joblib", "pandas_frame.joblib"):
        analysis = analyze_pickle(benign_pickles[name])
        assert analysis.pickles == 1 and analysis.error is None and analysis.end == len(benign_pickles[name]), name


def test_a_payload_inside_a_joblib_object_array_is_found() -> None:
    import joblib
    import numpy as np

    class Payload:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return os.system, ("touch /nonexistent-bastion-marker-dir/x",)

    buffer = io.BytesIO()
    joblib.dump({"weights": np.ones(3), "objects": np.array([Payload()], dtype=object)}, buffer)
    findings, error = scan(buffer.getvalue())
    assert error is None
    assert [(f.rule_id, f.message) for f in findings] == [("model.pickle.dangerous-call", "REDUCE calls posix.system")]


def joblib_wrapper(body: Asm, length: int) -> Asm:
    """A joblib NumpyArrayWrapper for ``length`` uint8 values, as joblib pickles it (NEWOBJ, BUILD with a state dict)."""
    body.stack_global("joblib.numpy_pickle", "NumpyArrayWrapper").empty_tuple().raw(b"\x81").empty_dict().mark()
    body.short_unicode("subclass").stack_global("numpy", "ndarray").short_unicode("shape").raw(b"K" + bytes([length]))
    body.tuple1().short_unicode("order").short_unicode("C").short_unicode("dtype").stack_global("numpy", "dtype")
    body.short_unicode("u1").raw(b"\x89\x88").raw(b"\x87R").mark().raw(b"K\x03").short_unicode("|").raw(b"NNNJ\xff\xff\xff\xff")
    body.raw(b"J\xff\xff\xff\xffK\x00").tuple_().build()
    return body.raw(b"u").build()


def test_opcodes_left_in_a_frame_after_a_joblib_array_are_read_before_the_array_bytes() -> None:
    # Python's unpickler (which joblib uses) runs the rest of the frame, then reads on after the array.
    rest = Asm().global_("os", "system").unicode("touch x").tuple1().reduce("call").raw(b"0")
    body = joblib_wrapper(Asm(), 3).raw(rest.bytes())
    head = Asm().proto(4).frame(len(body.buf))
    data = head.bytes() + body.bytes() + b"\x01\x02\x03" + b"."
    findings, error = scan(data)
    assert error is None
    assert [(f.message, f.location.offset) for f in findings] == [
        ("REDUCE calls os.system", len(head.buf) + len(body.buf) - len(rest.buf) + rest.labels["call"])
    ]
    plain = Asm().proto(4).frame(0).raw(joblib_wrapper(Asm(), 3).bytes()).raw(b"\x01\x02\x03.")
    assert scan(plain.bytes()) == ([], None)


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_torch_tensors_pickled_with_pickle_are_clean_and_their_embedded_file_scanned(protocol: int) -> None:
    import torch

    data = pickle.dumps({"t": torch.ones(3), "p": torch.nn.Parameter(torch.zeros(2))}, protocol=protocol)
    assert scan(data) == ([], None)
    assert analyze_pickle(data).embedded


def test_a_nested_pickle_loads_payload_is_reported_with_its_member() -> None:
    payload = next(p for p in payloads.malicious(MARKER) if p.name == "nested_pickle_loads")
    findings, _ = scan(payload.data)
    inner = [f for f in findings if f.location.member == f"<pickle.loads@{payload.offset}>"]
    assert [f.message for f in inner] == ["REDUCE calls os.system"]


def test_the_model_scanner_dispatches_legacy_torch_and_plain_pickles(tmp_path: Path) -> None:
    import torch

    legacy = tmp_path / "legacy.pt"
    torch.save({"w": torch.ones(2)}, legacy, _use_new_zipfile_serialization=False)
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(next(p for p in payloads.malicious(MARKER) if p.name == "os_system_p4").data)
    scanner = ModelScanner()
    for path, fmt, expected in ((legacy, "pytorch-legacy", []), (evil, "pickle", ["model.pickle.dangerous-call"])):
        target = ScanTarget(path=path, display_path=path.name, kind=Kind.MODEL, format=fmt, size=path.stat().st_size)
        assert [f.rule_id for f in scanner.scan(target)] == expected


# --- streams: concatenation, frames, garbage ------------------------------------------------------


def test_bytes_after_the_last_pickle_that_are_no_pickle_are_ignored() -> None:
    data = pickle.dumps([1, 2, 3], protocol=2) + bytes(range(256)) * 4
    analysis = analyze_pickle(data)
    assert (analysis.pickles, analysis.error) == (1, None)
    assert scan(data) == ([], None)


def test_a_broken_trailing_segment_that_would_already_import_something_dangerous_is_reported() -> None:
    data = pickle.dumps([1], protocol=2) + b"cos\nsystem\n\xff"
    findings, error = scan(data)
    assert error is not None and error.partial
    assert [f.rule_id for f in findings] == ["model.pickle.dangerous-import", "model.pickle.malformed"]


def test_many_concatenated_pickles_are_all_read() -> None:
    parts = [pickle.dumps(i, protocol=p % 6) for i, p in enumerate(range(12))]
    payload = next(p for p in payloads.malicious(MARKER) if p.name == "os_system_p3")
    data = b"".join(parts) + payload.data
    analysis = analyze_pickle(data)
    assert analysis.pickles == 13
    assert analysis.invocations[0].offset == len(b"".join(parts)) + payload.offset


def test_a_frame_longer_than_the_data_stops_the_loader_at_the_frame() -> None:
    data = Asm().proto(4).frame(1000).raw(b"N.").bytes()
    findings, error = scan(data)
    assert error is not None and "FRAME" in str(error)
    assert findings[-1].location.offset == 2


@pytest.mark.parametrize(
    ("tail", "reason"),
    [
        (b"", "without STOP"),
        (b"h\x07.", "memo key"),
        (b"X\x10\x00\x00\x00abc", "truncated"),
        (b"\xff", "invalid opcode"),
        (b"t.", "MARK"),
        (b"0000.", "underflow"),
        (b"\x80\x09.", "protocol"),
        (b"(\x93.", "underflow"),
        (b"K\x01K\x02\x93.", "STACK_GLOBAL requires str"),
        (b"(K\x01u.", "underflow"),
        (b"}K\x01u.", "MARK"),
        (b"}(K\x01u.", "odd number"),
        (b"K\x01)R.", "not callable"),
    ],
)
def test_malformed_streams_report_what_ran_and_stop_where_the_loader_stops(tail: bytes, reason: str) -> None:
    head = Asm().proto(2).global_("os", "system").unicode("touch x").tuple1().reduce().raw(b"0")
    findings, error = scan(head.bytes() + tail)
    assert error is not None and error.partial and reason in str(error), error
    assert findings[0].message == "REDUCE calls os.system"
    malformed = findings[-1]
    assert malformed.rule_id == "model.pickle.malformed" and malformed.location.offset is not None
    assert malformed.location.offset >= len(head.buf)


def test_stop_on_an_empty_stack_or_a_mark_is_malformed() -> None:
    for data in (b".", b"(.", b"\x80\x02(."):
        assert scan(data)[1] is not None


@pytest.mark.parametrize("protocol", range(6))
def test_protocols_0_to_5_parse_the_same_structure(protocol: int) -> None:
    obj = {"a": [1, 2.5, "x", b"y", None, True], "b": (1, (2, 3)), "c": {4, 5}, "d": frozenset({6}), "e": bytearray(b"z")}
    analysis = analyze_pickle(pickle.dumps(obj, protocol=protocol))
    assert (analysis.pickles, analysis.error, analysis.invocations) == (1, None, [])


# --- limits ----------------------------------------------------------------------------------------


def test_the_opcode_budget_stops_the_scan_with_what_was_found() -> None:
    payload = next(p for p in payloads.malicious(MARKER) if p.name == "os_system_p2")
    data = payload.data[:-1] + b"N0" * 1000 + b"."
    ctx = ModelContext("m.pkl", budget=Budget(Limits(max_pickle_opcodes=100)))
    with pytest.raises(LimitExceeded) as caught:
        scan_pickle(data, ctx)
    assert [f.rule_id for f in caught.value.findings] == ["model.pickle.dangerous-call", "model.archive.limit-exceeded"]


def test_the_memo_bound_stops_the_scan(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_pickle_parser, "MAX_MEMO", 10)
    data = b"\x80\x02N" + b"".join(b"r" + struct.pack("<I", i) for i in range(20_000)) + b"."
    with pytest.raises(LimitExceeded):
        scan_pickle(data, ModelContext("m.pkl"))


def test_memo_keys_with_gaps_cannot_grow_the_memo_without_bound() -> None:
    # Each key lands just inside the gap the dense memo pads with holes: growth is still bounded.
    data = b"\x80\x02N" + b"".join(b"r" + struct.pack("<I", (i + 1) * 65_536) for i in range(2_000)) + b"."
    started = time.process_time()
    findings, error = scan(data)
    assert time.process_time() - started < 10
    assert findings == [] or error is not None


def test_absurdly_long_attribute_paths_are_dangerous_and_cheap() -> None:
    name = "path.os" * 20_000 + ".system"
    started = time.process_time()
    data = Asm().proto(4).unicode("os").unicode(name).raw(b"\x93").empty_tuple().reduce().stop().bytes()
    assert scan(data)[0][0].rule_id == "model.pickle.dangerous-call"
    assert time.process_time() - started < 2


def test_huge_lengths_are_not_materialized() -> None:
    data = b"\x80\x04\x8e" + struct.pack("<Q", 2**62) + b"."
    assert "truncated" in str(scan(data)[1])
    data = b"\x80\x04\x8d" + struct.pack("<Q", 2**62) + b"."
    assert "truncated" in str(scan(data)[1])


def test_long_strings_are_validated_in_chunks_and_kept_as_placeholders(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_pickle_parser, "MAX_TEXT", 8)
    text = "é" * 40
    module = Asm().proto(4).unicode(text).unicode("system").raw(b"\x93").empty_tuple().reduce().stop()
    findings, error = scan(module.bytes())
    assert error is None and findings[0].rule_id == "model.pickle.unknown-call"
    invalid = b"\x80\x04X" + struct.pack("<I", 20) + b"a" * 19 + b"\xff."
    assert "UTF-8" in str(scan(invalid)[1])


# --- fuzzing ---------------------------------------------------------------------------------------


def scan_quietly(data: bytes) -> None:
    """Scan; the only exception allowed out is ``ScanError``, and the time is bounded by the size."""
    started = time.process_time()
    with contextlib.suppress(ScanError):
        scan_pickle(data, ModelContext("fuzz.pkl"))
    assert time.process_time() - started < 1.0 + len(data) / 100_000


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_raise_nothing_but_scan_error(data: bytes) -> None:
    scan_quietly(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=64).map(lambda tail: b"\x80\x04\x95" + struct.pack("<Q", len(tail)) + tail))
def test_arbitrary_framed_bodies_raise_nothing_but_scan_error(data: bytes) -> None:
    scan_quietly(data)


_SEEDS = [p.data for p in payloads.malicious(MARKER)[::3]] + [
    pickle.dumps({"a": [1, 2.0, "s", b"b", (None, True)], "n": {3}}, protocol=p) for p in range(6)
]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(_SEEDS), st.randoms(use_true_random=False), st.integers(min_value=1, max_value=8))
def test_mutated_valid_pickles_raise_nothing_but_scan_error(seed: bytes, rng: random.Random, edits: int) -> None:
    data = bytearray(seed)
    for _ in range(edits):
        where = rng.randrange(len(data) + 1)
        action = rng.randrange(4)
        if action == 0 and where < len(data):
            data[where] = rng.randrange(256)
        elif action == 1:
            data[where:where] = bytes([rng.randrange(256)])
        elif action == 2:
            del data[where : where + rng.randrange(1, 4)]
        else:
            data[where:where] = rng.choice(seed[: rng.randrange(1, len(seed))].split(b"\n")[:1])
    scan_quietly(bytes(data))
