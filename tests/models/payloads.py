"""Test corpus for the model scanner: malicious pickles assembled from opcodes, benign files made by the real libraries.

Never load a malicious sample. Each payload, if some loader did run it, would only create the
marker file it was built with (``open(marker, 'w')``, ``touch MARKER``) or fail before doing
anything; tests scan them all and assert that the marker does not exist afterwards.

Public API (stable; the container tests wrap these payloads in zips, tars and compressors):

- ``malicious(marker) -> list[Payload]``: every sample with what the scanner must report.
- ``all_malicious(marker) -> dict[str, bytes]``: the same samples by name.
- ``benign(tmpdir) -> dict[str, Path]``: files written by pickle, joblib, torch, numpy, pandas,
  scipy and scikit-learn (raw pickles, joblib dumps plain and compressed, torch zip and legacy).
- ``benign_pickles(tmpdir) -> dict[str, bytes]``: the raw pickle streams among them (torch
  zips contribute their ``data.pkl``), for tests that call the pickle analysis directly.
- ``Asm``: a small assembler for writing more samples in tests.
"""

from __future__ import annotations

import io
import marshal
import pickle
import shlex
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CRITICAL_CALL = ("model.pickle.dangerous-call", "critical")
CRITICAL_IMPORT = ("model.pickle.dangerous-import", "critical")
CRITICAL_STATE = ("model.pickle.state-injection", "critical")
UNKNOWN_CALL = ("model.pickle.unknown-call", "high")
UNKNOWN_CLASS = ("model.pickle.unknown-class", "medium")


@dataclass(frozen=True)
class Payload:
    """One malicious or suspicious sample and the finding a scanner must report for it."""

    name: str
    data: bytes
    callable: str
    """The resolved name the finding's message must contain, e.g. ``os.system``."""
    rule_id: str
    severity: str
    offset: int
    """Offset of the opcode the finding must point at (the call, or the import for imports)."""
    partial: bool = False
    """Whether the scan must end with ``ScanError(partial=True)`` (the sample is broken after the payload)."""


@dataclass
class Asm:
    """Appends opcodes to a pickle; ``label`` records the offset of the next opcode."""

    buf: bytearray = field(default_factory=bytearray)
    labels: dict[str, int] = field(default_factory=dict)

    def raw(self, data: bytes) -> Asm:
        self.buf += data
        return self

    def label(self, name: str) -> Asm:
        self.labels[name] = len(self.buf)
        return self

    def proto(self, n: int) -> Asm:
        return self.raw(b"\x80" + bytes([n]))

    def frame(self, length: int) -> Asm:
        return self.raw(b"\x95" + struct.pack("<Q", length))

    def global_(self, module: str, name: str) -> Asm:
        return self.raw(b"c" + module.encode() + b"\n" + name.encode() + b"\n")

    def stack_global(self, module: str, name: str) -> Asm:
        return self.short_unicode(module).short_unicode(name).raw(b"\x93")

    def string(self, text: str) -> Asm:
        """Protocol 0 ``STRING``: a quoted, escaped literal."""
        return self.raw(b"S" + repr(text).encode() + b"\n")

    def unicode(self, text: str) -> Asm:
        data = text.encode()
        return self.raw(b"X" + struct.pack("<I", len(data)) + data)

    def short_unicode(self, text: str) -> Asm:
        data = text.encode()
        return self.raw(b"\x8c" + bytes([len(data)]) + data)

    def binbytes(self, data: bytes) -> Asm:
        return self.raw(b"B" + struct.pack("<I", len(data)) + data)

    def int_(self, value: int) -> Asm:
        return self.raw(b"J" + struct.pack("<i", value))

    def mark(self) -> Asm:
        return self.raw(b"(")

    def tuple_(self) -> Asm:
        return self.raw(b"t")

    def tuple1(self) -> Asm:
        return self.raw(b"\x85")

    def tuple2(self) -> Asm:
        return self.raw(b"\x86")

    def empty_tuple(self) -> Asm:
        return self.raw(b")")

    def empty_dict(self) -> Asm:
        return self.raw(b"}")

    def reduce(self, label: str | None = None) -> Asm:
        if label:
            self.label(label)
        return self.raw(b"R")

    def build(self, label: str | None = None) -> Asm:
        if label:
            self.label(label)
        return self.raw(b"b")

    def stop(self) -> Asm:
        return self.raw(b".")

    def bytes(self) -> bytes:
        return bytes(self.buf)


def shell_command(marker: Path) -> str:
    return "touch " + shlex.quote(str(marker))


def python_code(marker: Path) -> str:
    return f"open({str(marker)!r}, 'w').close()"


def _call(asm: Asm, module: str, name: str, *args: str, proto: int = 2) -> Asm:
    """``module.name(*args)`` with GLOBAL (protocol < 4) or STACK_GLOBAL; the call is labelled ``call``."""
    if proto >= 4:
        asm.stack_global(module, name)
    else:
        asm.global_(module, name)
    asm.mark()
    for arg in args:
        if proto == 0:
            asm.string(arg)
        else:
            asm.unicode(arg)
    return asm.tuple_().reduce("call")


def _simple(name: str, module: str, func: str, args: tuple[str, ...], proto: int, expect: tuple[str, str]) -> Payload:
    asm = Asm()
    if proto >= 2:
        asm.proto(proto)
    _call(asm, module, func, *args, proto=proto).stop()
    return Payload(name, asm.bytes(), f"{module}.{func}", *expect, offset=asm.labels["call"])


def _process_spawning(marker: Path) -> list[Payload]:
    cmd = shell_command(marker)
    out = [_simple(f"os_system_p{p}", "os", "system", (cmd,), p, CRITICAL_CALL) for p in range(6)]
    out += [
        _simple("posix_system", "posix", "system", (cmd,), 2, CRITICAL_CALL),
        _simple("nt_system", "nt", "system", (f'type nul > "{marker}"',), 2, CRITICAL_CALL),
        _simple("os_popen", "os", "popen", (cmd,), 3, CRITICAL_CALL),
        _simple("subprocess_getoutput", "subprocess", "getoutput", (cmd,), 4, CRITICAL_CALL),
        _simple("commands_getoutput_py2", "commands", "getoutput", (cmd,), 0, CRITICAL_CALL),
    ]
    # subprocess.Popen(['touch', marker]) with a list built by APPENDS, in a protocol 4 frame.
    body = Asm().stack_global("subprocess", "Popen").raw(b"]").mark().short_unicode("touch").short_unicode(str(marker))
    body.raw(b"e").tuple1().reduce("call").stop()
    asm = Asm().proto(4).frame(len(body.buf)).raw(body.bytes())
    out.append(Payload("subprocess_popen_list", asm.bytes(), "subprocess.Popen", *CRITICAL_CALL, offset=11 + body.labels["call"]))
    # os.spawnlp(os.P_WAIT, 'touch', 'touch', marker)
    asm = Asm().proto(2).global_("os", "spawnlp").mark().raw(b"K\x00").unicode("touch").unicode("touch").unicode(str(marker))
    asm.tuple_().reduce("call").stop()
    out.append(Payload("os_spawnlp", asm.bytes(), "os.spawnlp", *CRITICAL_CALL, offset=asm.labels["call"]))
    # multiprocessing.util.spawnv_passfds(b'/bin/sh', [b'/bin/sh', b'-c', cmd], ())
    asm = Asm().proto(3).global_("multiprocessing.util", "spawnv_passfds").binbytes(b"/bin/sh").raw(b"]").mark()
    asm.binbytes(b"/bin/sh").binbytes(b"-c").binbytes(cmd.encode()).raw(b"e").empty_tuple().raw(b"\x87").reduce("call").stop()
    out.append(
        Payload(
            "multiprocessing_spawnv_passfds",
            asm.bytes(),
            "multiprocessing.util.spawnv_passfds",
            *CRITICAL_CALL,
            offset=asm.labels["call"],
        )
    )
    # pty.spawn(['touch', marker])
    asm = Asm().proto(2).global_("pty", "spawn").raw(b"]").mark().unicode("touch").unicode(str(marker)).raw(b"e")
    asm.tuple1().reduce("call").stop()
    out.append(Payload("pty_spawn", asm.bytes(), "pty.spawn", *CRITICAL_CALL, offset=asm.labels["call"]))
    return out


def _call_opcodes(marker: Path) -> list[Payload]:
    """The same call through every opcode that calls: INST, OBJ, NEWOBJ, NEWOBJ_EX."""
    cmd = shell_command(marker)
    inst = Asm().mark().string(cmd).label("call").raw(b"ios\nsystem\n").stop()
    obj = Asm().mark().global_("os", "system").string(cmd).label("call").raw(b"o").stop()
    # NEWOBJ only runs cls.__new__, so Popen does nothing here; the class is still one no model needs.
    newobj = Asm().proto(2).global_("subprocess", "Popen").mark().unicode(cmd).tuple_().label("call").raw(b"\x81").stop()
    newobj_ex = Asm().proto(4).stack_global("subprocess", "Popen").mark().short_unicode(cmd).tuple_().empty_dict()
    newobj_ex.label("call").raw(b"\x92").stop()
    return [
        Payload("inst_os_system", inst.bytes(), "os.system", *CRITICAL_CALL, offset=inst.labels["call"]),
        Payload("obj_os_system", obj.bytes(), "os.system", *CRITICAL_CALL, offset=obj.labels["call"]),
        Payload("newobj_popen", newobj.bytes(), "subprocess.Popen", *CRITICAL_CALL, offset=newobj.labels["call"]),
        Payload("newobj_ex_popen", newobj_ex.bytes(), "subprocess.Popen", *CRITICAL_CALL, offset=newobj_ex.labels["call"]),
    ]


def _code_execution(marker: Path) -> list[Payload]:
    code = python_code(marker)
    out = [
        _simple("builtins_exec", "builtins", "exec", (code,), 3, CRITICAL_CALL),
        _simple("builtins_eval", "builtins", "eval", (code,), 4, CRITICAL_CALL),
        _simple("builtin_eval_py2_name", "__builtin__", "eval", (code,), 0, CRITICAL_CALL),
        _simple("runpy_run_code", "runpy", "_run_code", (code,), 2, CRITICAL_CALL),
        _simple("runpy_run_path", "runpy", "run_path", (str(marker),), 5, CRITICAL_CALL),
        _simple("cprofile_run", "cProfile", "run", (code,), 2, CRITICAL_CALL),
        _simple("timeit_timeit", "timeit", "timeit", (code, "pass"), 2, CRITICAL_CALL),
        _simple("numpy_runstring", "numpy.testing._private.utils", "runstring", (code,), 2, CRITICAL_CALL),
        _simple("torch_jit_execwrapper", "torch.jit.unsupported_tensor_ops", "execWrapper", (code,), 4, CRITICAL_CALL),
        _simple("code_interact_runsource", "code", "InteractiveInterpreter", (), 2, CRITICAL_CALL),
    ]
    # types.FunctionType(marshal.loads(<code object>), {})(): code built from bytes, then called.
    blob = marshal.dumps(compile(code, "<payload>", "exec"))
    asm = Asm().proto(3).global_("types", "FunctionType").global_("marshal", "loads").binbytes(blob).tuple1().reduce("loads")
    asm.empty_dict().tuple2().reduce("function").empty_tuple().reduce("call").stop()
    out.append(Payload("marshal_functiontype", asm.bytes(), "marshal.loads", *CRITICAL_CALL, offset=asm.labels["loads"]))
    out.append(
        Payload("marshal_functiontype_fn", asm.bytes(), "types.FunctionType", *CRITICAL_CALL, offset=asm.labels["function"])
    )
    # exec(compile(code, '<x>', 'exec'))
    asm = Asm().proto(2).global_("builtins", "exec").global_("builtins", "compile").mark().unicode(code).unicode("<x>")
    asm.unicode("exec").tuple_().reduce("compile").tuple1().reduce("call").stop()
    out.append(Payload("compile_then_exec", asm.bytes(), "builtins.compile", *CRITICAL_CALL, offset=asm.labels["compile"]))
    # A nested pickle: pickle.loads(<os.system payload>).
    inner = _simple("inner", "os", "system", (shell_command(marker),), 2, CRITICAL_CALL).data
    for module in ("pickle", "_pickle", "dill", "cloudpickle"):
        asm = Asm().proto(3).global_(module, "loads").binbytes(inner).tuple1().reduce("call").stop()
        out.append(Payload(f"nested_{module}_loads", asm.bytes(), f"{module}.loads", *CRITICAL_CALL, offset=asm.labels["call"]))
    return out


def _import_machinery(marker: Path) -> list[Payload]:
    cmd = shell_command(marker)
    out: list[Payload] = []
    # getattr(__import__('os'), 'system')(cmd): the scanner resolves the final callable to os.system.
    for importer_module, importer in (("builtins", "__import__"), ("importlib", "import_module")):
        asm = Asm().proto(2).global_("builtins", "getattr").global_(importer_module, importer).unicode("os").tuple1()
        asm.reduce("import").unicode("system").tuple2().reduce("getattr").unicode(cmd).tuple1().reduce("call").stop()
        data, labels = asm.bytes(), asm.labels
        out += [
            Payload(f"{importer}_getattr", data, f"{importer_module}.{importer}", *CRITICAL_CALL, offset=labels["import"]),
            Payload(f"{importer}_getattr_resolved", data, "os.system", *CRITICAL_CALL, offset=labels["call"]),
        ]
    # Resolvers that turn a string into any callable.
    for module, name, text in (("pkgutil", "resolve_name", "os:system"), ("pydoc", "locate", "os.system")):
        asm = Asm().proto(2).global_(module, name).unicode(text).tuple1().reduce("resolve").unicode(cmd).tuple1()
        asm.reduce("call").stop()
        out.append(Payload(f"{module}_{name}", asm.bytes(), f"{module}.{name}", *CRITICAL_CALL, offset=asm.labels["resolve"]))
    # operator.attrgetter('system')(os module) / operator.methodcaller('system', cmd)(os module)
    asm = Asm().proto(2).global_("operator", "attrgetter").unicode("system").tuple1().reduce("getter")
    asm.global_("builtins", "__import__").unicode("os").tuple1().reduce().tuple1().reduce().unicode(cmd).tuple1().reduce().stop()
    out.append(Payload("operator_attrgetter", asm.bytes(), "operator.attrgetter", *CRITICAL_CALL, offset=asm.labels["getter"]))
    asm = Asm().proto(2).global_("operator", "methodcaller").unicode("system").unicode(cmd).tuple2().reduce("caller")
    asm.global_("builtins", "__import__").unicode("os").tuple1().reduce().tuple1().reduce().stop()
    out.append(
        Payload("operator_methodcaller", asm.bytes(), "operator.methodcaller", *CRITICAL_CALL, offset=asm.labels["caller"])
    )
    # functools.partial(os.system, cmd)(): the call is really os.system's.
    asm = Asm().proto(2).global_("functools", "partial").global_("os", "system").unicode(cmd).tuple2().reduce()
    asm.empty_tuple().reduce("call").stop()
    out.append(Payload("functools_partial", asm.bytes(), "os.system", *CRITICAL_CALL, offset=asm.labels["call"]))
    return out


def _name_tricks(marker: Path) -> list[Payload]:
    """Names that hide the callable: memo lookups, dotted attribute paths, Python 2 names, extensions."""
    cmd = shell_command(marker)
    out: list[Payload] = []
    # STACK_GLOBAL whose module and name come from the memo, pushed long before.
    asm = Asm().proto(4).short_unicode("os").raw(b"\x94").short_unicode("system").raw(b"\x94").raw(b"00")
    asm.short_unicode("padding").raw(b"0").raw(b"h\x00h\x01\x93").short_unicode(cmd).tuple1().reduce("call").stop()
    out.append(Payload("stack_global_memo", asm.bytes(), "os.system", *CRITICAL_CALL, offset=asm.labels["call"]))
    # Protocol 0 PUT/GET text memo.
    asm = Asm().global_("os", "system").raw(b"p7\n0").raw(b"g7\n").mark().string(cmd).tuple_().reduce("call").stop()
    out.append(Payload("text_memo_get", asm.bytes(), "os.system", *CRITICAL_CALL, offset=asm.labels["call"]))
    # LONG_BINPUT / LONG_BINGET with a large key.
    asm = Asm().proto(2).global_("os", "system").raw(b"r\xff\xff\x00\x000").raw(b"j\xff\xff\x00\x00").unicode(cmd).tuple1()
    asm.reduce("call").stop()
    out.append(Payload("long_binget", asm.bytes(), "os.system", *CRITICAL_CALL, offset=asm.labels["call"]))
    # Dotted attribute paths (protocol 4 resolves them): pathlib.os is the os module.
    for module, name in (("pathlib", "os.system"), ("tempfile", "_os.system"), ("shutil", "os.popen")):
        asm = Asm().proto(4).stack_global(module, name).short_unicode(cmd).tuple1().reduce("call").stop()
        out.append(Payload(f"dotted_{module}_{name}", asm.bytes(), f"{module}.{name}", *CRITICAL_CALL, offset=asm.labels["call"]))
    # Attribute path through dunders: builtins.object.__subclasses__ (a classic sandbox escape start).
    asm = Asm().proto(4).stack_global("builtins", "object.__subclasses__").empty_tuple().reduce("call").stop()
    out.append(Payload("dotted_dunder", asm.bytes(), "builtins.object.__subclasses__", *CRITICAL_CALL, offset=asm.labels["call"]))
    # GLOBAL names with protocol 0 STRING-decoded names through STACK_GLOBAL (STRING gives str by default).
    asm = Asm().proto(4).string("os").string("system").raw(b"\x93").string(cmd).tuple1().reduce("call").stop()
    out.append(Payload("stack_global_string_args", asm.bytes(), "os.system", *CRITICAL_CALL, offset=asm.labels["call"]))
    # EXT1: a callable from the copyreg extension registry, whatever it maps to on the loading machine.
    asm = Asm().proto(2).raw(b"\x82\x01").unicode(cmd).tuple1().reduce("call").stop()
    out.append(Payload("ext1_call", asm.bytes(), "extension 1", *UNKNOWN_CALL, offset=asm.labels["call"]))
    asm = Asm().proto(2).raw(b"\x84\xff\xff\xff\x7f").unicode(cmd).tuple1().reduce("call").stop()
    out.append(Payload("ext4_call", asm.bytes(), "extension 2147483647", *UNKNOWN_CALL, offset=asm.labels["call"]))
    return out


def _io_and_state(marker: Path) -> list[Payload]:
    """File and network I/O, module-state mutation and BUILD gadgets."""
    cmd = shell_command(marker)
    out: list[Payload] = []
    asm = Asm().proto(2).global_("builtins", "open").unicode(str(marker)).unicode("w").tuple2().reduce("call").stop()
    out.append(Payload("builtins_open", asm.bytes(), "builtins.open", *CRITICAL_CALL, offset=asm.labels["call"]))
    asm = Asm().proto(2).global_("_io", "FileIO").unicode(str(marker)).unicode("w").tuple2().reduce("call").stop()
    out.append(Payload("io_fileio", asm.bytes(), "_io.FileIO", *CRITICAL_CALL, offset=asm.labels["call"]))
    asm = Asm().proto(2).global_("shutil", "copyfile").unicode("/dev/null").unicode(str(marker)).tuple2().reduce("call").stop()
    out.append(Payload("shutil_copyfile", asm.bytes(), "shutil.copyfile", *CRITICAL_CALL, offset=asm.labels["call"]))
    # socket.socket.__new__ only: no connection is made, the class alone is the finding.
    asm = Asm().proto(2).global_("socket", "socket").empty_tuple().label("call").raw(b"\x81").stop()
    out.append(Payload("newobj_socket", asm.bytes(), "socket.socket", *CRITICAL_CALL, offset=asm.labels["call"]))
    # ctypes.CDLL(None).system(cmd)
    asm = Asm().proto(2).global_("builtins", "getattr").global_("ctypes", "CDLL").raw(b"N").tuple1().reduce("cdll")
    asm.unicode("system").tuple2().reduce().binbytes(shell_command(marker).encode()).tuple1().reduce().stop()
    out.append(Payload("ctypes_cdll", asm.bytes(), "ctypes.CDLL", *CRITICAL_CALL, offset=asm.labels["cdll"]))
    # A dangerous callable imported but never called by an opcode: stored in a dict, where a later
    # __setstate__ or a caller of the loaded object can reach it.
    asm = Asm().proto(2).global_("collections", "OrderedDict").raw(b"]").mark().unicode("hook").label("import")
    asm.global_("os", "system").tuple2().raw(b"e").tuple1().reduce().stop()
    out.append(Payload("dangerous_import_as_value", asm.bytes(), "os.system", *CRITICAL_IMPORT, offset=asm.labels["import"]))
    # BUILD injects __setstate__ = exec into an instance dict; a second BUILD then calls exec(code).
    asm = Asm().proto(2).global_("collections", "OrderedDict").empty_tuple().reduce().empty_dict().unicode("__setstate__")
    asm.global_("builtins", "exec").raw(b"s").build("inject").unicode(python_code(marker)).build("call").stop()
    out.append(Payload("build_setstate_injection", asm.bytes(), "__setstate__", *CRITICAL_STATE, offset=asm.labels["inject"]))
    out.append(Payload("build_setstate_injection_call", asm.bytes(), "builtins.exec", *CRITICAL_CALL, offset=asm.labels["call"]))
    # BUILD with a slot-state dict on a class object: setattr on the class (monkey-patching).
    asm = Asm().proto(2).global_("collections", "OrderedDict").raw(b"N").empty_dict().unicode("fromkeys").raw(b"N").raw(b"s")
    asm.tuple2().build("inject").stop()
    out.append(Payload("build_on_class", asm.bytes(), "collections.OrderedDict", *CRITICAL_STATE, offset=asm.labels["inject"]))
    # sys.modules['json'] = <something>: later imports in the loading process get the attacker's object.
    asm = Asm().global_("sys", "modules").string("json").global_("collections", "OrderedDict").label("set").raw(b"s0N.")
    out.append(Payload("sys_modules_override", asm.bytes(), "sys.modules", *CRITICAL_STATE, offset=asm.labels["set"]))
    # copyreg.add_extension('os', 'system', 42), then EXT1 42 resolves to os.system in the loading process.
    asm = Asm().proto(2).global_("copyreg", "add_extension").mark().unicode("os").unicode("system").raw(b"K*").tuple_()
    asm.reduce("register").raw(b"0\x82*").unicode(cmd).tuple1().reduce("call").stop()
    out.append(
        Payload("copyreg_add_extension", asm.bytes(), "copyreg.add_extension", *CRITICAL_CALL, offset=asm.labels["register"])
    )
    out.append(Payload("copyreg_extension_call", asm.bytes(), "extension 42", *UNKNOWN_CALL, offset=asm.labels["call"]))
    # SETITEM on a module-level mapping: os.environ gets a variable without any call opcode.
    asm = Asm().global_("os", "environ").string("BASTION_TEST_MARKER").string("1").label("set").raw(b"s0").raw(b"N.")
    out.append(Payload("setitem_os_environ", asm.bytes(), "os.environ", *CRITICAL_STATE, offset=asm.labels["set"]))
    return out


def _unknown(marker: Path) -> list[Payload]:
    """Callables and classes no allowlist knows: high when called, medium when only instantiated."""
    cmd = shell_command(marker)
    out: list[Payload] = []
    asm = Asm().proto(2).global_("acme_tools.setup", "run_hooks").unicode(cmd).tuple1().reduce("call").stop()
    out.append(Payload("unknown_function", asm.bytes(), "acme_tools.setup.run_hooks", *UNKNOWN_CALL, offset=asm.labels["call"]))
    asm = (
        Asm().proto(2).global_("acme_models.nets", "TinyNet").empty_tuple().label("call").raw(b"\x81").empty_dict().build().stop()
    )
    out.append(
        Payload("unknown_class_newobj", asm.bytes(), "acme_models.nets.TinyNet", *UNKNOWN_CLASS, offset=asm.labels["call"])
    )
    asm = (
        Asm().global_("copy_reg", "_reconstructor").mark().global_("acme_models.nets", "TinyNet").global_("__builtin__", "object")
    )
    asm.raw(b"N").tuple_().reduce("call").empty_dict().build().stop()
    out.append(
        Payload("unknown_class_reconstructor", asm.bytes(), "acme_models.nets.TinyNet", *UNKNOWN_CLASS, offset=asm.labels["call"])
    )
    # A call of something a call returned: the scanner cannot know it, so it is unknown.
    asm = Asm().proto(2).global_("acme_tools.setup", "factory").empty_tuple().reduce().empty_tuple().reduce("call").stop()
    out.append(Payload("call_of_result", asm.bytes(), "acme_tools.setup.factory", *UNKNOWN_CALL, offset=asm.labels["call"]))
    return out


def _framing_and_streams(marker: Path) -> list[Payload]:
    """FRAME tricks, concatenated pickles, and payloads followed by garbage or broken memo references."""
    cmd = shell_command(marker)
    out: list[Payload] = []
    payload = Asm().global_("os", "system").unicode(cmd).tuple1().reduce("call").stop()
    # A BINBYTES that runs past the end of its frame: the C loader reads on, the payload follows.
    head = Asm().proto(4).frame(8).raw(b"N0").binbytes(b"x" * 32).raw(b"0")
    asm = Asm().raw(head.bytes()).raw(payload.bytes())
    out.append(
        Payload("frame_binbytes_overrun", asm.bytes(), "os.system", *CRITICAL_CALL, offset=len(head.buf) + payload.labels["call"])
    )
    # A frame that claims one byte, followed by unframed opcodes the C loader runs all the same.
    head = Asm().proto(4).frame(1).raw(b"N0")
    asm = Asm().raw(head.bytes()).raw(payload.bytes())
    out.append(Payload("frame_short", asm.bytes(), "os.system", *CRITICAL_CALL, offset=len(head.buf) + payload.labels["call"]))
    # Frames inside frames, and an argument split by a frame header that the C loader ignores.
    head = Asm().proto(4).frame(20).frame(3).raw(b"N0").frame(0)
    asm = Asm().raw(head.bytes()).raw(payload.bytes())
    out.append(Payload("frame_nested", asm.bytes(), "os.system", *CRITICAL_CALL, offset=len(head.buf) + payload.labels["call"]))
    # A benign pickle, then the payload as a second pickle (legacy torch files hold five pickles).
    first = pickle.dumps({"weights": [1.0, 2.0]}, protocol=2)
    out.append(
        Payload("second_pickle", first + payload.bytes(), "os.system", *CRITICAL_CALL, offset=len(first) + payload.labels["call"])
    )
    # The legacy torch layout: magic number, protocol version, sys_info, then a malicious main pickle.
    prefix = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2) + pickle.dumps(1001, protocol=2)
    prefix += pickle.dumps({"protocol_version": 1001, "little_endian": True, "type_sizes": {"int": 4}}, protocol=2)
    out.append(
        Payload(
            "torch_legacy_main",
            prefix + payload.bytes(),
            "os.system",
            *CRITICAL_CALL,
            offset=len(prefix) + payload.labels["call"],
        )
    )
    # The call runs, then the stream breaks: garbage, a missing memo key, a truncated argument.
    body = Asm().proto(2).global_("os", "system").unicode(cmd).tuple1().reduce("call")
    call = body.labels["call"]
    out += [
        Payload("garbage_after_call", body.bytes() + b"\xff\xfe garbage", "os.system", *CRITICAL_CALL, offset=call, partial=True),
        Payload("broken_memo_after_call", body.bytes() + b"h\x63.", "os.system", *CRITICAL_CALL, offset=call, partial=True),
        Payload(
            "truncated_after_call", body.bytes() + b"X\xff\x00\x00\x00abc", "os.system", *CRITICAL_CALL, offset=call, partial=True
        ),
        Payload("no_stop_after_call", body.bytes(), "os.system", *CRITICAL_CALL, offset=call, partial=True),
    ]
    return out


def malicious(marker: Path) -> list[Payload]:
    """Every sample; running any of them would create ``marker`` or fail before doing anything."""
    return [
        *_process_spawning(marker),
        *_call_opcodes(marker),
        *_code_execution(marker),
        *_import_machinery(marker),
        *_name_tricks(marker),
        *_io_and_state(marker),
        *_unknown(marker),
        *_framing_and_streams(marker),
    ]


def all_malicious(marker: Path) -> dict[str, bytes]:
    """The samples by name (several expectations may share one sample; the bytes are the same)."""
    return {p.name: p.data for p in malicious(marker)}


# --- benign files, made by the real libraries -------------------------------------------------


def _sklearn_models() -> dict[str, Any]:
    import numpy as np
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingRegressor, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    from sklearn.tree import DecisionTreeRegressor

    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 4))
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    pipeline = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())]).fit(x, y)
    columns = ColumnTransformer([("num", StandardScaler(), [0, 1]), ("cat", OneHotEncoder(), [2])])
    cats = np.column_stack([x[:, :2], rng.integers(0, 3, size=60)])
    return {
        "sklearn_logreg": LogisticRegression().fit(x, y),
        "sklearn_scaler": StandardScaler().fit(x),
        "sklearn_pipeline": pipeline,
        "sklearn_random_forest": RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0).fit(x, y),
        "sklearn_gradient_boosting": GradientBoostingClassifier(n_estimators=3, max_depth=2, random_state=0).fit(x, y),
        "sklearn_hist_gb": HistGradientBoostingRegressor(max_iter=3).fit(x, x[:, 0]),
        "sklearn_knn": KNeighborsClassifier(n_neighbors=3, algorithm="ball_tree").fit(x, y),
        "sklearn_kd_tree": KNeighborsClassifier(n_neighbors=3, algorithm="kd_tree").fit(x, y),
        "sklearn_tree": DecisionTreeRegressor(max_depth=3).fit(x, x[:, 0]),
        "sklearn_column_transformer": Pipeline([("cols", columns), ("clf", LogisticRegression())]).fit(cats, y),
    }


def _data_objects() -> dict[str, Any]:
    import collections
    import datetime
    import decimal
    import fractions

    import numpy as np
    import pandas as pd
    import scipy.sparse as sp

    dense = np.arange(12, dtype=np.float64).reshape(3, 4)
    frame = pd.DataFrame(
        {
            "i": np.arange(4, dtype=np.int64),
            "f": np.linspace(0, 1, 4),
            "s": ["a", "b", "c", "d"],
            "c": pd.Categorical(["x", "y", "x", "z"]),
            "t": pd.date_range("2024-01-01", periods=4),
            "tz": pd.date_range("2024-01-01", periods=4, tz="UTC"),
            "d": pd.to_timedelta([1, 2, 3, 4], unit="s"),
            "b": [True, False, True, False],
            "n": pd.array([1, None, 3, 4], dtype="Int64"),
        }
    )
    structured = np.zeros(3, dtype=[("name", "U8"), ("pos", "f4", (2,)), ("id", "<i8")])
    return {
        "numpy_float": dense,
        "numpy_int_fortran": np.asfortranarray(np.arange(6, dtype=np.int32).reshape(2, 3)),
        "numpy_structured": structured,
        "numpy_datetime": np.array(["2024-01-01", "2024-02-01"], dtype="datetime64[D]"),
        "numpy_object": np.array([1, "two", None], dtype=object),
        "numpy_complex_bool": [np.array([1 + 2j]), np.array([True, False]), np.float32(1.5), np.int64(7)],
        "numpy_masked": np.ma.masked_array([1.0, 2.0, 3.0], mask=[0, 1, 0]),
        "pandas_frame": frame,
        "pandas_series": pd.Series([1.0, 2.0], index=pd.Index(["a", "b"], name="k")),
        "pandas_multiindex": frame.set_index(["s", "i"])[["f"]],
        "scipy_csr": sp.csr_matrix(dense),
        "scipy_csc": sp.csc_matrix(dense),
        "scipy_coo": sp.coo_matrix(dense),
        "scipy_csr_array": sp.csr_array(dense),
        "python_builtins": {
            "set": {1, 2},
            "frozenset": frozenset({3}),
            "complex": 1 + 2j,
            "slice": slice(1, 5, 2),
            "bytearray": bytearray(b"ab"),
            "range": range(3),
            "bytes": b"\x00\x01",
            "ordered": collections.OrderedDict(a=1),
            "counter": collections.Counter("abca"),
            "deque": collections.deque([1, 2]),
            "defaultdict": collections.defaultdict(list, {"k": [1]}),
            "date": datetime.date(2024, 1, 2),
            "datetime": datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC),
            "timedelta": datetime.timedelta(days=1),
            "decimal": decimal.Decimal("1.25"),
            "fraction": fractions.Fraction(1, 3),
        },
    }


def _torch_objects() -> dict[str, Any]:
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3), torch.nn.ReLU(), torch.nn.Linear(3, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(torch.randn(5, 4)).sum().backward()
    optimizer.step()
    checkpoint = {
        "epoch": 3,
        "model_state_dict": model.state_dict(),
        "optimizer_state_dict": optimizer.state_dict(),
        "loss": 0.25,
        "config": {"lr": 1e-3, "layers": [4, 3, 1], "name": "tiny"},
    }
    return {
        "torch_state_dict": model.state_dict(),
        "torch_checkpoint": checkpoint,
        "torch_tensors": {
            "half": torch.ones(2, dtype=torch.float16),
            "long": torch.arange(3),
            "param": torch.nn.Parameter(torch.ones(2)),
        },
    }


def benign(tmpdir: Path) -> dict[str, Path]:
    """Write benign model files with the real libraries into ``tmpdir``; name -> path."""
    import joblib
    import torch

    tmpdir.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}

    def write(name: str, data: bytes) -> None:
        path = tmpdir / name
        path.write_bytes(data)
        out[name] = path

    sklearn_models = _sklearn_models()
    objects = {**sklearn_models, **_data_objects()}
    for name, obj in objects.items():
        for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
            write(f"{name}.p{protocol}.pkl", pickle.dumps(obj, protocol=protocol))
    for name in (*sklearn_models, "pandas_frame", "numpy_object", "numpy_structured", "scipy_csr"):
        path = tmpdir / f"{name}.joblib"
        joblib.dump(objects[name], path)
        out[path.name] = path
    for name in ("sklearn_random_forest", "pandas_frame", "numpy_object"):
        obj = objects[name]
        for compress in ("zlib", "gzip", "bz2", "xz", "lzma"):
            path = tmpdir / f"{name}.joblib.{compress}"
            joblib.dump(obj, path, compress=(compress, 3))
            out[path.name] = path
    for name, obj in _torch_objects().items():
        path = tmpdir / f"{name}.pt"
        torch.save(obj, path)
        out[path.name] = path
        path = tmpdir / f"{name}.legacy.pt"
        torch.save(obj, path, _use_new_zipfile_serialization=False)
        out[path.name] = path
    return out


def benign_pickles(tmpdir: Path) -> dict[str, bytes]:
    """The raw pickle streams among ``benign``: plain pickles, uncompressed joblib dumps, legacy torch
    files (pickles followed by raw storage), and the ``data.pkl`` of each torch zip."""
    out: dict[str, bytes] = {}
    for name, path in benign(tmpdir).items():
        data = path.read_bytes()
        if zipfile.is_zipfile(io.BytesIO(data)):
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                for member in archive.namelist():
                    if member.endswith("data.pkl"):
                        out[f"{name}!{member}"] = archive.read(member)
        elif name.endswith((".pkl", ".joblib", ".legacy.pt")):
            out[name] = data
    return out
