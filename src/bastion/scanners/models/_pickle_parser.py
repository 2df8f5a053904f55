"""Pickle analysis: what a pickle would import, call and modify when loaded, decided without running it.

The parser makes the parsing decisions of CPython's C unpickler (``Modules/_pickle.c``): the
same opcodes and arguments, the same stack and MARK discipline (a pop may not cross a MARK),
the memo, and FRAME read as the C loader reads it — a frame is only a read-ahead hint, so
opcodes and arguments are parsed straight through frame boundaries and nothing a frame
"contains" can be hidden from the parse. It simulates just enough of the stack to know which
callable each REDUCE, BUILD, NEWOBJ, NEWOBJ_EX, OBJ and INST invokes — a global, a memo entry,
the result of another call — and judges it with ``allowlist.classify``.

A file may hold several pickles (legacy torch files hold five, then raw tensor storage): pickles
are read one after another while they parse. Bytes after the last complete pickle that do not
parse as one are data no loader unpickles and are ignored, unless what parsed of them before the
break would already import or call something worth a finding. joblib writes array bytes into the
stream after each ``NumpyArrayWrapper``'s BUILD; they are skipped where joblib reads them.
"""

from __future__ import annotations

import _compat_pickle
import codecs
import gc
import struct
from collections import Counter
from collections.abc import Callable
from enum import Enum
from typing import Any, Final, NamedTuple

from bastion.scanners.models.allowlist import (
    INSTANCE_HOOKS,
    Role,
    Verdict,
    argument_roles,
    classify,
    is_stdlib,
    looks_like_class,
    state_code,
)
from bastion.scanners.models.scanner import ModelBuffer

MAX_MEMO: Final = 8_000_000
"""Memo entries kept before the analysis stops (a legitimate 200k-tensor state dict needs 1.6M)."""
MAX_STACK: Final = 4_000_000
"""Stack depth before the analysis stops."""
MAX_TEXT: Final = 1 << 20
"""Strings longer than this are validated in chunks and kept as a placeholder, never materialized."""
MAX_DICT_ITEMS: Final = 4096
"""Items kept per dict (only BUILD states are ever looked into; instance hooks such as ``__setstate__`` are always seen)."""
MAX_NESTING: Final = 16
"""Nested pickles (joblib object arrays) inside one another."""
_CHUNK: Final = 1 << 16
"""Opcodes per run of the hot loop; the memo and stack bounds are checked between runs."""

_JOBLIB_WRAPPERS: Final = frozenset(
    {"joblib.numpy_pickle.NumpyArrayWrapper", "sklearn.externals.joblib.numpy_pickle.NumpyArrayWrapper"}
)
_NUMPY_DTYPE: Final = "numpy.dtype"
_CODECS_ENCODE: Final = "_codecs.encode"
TORCH_FROM_BYTES: Final = "torch.storage._load_from_bytes"
_NESTED_LOADERS: Final = frozenset(
    {
        TORCH_FROM_BYTES,
        "pickle.loads",
        "pickle._loads",
        "_pickle.loads",
        "dill.loads",
        "dill._dill.loads",
        "cloudpickle.loads",
        "torch.load",
        "torch.serialization.load",
        "joblib.load",
        "numpy.load",
    }
)
"""Callables that load the bytes they are given: constant bytes passed to them are scanned as files of their own."""
_TEXT_ENCODINGS: Final = frozenset({"latin1", "latin-1", "iso-8859-1", "utf-8", "utf8", "ascii"})
_PER_INSTANCE: Final = _JOBLIB_WRAPPERS | {_NUMPY_DTYPE, _CODECS_ENCODE}
"""Allowed callables whose every result is looked into later (its arguments, its BUILD state)."""
_GETATTR: Final = "builtins.getattr"
_RESOLVERS: Final = frozenset({"builtins.__import__", "importlib.import_module", "pkgutil.resolve_name", "pydoc.locate"})
_PARTIAL: Final = "functools.partial"

_u32 = struct.Struct("<I").unpack_from
_i32 = struct.Struct("<i").unpack_from
_u16 = struct.Struct("<H").unpack_from
_u64 = struct.Struct("<Q").unpack_from


class Action(Enum):
    """How a callable is used."""

    CALL = "calls"
    """Called with arguments from the pickle (REDUCE, INST, OBJ), or by an allowed callable."""
    INSTANTIATE = "instantiates"
    """Only its ``__new__`` runs (NEWOBJ, NEWOBJ_EX, copyreg reconstructors); ``__setstate__`` may follow."""


class Import(NamedTuple):
    """A global the loader imports (GLOBAL, STACK_GLOBAL, INST), first occurrence and number of times."""

    offset: int
    name: str
    """Resolved ``module.attribute.path``, Python 2 names mapped as the loader maps them."""
    verdict: Verdict
    opcode: str
    raw: str | None = None
    """The name as written when the loader maps it (``__builtin__.eval``)."""
    times: int = 1
    """Occurrences in the file."""


class Invocation(NamedTuple):
    """A callable the loader invokes, first occurrence and number of times."""

    offset: int
    """Offset of the opcode that invokes it."""
    opcode: str
    target: str
    """The callable: a resolved name, ``extension N``, or ``the result of X``."""
    verdict: Verdict
    action: Action
    via: str | None = None
    """The allowed callable that calls or instantiates ``target`` for the opcode (``copyreg._reconstructor``)."""
    route: str | None = None
    """How ``target`` is reached when that is not plain (``through functools.partial``)."""
    times: int = 1
    """Occurrences in the file."""


class StateChange(NamedTuple):
    """An opcode that modifies a global (a module, class or function) or injects dunder attributes."""

    offset: int
    opcode: str
    target: str
    detail: str
    times: int = 1
    """Occurrences in the file."""


class Embedded(NamedTuple):
    """Constant bytes that a nested loader is called on (``torch.storage._load_from_bytes(b'...')``)."""

    offset: int
    """Offset of the opcode that calls the loader."""
    loader: str
    data: bytes


class PickleAnalysis:
    """Everything the loader would do, up to where it would stop."""

    __slots__ = (
        "embedded",
        "end",
        "error",
        "error_offset",
        "imports",
        "invocations",
        "judged_through",
        "limit",
        "opcodes",
        "pickles",
        "state_changes",
    )

    def __init__(self) -> None:
        self.imports: list[Import] = []
        self.invocations: list[Invocation] = []
        self.state_changes: list[StateChange] = []
        self.embedded: list[Embedded] = []
        """Payloads for nested loaders; ``scan_pickle`` scans each as a file."""
        self.judged_through: set[str] = set()
        """Dangerous globals whose calls were judged by what they returned or loaded (getattr with constant
        arguments, torch's loader of embedded bytes), so that importing them is no finding of its own."""
        self.pickles = 0
        """Complete pickles read (up to STOP)."""
        self.opcodes = 0
        self.end = 0
        """Offset after the last byte parsed; the rest is data no loader unpickles."""
        self.error: str | None = None
        """Why the loader would stop early (a malformed pickle); ``None`` when every pickle completed."""
        self.error_offset: int | None = None
        self.limit: str | None = None
        """A bound the analysis reached (opcodes, memo, stack); the rest was not examined."""


# --- values on the simulated stack --------------------------------------------------------------


class _Mark:
    __slots__ = ()


class _Sentinel:
    """A value whose content never matters, only its kind."""

    __slots__ = ("kind",)

    def __init__(self, kind: str) -> None:
        self.kind = kind


class _Global:
    """A global the loader resolved, or a module/attribute a resolver (getattr, __import__) returned."""

    __slots__ = ("name", "raw", "roles", "shared", "verdict")

    def __init__(self, name: str, verdict: Verdict, raw: str | None = None) -> None:
        self.name = name
        self.verdict = verdict
        self.raw = raw
        """The name as written, when the loader maps a Python 2 name (``__builtin__.eval``)."""
        self.roles = argument_roles(name) if verdict is Verdict.ALLOWED else ()
        """What this allowed callable does with its arguments (see ``allowlist.ARGUMENT_ROLES``)."""
        self.shared: _Object | None = None
        """One result for every call of an allowed callable whose arguments and result identity never matter:
        a state dict of 200k tensors then keeps one object, not 200k."""
        if verdict is Verdict.ALLOWED and not self.roles and name not in _PER_INSTANCE:
            self.shared = _Object(self, (), self)


class _Extension:
    """A callable from the copyreg extension registry: whatever the loading machine registered."""

    __slots__ = ("code",)

    def __init__(self, code: int) -> None:
        self.code = code


class _Object:
    """What a call or an instantiation returned."""

    __slots__ = ("args", "cls", "injected", "source", "state")

    def __init__(self, source: object, args: tuple[Any, ...], cls: object) -> None:
        self.source = source
        self.args = args
        self.cls = cls
        self.state: object = None
        self.injected: object = None


class _Dict:
    """A dict built by the pickle: its first items, its size, and every instance hook (``__setstate__``) ever set."""

    __slots__ = ("hooks", "pairs", "size")

    def __init__(self) -> None:
        self.pairs: list[Any] = []
        self.hooks: list[tuple[str, Any]] = []
        self.size = 0

    def add(self, items: list[Any]) -> None:
        if len(self.pairs) < 2 * MAX_DICT_ITEMS:
            self.pairs += items[: 2 * MAX_DICT_ITEMS - len(self.pairs)]
        self.size += len(items) // 2
        for i in range(0, len(items), 2):
            key = items[i]
            if key.__class__ is str and key[:2] == "__" and key in INSTANCE_HOOKS:
                self.hooks.append((key, items[i + 1]))

    @property
    def complete(self) -> bool:
        """Whether every item is kept (``get`` and ``has`` are exact)."""
        return self.size <= MAX_DICT_ITEMS

    def get(self, key: str) -> Any:
        pairs = self.pairs
        for i in range(0, len(pairs), 2):
            if pairs[i] == key:
                return pairs[i + 1]
        return None

    def has(self, key: str) -> bool:
        return key in self.pairs[0::2]


MARK: Final = _Mark()
LIST: Final = _Sentinel("list")
SET: Final = _Sentinel("set")
FROZENSET: Final = _Sentinel("frozenset")
FLOAT: Final = _Sentinel("float")
BUFFER: Final = _Sentinel("buffer")
PERSISTENT: Final = _Sentinel("persistent object")
ARRAY: Final = _Sentinel("joblib array")

_BUILTIN_SENTINELS: Final = (LIST, SET, FROZENSET, FLOAT)


class _Bytes:
    """bytes or a bytearray: where it lies in the buffer, or its content when an allowed call made it."""

    __slots__ = ("content", "length", "mutable", "offset")

    def __init__(self, offset: int, length: int, content: bytes | _Encoded | None = None, mutable: bool = False) -> None:
        self.offset = offset
        self.length = length
        self.content = content
        self.mutable = mutable


class _Encoded:
    """``_codecs.encode(text, encoding)``: encoded only if a nested loader takes it."""

    __slots__ = ("encoding", "text")

    def __init__(self, text: str | _Text, encoding: str) -> None:
        self.text = text
        self.encoding = encoding


class _Text:
    """A string longer than ``MAX_TEXT``: validated where it lies, never kept."""

    __slots__ = ("encoding", "length", "offset")

    def __init__(self, offset: int, length: int, encoding: str) -> None:
        self.offset = offset
        self.length = length
        self.encoding = encoding


def _is_builtin(value: object) -> bool:
    """Whether ``value`` is certainly of a builtin type: calling it, building it or filling it fails in the loader too."""
    return isinstance(value, (str, int, float, tuple, type(None), _Dict, _Bytes, _Text)) or any(
        value is s for s in _BUILTIN_SENTINELS
    )


def _maybe_tuple(value: object) -> bool:
    """Whether ``value`` may be a tuple when loaded (an argument list must be one)."""
    return value.__class__ is tuple or isinstance(value, (_Object, _Global)) or value is PERSISTENT


class _Malformed(Exception):
    """The loader would raise here."""


class _Underflow(_Malformed):
    def __init__(self) -> None:
        super().__init__("stack underflow (a pop past the last MARK or an empty stack)")


class _Ended(Exception):
    """The pickle ended (STOP) inside the rest of a frame that a joblib array interrupted; parsing goes on at ``pos``."""

    def __init__(self, pos: int) -> None:
        super().__init__(pos)
        self.pos = pos


class _Stop(Exception):
    """A bound of ``MAX_MEMO``/``MAX_STACK``/opcodes was reached."""


# Run outcomes.
_STOP: Final = 0
_MORE: Final = 1
_ERROR: Final = 2

_ARG_SIZES: Final = {
    0x4B: 1, 0x4D: 2, 0x4A: 4, 0x68: 1, 0x6A: 4, 0x71: 1, 0x72: 4, 0x80: 1, 0x82: 1, 0x83: 2, 0x84: 4,
    0x8A: 1, 0x8B: 4, 0x8C: 1, 0x58: 4, 0x42: 4, 0x43: 1, 0x54: 4, 0x55: 1, 0x47: 8, 0x8D: 8, 0x8E: 8,
    0x95: 8, 0x96: 8,
}  # fmt: skip
"""Fixed argument sizes (for telling a truncated argument from a stack underflow)."""


def _describe(value: object) -> str:
    """A name for what is on the stack, for messages."""
    if isinstance(value, _Global):
        return value.name
    if isinstance(value, _Extension):
        return f"extension {value.code}"
    if isinstance(value, _Object):
        if isinstance(value.cls, _Global):
            return f"an instance of {value.cls.name}"
        return f"the result of {_describe(value.source)}"
    if isinstance(value, _Sentinel):
        return f"a {value.kind}"
    if isinstance(value, _Dict):
        return "a dict"
    return f"a {type(value).__name__}"


_HOLE: Final = _Sentinel("memo hole")


class _Memo:
    """The loader's memo: a dense list for the keys picklers write (0, 1, 2, ...), a dict for far-off ones.

    Like the C loader's array, its length is the number of keys set, which MEMOIZE uses as its key.
    """

    __slots__ = ("dense", "far", "holes")

    _MAX_GAP = 1 << 16
    """A key this far past the end is kept in ``far`` rather than padding ``dense`` with holes."""

    def __init__(self) -> None:
        self.dense: list[Any] = []
        self.far: dict[int, Any] = {}
        self.holes = 0

    def __len__(self) -> int:
        return len(self.dense) - self.holes + len(self.far)

    def put(self, key: int, value: object) -> None:
        dense = self.dense
        size = len(dense)
        if key < size:
            if dense[key] is _HOLE:
                self.holes -= 1
                self.far.pop(key, None)
            dense[key] = value
        elif key - size <= self._MAX_GAP and key < MAX_MEMO:  # the dense list never outgrows the memo bound
            if key > size:
                dense.extend([_HOLE] * (key - size))
                self.holes += key - size
            dense.append(value)
            self.far.pop(key, None)
        else:
            self.far[key] = value

    def get(self, key: int) -> Any:
        if 0 <= key < len(self.dense):
            value = self.dense[key]
            if value is not _HOLE:
                return value
        value = self.far.get(key, _HOLE)
        if value is _HOLE:
            raise KeyError(key)
        return value


class _Parser:
    """One pass over a buffer: the simulated loader and what it recorded."""

    def __init__(self, data: ModelBuffer, max_opcodes: int) -> None:
        self.data = data
        self.size = len(data)
        self.budget = max_opcodes
        self.stack: list[Any] = []
        self.marks: list[int] = []
        self.memo = _Memo()
        self.frame_end = 0
        self.raw_at: int | None = None
        """Where joblib reads its next array while the opcodes come from the rest of a frame (``_joblib_array``)."""
        self.depth = 0
        self.opcodes = 0
        self.notable = 0
        """Records that become findings; a trailing segment with any is not raw data."""
        # First occurrences, and how many times each happened.
        self.imports: dict[str, Import] = {}
        self.invocations: dict[tuple[str, Action, str | None, str | None], Invocation] = {}
        self.state_changes: dict[tuple[str, str], StateChange] = {}
        self.counts: Counter[object] = Counter()
        self.globals_cache: dict[tuple[str, str], tuple[str, Verdict, str | None]] = {}
        self.embedded: list[Embedded] = []
        self.judged_through: set[str] = set()
        self.allowed_storage: set[_Global] = set()
        """Allowed storage classes seen in torch persistent ids ``('storage', cls, key, location, numel)``."""
        self.loaded: dict[int, _Bytes] = {}
        """Constant bytes already handed to a nested loader, by identity (kept alive so ids stay unique)."""
        self.materialize_left = max(2 * self.size, 1 << 24)

    # --- driver ----------------------------------------------------------------------------------

    def analyze(self) -> PickleAnalysis:
        result = PickleAnalysis()
        pos = 0
        try:
            while pos < self.size:
                notable_before = self.notable
                status, end, message = self._pickle(pos)
                if status == _STOP:
                    result.pickles += 1
                    pos = end
                    continue
                if result.pickles == 0 or self.notable > notable_before:
                    result.error, result.error_offset = message, end
                    pos = end
                break
        except _Stop as stop:
            result.limit = str(stop)
        result.end = pos
        result.opcodes = self.opcodes
        counts = self.counts
        result.imports = [item._replace(times=counts[key]) for key, item in self.imports.items()]
        result.invocations = [item._replace(times=counts[key]) for key, item in self.invocations.items()]
        result.state_changes = [item._replace(times=counts[key]) for key, item in self.state_changes.items()]
        result.embedded = self.embedded
        result.judged_through = self.judged_through
        return result

    def _pickle(self, pos: int) -> tuple[int, int, str]:
        """Parse one pickle from ``pos``: (status, position after STOP or of the error, error message)."""
        self.stack.clear()
        self.marks.clear()
        while True:
            limit = self.budget - self.opcodes
            if limit <= 0:
                raise _Stop(f"more than {self.budget - 1} pickle opcodes")
            status, pos, count, message = self._run(self.data, pos, min(_CHUNK, limit))
            self.opcodes += count
            if len(self.memo) > MAX_MEMO:
                raise _Stop(f"pickle memo larger than {MAX_MEMO} entries")
            if len(self.stack) > MAX_STACK:
                raise _Stop(f"pickle stack deeper than {MAX_STACK} items")
            if status != _MORE:
                return status, pos, message

    def _nested_pickle(self, pos: int) -> int:
        """A complete pickle embedded in the stream (joblib object arrays), with its own stack and memo."""
        if self.depth >= MAX_NESTING:
            raise _Malformed(f"pickles nested more than {MAX_NESTING} deep")
        saved = self.stack, self.marks, self.memo, self.frame_end, self.raw_at
        self.stack, self.marks, self.memo, self.frame_end, self.raw_at = [], [], _Memo(), 0, None
        self.depth += 1
        try:
            status, end, message = self._pickle(pos)
        finally:
            self.depth -= 1
            self.stack, self.marks, self.memo, self.frame_end, self.raw_at = saved
        if status != _STOP:
            raise _Malformed(f"nested pickle at offset {pos}: {message} (at offset {end})")
        return end

    # --- the hot loop ----------------------------------------------------------------------------

    def _run(self, data: ModelBuffer, pos: int, max_ops: int) -> tuple[int, int, int, str]:
        """Up to ``max_ops`` opcodes from ``pos``: (status, position, opcodes done, error message).

        The opcodes of torch, numpy and scikit-learn pickles are handled inline, most frequent
        first (the order matters: this loop is the scanner's speed); every other one goes through
        the handler table. Errors leave ``pos`` at the opcode that failed.
        """
        stack = self.stack
        push = stack.append
        pop = stack.pop
        marks = self.marks
        memo = self.memo
        dense = memo.dense
        dense_push = dense.append
        put = memo.put
        get = memo.get
        slow = self._slow_handlers()
        call = self._call
        size = self.size
        mark = MARK
        hole = _HOLE
        persistent = PERSISTENT
        allowed_storage = self.allowed_storage
        global_ = _Global
        u32 = _u32
        n = 0
        try:
            for n in range(max_ops):
                op = data[pos]
                if op == 0x72:  # LONG_BINPUT
                    value = stack[-1]
                    if value is mark:
                        raise _Underflow
                    key = u32(data, pos + 1)[0]
                    if key == len(dense):
                        dense_push(value)
                    else:
                        put(key, value)
                    pos += 5
                elif op == 0x68:  # BINGET
                    value = dense[data[pos + 1]]  # BINGET keys are below 256: never in memo.far
                    if value is hole:
                        raise KeyError(data[pos + 1])
                    push(value)
                    pos += 2
                elif op == 0x4B:  # BININT1
                    push(data[pos + 1])
                    pos += 2
                elif op == 0x28:  # MARK
                    marks.append(len(stack))
                    push(mark)
                    pos += 1
                elif op == 0x58:  # BINUNICODE
                    length = u32(data, pos + 1)[0]
                    end = pos + 5 + length
                    if end > size:
                        raise struct.error
                    push(
                        data[pos + 5 : end].decode("utf-8", "surrogatepass")
                        if length <= MAX_TEXT
                        else self._long_text(pos + 5, length, "utf-8")
                    )
                    pos = end
                elif op == 0x74:  # TUPLE
                    k = marks.pop()
                    stack[k:] = [tuple(stack[k + 1 :])]
                    pos += 1
                elif op == 0x85:  # TUPLE1
                    value = stack[-1]
                    if value is mark:
                        raise _Underflow
                    stack[-1] = (value,)
                    pos += 1
                elif op == 0x52:  # REDUCE
                    args = pop()
                    func = stack[-1]
                    if args is mark or func is mark:
                        raise _Underflow
                    shared = func.shared if func.__class__ is global_ else None
                    stack[-1] = shared if shared is not None and args.__class__ is tuple else call("REDUCE", func, args, pos)
                    pos += 1
                elif op == 0x51:  # BINPERSID: torch storages; what persistent_load returns is opaque
                    pid = stack[-1]
                    if pid is mark:
                        raise _Underflow
                    if pid.__class__ is tuple and not (len(pid) == 5 and pid[0] == "storage" and pid[1] in allowed_storage):
                        stack[-1] = self._persistent(pid, pos)
                    else:
                        stack[-1] = persistent
                    pos += 1
                elif op == 0x89:  # NEWFALSE
                    push(False)
                    pos += 1
                elif op == 0x29:  # EMPTY_TUPLE
                    push(())
                    pos += 1
                elif op == 0x71:  # BINPUT
                    value = stack[-1]
                    if value is mark:
                        raise _Underflow
                    key = data[pos + 1]
                    if key == len(dense):
                        dense_push(value)
                    else:
                        put(key, value)
                    pos += 2
                elif op == 0x94:  # MEMOIZE: the key is the number of keys set
                    value = stack[-1]
                    if value is mark:
                        raise _Underflow
                    if memo.holes or memo.far:
                        put(len(memo), value)
                    else:
                        dense_push(value)
                    pos += 1
                elif op == 0x8C:  # SHORT_BINUNICODE
                    end = pos + 2 + data[pos + 1]
                    if end > size:
                        raise struct.error
                    push(data[pos + 2 : end].decode("utf-8", "surrogatepass"))
                    pos = end
                elif op == 0x86:  # TUPLE2
                    second = pop()
                    first = stack[-1]
                    if first is mark or second is mark:
                        raise _Underflow
                    stack[-1] = (first, second)
                    pos += 1
                elif op == 0x87:  # TUPLE3
                    third = pop()
                    second = pop()
                    first = stack[-1]
                    if first is mark or second is mark or third is mark:
                        raise _Underflow
                    stack[-1] = (first, second, third)
                    pos += 1
                elif op == 0x88:  # NEWTRUE
                    push(True)
                    pos += 1
                elif op == 0x4E:  # NONE
                    push(None)
                    pos += 1
                elif op == 0x75:  # SETITEMS
                    k = marks.pop()
                    target = stack[k - 1] if k else mark
                    if target is mark:
                        raise _Underflow
                    if len(stack) > k + 1:
                        self._fill("SETITEMS", target, stack[k + 1 :], pos)
                    del stack[k:]
                    pos += 1
                elif op == 0x7D:  # EMPTY_DICT
                    push(_Dict())
                    pos += 1
                elif op == 0x5D:  # EMPTY_LIST
                    push(LIST)
                    pos += 1
                elif op == 0x65:  # APPENDS
                    k = marks.pop()
                    target = stack[k - 1] if k else mark
                    if target is mark:
                        raise _Underflow
                    if target is not LIST and len(stack) > k + 1:
                        self._fill("APPENDS", target, stack[k + 1 :], pos)
                    del stack[k:]
                    pos += 1
                elif op == 0x4A:  # BININT
                    push(_i32(data, pos + 1)[0])
                    pos += 5
                elif op == 0x4D:  # BININT2
                    push(_u16(data, pos + 1)[0])
                    pos += 3
                elif op == 0x47:  # BINFLOAT
                    if pos + 9 > size:
                        raise struct.error
                    push(FLOAT)
                    pos += 9
                elif op == 0x6A:  # LONG_BINGET
                    push(get(u32(data, pos + 1)[0]))
                    pos += 5
                elif op == 0x2E:  # STOP
                    if pop() is mark:
                        raise _Underflow
                    return _STOP, pos + 1, n + 1, ""
                else:
                    handler = slow.get(op)
                    if handler is None:
                        raise _Malformed(f"invalid opcode {op:#04x}")
                    pos = handler(data, pos)
        except (IndexError, KeyError, struct.error, ValueError, _Malformed) as exc:
            return _ERROR, pos, n, self._explain(exc, pos)
        except _Ended as ended:
            return _STOP, ended.pos, n + 1, ""
        return _MORE, pos, max_ops, ""

    def _explain(self, exc: Exception, pos: int) -> str:
        """The loader's reason for stopping at ``pos``."""
        if isinstance(exc, _Malformed):
            return str(exc)
        if isinstance(exc, UnicodeDecodeError):
            return f"invalid UTF-8 in a string ({exc.reason})"
        if pos >= self.size:
            return "the pickle ends without STOP (truncated)"
        op = self.data[pos]
        if isinstance(exc, struct.error) or pos + _ARG_SIZES.get(op, 0) >= self.size:
            return f"argument of opcode {op:#04x} is truncated"
        if isinstance(exc, KeyError) or op in (0x68, 0x6A):
            return "memo key missing (a GET of a key never PUT)"
        if isinstance(exc, IndexError):
            return "stack underflow or no MARK to pop"
        return str(exc)

    def _long_text(self, start: int, length: int, encoding: str) -> _Text:
        """Validate a huge string chunk by chunk, as the loader would decode it, without keeping it."""
        decoder = codecs.getincrementaldecoder(encoding)("surrogatepass" if encoding == "utf-8" else "strict")
        for offset in range(start, start + length, MAX_TEXT):
            decoder.decode(self.data[offset : min(offset + MAX_TEXT, start + length)])
        decoder.decode(b"", final=True)
        return _Text(start, length, encoding)

    def _persistent(self, pid: tuple[Any, ...], pos: int) -> object:
        """What torch's ``persistent_load`` makes of an id: it reads attributes of the classes in it (the storage
        type), so an unknown one is judged; legacy ids ``('module', cls, file, source)`` load to the class itself."""
        for value in pid:
            if isinstance(value, _Global) and value.verdict is Verdict.UNKNOWN:
                self._judge(pos, "BINPERSID", value, Action.INSTANTIATE, "persistent_load")
        if len(pid) == 5 and pid[0] == "storage" and isinstance(pid[1], _Global) and pid[1].verdict is Verdict.ALLOWED:
            self.allowed_storage.add(pid[1])  # the next ids naming it take the fast path in ``_run``
        if len(pid) > 1 and pid[0] == "module" and isinstance(pid[1], _Global):
            return pid[1]
        return PERSISTENT

    # --- recording -------------------------------------------------------------------------------

    def _record_invocation(
        self, offset: int, opcode: str, target: str, verdict: Verdict, action: Action, via: str | None, route: str | None
    ) -> None:
        if verdict is Verdict.ALLOWED:
            return
        key = (target, action, via, route)
        if key not in self.invocations:
            self.invocations[key] = Invocation(offset, opcode, target, verdict, action, via, route)
            self.notable += 1
        self.counts[key] += 1

    def _record_state(self, offset: int, opcode: str, target: str, detail: str) -> None:
        key = (target, detail)
        if key not in self.state_changes:
            self.state_changes[key] = StateChange(offset, opcode, target, detail)
            self.notable += 1
        self.counts[key] += 1

    def _judge(
        self, offset: int, opcode: str, value: object, action: Action, via: str | None = None, route: str | None = None
    ) -> None:
        """Record what invoking ``value`` means: by its verdict if it is a global, unknown otherwise."""
        if isinstance(value, _Global):
            if value.verdict is Verdict.UNKNOWN and action is Action.CALL and _constructs_class(value.name):
                action = Action.INSTANTIATE
            if value.raw is not None and route is None:
                route = f"written as {value.raw}"
            self._record_invocation(offset, opcode, value.name, value.verdict, action, via, route)
        elif isinstance(value, _Object) and isinstance(value.source, _Global) and value.source.name == _PARTIAL and value.args:
            # Calling functools.partial(f, ...) calls f.
            self._judge(offset, opcode, value.args[0], Action.CALL, via, f"through {_PARTIAL}")
        elif isinstance(value, _Object) and isinstance(value.source, _Global) and value.source.verdict is Verdict.ALLOWED:
            # What an allowed callable returned: invoking it runs that allowed library's code.
            return
        else:
            self._record_invocation(offset, opcode, _describe(value), Verdict.UNKNOWN, Action.CALL, via, route)

    # --- calls -----------------------------------------------------------------------------------

    def _call(self, opcode: str, func: object, args: object, pos: int) -> object:
        """REDUCE, INST and OBJ: ``func(*args)``."""
        if args.__class__ is tuple:
            arguments: tuple[Any, ...] = args
        elif _maybe_tuple(args):
            arguments = ()
        else:
            raise _Malformed(f"{opcode} argument is {_describe(args)}, not a tuple")
        if func.__class__ is _Global:
            if func.verdict is Verdict.ALLOWED:
                if func.name == _CODECS_ENCODE:
                    return self._encode(func, arguments)
                cls = func
                for index, role in func.roles:
                    if index < len(arguments):
                        self._judge_argument(pos, opcode, arguments[index], role, func.name)
                        if index == 0 and role is Role.INSTANTIATES:
                            cls = arguments[0]
                return _Object(func, arguments, cls)
            return self._call_global(opcode, func, arguments, pos)
        if _is_builtin(func) or func is ARRAY:
            raise _Malformed(f"{opcode} calls {_describe(func)}, which is not callable")
        self._judge(pos, opcode, func, Action.CALL)
        return _Object(func, arguments, None)

    def _call_global(self, opcode: str, func: _Global, arguments: tuple[Any, ...], pos: int) -> object:
        """A call of a global that is not allowed."""
        if func.name in _NESTED_LOADERS and arguments and isinstance(arguments[0], _Bytes):
            payload = arguments[0]
            if id(payload) not in self.loaded:
                content = self._content(payload)
                if content is not None:
                    self.loaded[id(payload)] = payload
                    self.embedded.append(Embedded(pos, func.name, content))
            if id(payload) in self.loaded and func.name == TORCH_FROM_BYTES:
                self.judged_through.add(func.name)
                return _Object(func, (), None)  # torch's own format, judged by scanning it
        if func.name == _GETATTR:
            attribute = self._getattr(arguments, pos)
            if attribute is not None:
                self.judged_through.add(func.name)
                return attribute
        self._judge(pos, opcode, func, Action.CALL)
        if func.name in _RESOLVERS:
            resolved = self._resolve(arguments, pos)
            if resolved is not None:
                return resolved
        return _Object(func, arguments, func if looks_like_class(func.name) else None)

    def _getattr(self, args: tuple[Any, ...], pos: int) -> _Global | None:
        """``getattr(X, 'name')`` on a global or an instance of an allowed class, as pickle writes bound methods
        (``ZoneInfo._unpickle``): the attribute, judged like a dotted global. ``None`` when it cannot be resolved
        so (a computed name, an unknown object, a dunder): getattr then counts as the gadget it is."""
        if len(args) < 2 or args[1].__class__ is not str or args[1].startswith("__"):
            return None
        owner = args[0]
        if isinstance(owner, _Object) and isinstance(owner.cls, _Global) and owner.cls.verdict is Verdict.ALLOWED:
            owner = owner.cls
        if not isinstance(owner, _Global):
            return None
        name = f"{owner.name}.{args[1]}"
        verdict = classify(name, True)
        self._record_import(pos, name, verdict, f"REDUCE of {_GETATTR}", None)
        return _Global(name, verdict)

    def _encode(self, func: _Global, args: tuple[Any, ...]) -> object:
        """``_codecs.encode(text, 'latin1')``, which protocols 0-2 write for bytes: bytes known from a constant.

        They are encoded only if a nested loader takes them (``_content``), under the byte budget.
        """
        encoding = args[1] if len(args) > 1 else "utf-8"
        text = args[0] if args else None
        if encoding.__class__ is not str or encoding.lower() not in _TEXT_ENCODINGS or not isinstance(text, (str, _Text)):
            return _Object(func, (), func)
        return _Bytes(-1, len(text) if isinstance(text, str) else text.length, _Encoded(text, encoding))

    def _content(self, value: _Bytes) -> bytes | None:
        """The bytes ``value`` holds, within a budget proportional to the input (``None`` past it).

        Each value is handed to a loader once (``self.loaded``): a pickle cannot make the scanner
        copy one constant a million times.
        """
        if value.length > self.materialize_left:
            return None
        self.materialize_left -= value.length
        content = value.content
        if content is None:
            return bytes(self.data[value.offset : value.offset + value.length])
        if isinstance(content, bytes):
            return content
        text = content.text
        if isinstance(text, _Text):
            text = bytes(self.data[text.offset : text.offset + text.length]).decode(text.encoding, "surrogatepass")
        try:
            return text.encode(content.encoding)
        except UnicodeEncodeError:  # the loader fails here too: nothing gets loaded
            return None

    def _judge_argument(self, pos: int, opcode: str, value: object, role: Role, via: str) -> None:
        if role is Role.WRAPS:  # a deferred call, judged like a reference: only a dangerous target counts
            if isinstance(value, _Global) and value.verdict is Verdict.DANGEROUS:
                self._record_invocation(pos, opcode, value.name, value.verdict, Action.CALL, via, "when the object is used")
        elif isinstance(value, (_Global, _Object, _Extension)) or value is PERSISTENT:
            self._judge(pos, opcode, value, Action.INSTANTIATE if role is Role.INSTANTIATES else Action.CALL, via)

    def _resolve(self, args: tuple[Any, ...], pos: int) -> _Global | None:
        """What __import__, import_module, resolve_name and locate return, when their argument is a constant."""
        if not args or args[0].__class__ is not str:
            return None
        name = args[0].replace(":", ".")
        return _Global(name, classify(name, "." in name))

    def _instantiate(self, opcode: str, cls: object, pos: int) -> _Object:
        """NEWOBJ and NEWOBJ_EX: ``cls.__new__(cls, ...)``."""
        if _is_builtin(cls) or cls is ARRAY or cls is BUFFER:
            raise _Malformed(f"{opcode} class argument is {_describe(cls)}, not a class")
        self._judge(pos, opcode, cls, Action.INSTANTIATE)
        return _Object(cls, (), cls)

    # --- containers and BUILD --------------------------------------------------------------------

    def _fill(self, opcode: str, target: object, items: list[Any], pos: int) -> None:
        """SETITEM(S), APPEND(S), ADDITEMS into ``target``: builtins take them; other objects run a method."""
        if isinstance(target, _Dict) and opcode in ("SETITEMS", "SETITEM"):
            if len(items) % 2:
                raise _Malformed(f"odd number of items for {opcode}")
            target.add(items)
        elif isinstance(target, _Global):
            self._record_state(pos, opcode, target.name, f"{opcode} modifies the global {target.name}")
        elif (target is LIST and opcode in ("APPEND", "APPENDS")) or (target is SET and opcode == "ADDITEMS"):
            return
        elif _is_builtin(target) and not (isinstance(target, _Bytes) and target.mutable and opcode in ("APPEND", "APPENDS")):
            raise _Malformed(f"{opcode} into {_describe(target)}")

    def _build(self, data: ModelBuffer, pos: int) -> int:
        stack = self.stack
        state = stack.pop()
        inst = stack[-1]
        if state is MARK or inst is MARK:
            raise _Underflow
        if isinstance(inst, _Global):
            self._record_state(pos, "BUILD", inst.name, f"BUILD modifies {inst.name} itself, not an instance of it")
            return pos + 1
        if isinstance(inst, _Object):
            return self._build_object(data, inst, state, pos)
        if state is not None and _is_builtin(inst):
            raise _Malformed(f"BUILD on {_describe(inst)}")
        return pos + 1

    def _build_object(self, data: ModelBuffer, inst: _Object, state: object, pos: int) -> int:
        if inst.injected is not None:
            # An earlier BUILD put __setstate__ in the instance dict: this BUILD calls it with ``state``.
            self._judge(pos, "BUILD", inst.injected, Action.CALL, route="as an injected __setstate__")
        parts = _state_dicts(state)
        for part in parts:
            for name, value in part.hooks:
                self._record_state(pos, "BUILD", name, f"BUILD sets {name} on {_describe(inst)} to {_describe(value)}")
                if name == "__setstate__":
                    inst.injected = value
        inst.state = state
        cls = inst.cls if isinstance(inst.cls, _Global) else None
        cls_name = cls.name if cls is not None else ""
        if inst.source is cls and cls_name == _PARTIAL and state.__class__ is tuple and state:
            # partial.__setstate__((func, args, kwargs, dict)) replaces the function it wraps.
            wrapped = state[0]
            inst.args = (wrapped,)
            self._judge_argument(pos, "BUILD", wrapped, Role.WRAPS, _PARTIAL)
        code = state_code(cls_name) if cls is not None and cls.verdict is Verdict.ALLOWED else None
        if code is not None and state is not None:
            self._check_state_code(inst, parts, code[0], code[1].fullmatch, pos)
        if cls_name in _JOBLIB_WRAPPERS and isinstance(state, _Dict):
            return self._joblib_array(data, state, pos + 1)
        return pos + 1

    def _check_state_code(
        self, inst: _Object, parts: list[_Dict], key: str, is_expected: Callable[[str], object], pos: int
    ) -> None:
        """An allowed class whose ``__setstate__`` executes ``key`` from the state: the code must be the library's own.

        A state that is no plain dict (a mapping some call returned) cannot be checked, so it fails the check.
        """
        verified = bool(parts)
        for part in parts:
            value = part.get(key) if part.complete else None
            if not ((part.complete and not part.has(key)) or (value.__class__ is str and is_expected(value))):
                verified = False
        if not verified:
            target = f"the {key} code in the state of {_describe(inst)}"
            self._record_invocation(pos, "BUILD", target, Verdict.DANGEROUS, Action.CALL, None, "which its __setstate__ executes")

    def _joblib_array(self, data: ModelBuffer, state: _Dict, pos: int) -> int:
        """Skip the array joblib wrote after its wrapper's BUILD, where joblib's unpickler reads it; returns where
        the opcodes go on.

        joblib unpickles with Python's unpickler, which holds the current frame in memory: joblib reads the
        array from the file after the frame, and the rest of the frame still holds opcodes that run first.
        joblib itself ends the frame at the BUILD; a file that does not is read the same way.
        """
        self.stack[-1] = ARRAY
        if self.raw_at is not None:  # a wrapper in the rest of a frame: its array follows the previous one
            self.raw_at = self._array_end(data, state, self.raw_at)
            return pos
        if pos >= self.frame_end:
            return self._array_end(data, state, pos)
        frame_end = self.frame_end
        self.raw_at = self._array_end(data, state, frame_end)
        try:
            while pos < frame_end:
                status, pos, count, message = self._run(data, pos, 1)
                self.opcodes += count
                if status == _ERROR:
                    raise _Malformed(message)
                if pos > frame_end or self.frame_end != frame_end:
                    raise _Malformed("an opcode runs past the end of its frame (Python's unpickler stops there)")
                if status == _STOP:
                    raise _Ended(self.raw_at)
            return self.raw_at
        finally:
            self.raw_at = None

    def _array_end(self, data: ModelBuffer, state: _Dict, pos: int) -> int:
        """Where the array that joblib reads at ``pos`` ends: raw bytes (after alignment padding), or a nested pickle."""
        itemsize, has_objects = _dtype_layout(state.get("dtype"))
        if has_objects:
            return self._nested_pickle(pos)
        shape = state.get("shape")
        if itemsize is None or shape.__class__ is not tuple or not all(d.__class__ is int and d >= 0 for d in shape):
            raise _Malformed("joblib array with a shape or dtype the parser cannot size")
        if state.has("numpy_array_alignment_bytes"):
            pos += 1 + data[pos]
        count = 1
        for dim in shape:
            count *= dim
        end = pos + count * itemsize
        if end > self.size:
            raise _Malformed("joblib array data is truncated")
        return end

    # --- opcodes outside the hot loop --------------------------------------------------------------

    def _slow_handlers(self) -> dict[int, Callable[[ModelBuffer, int], int]]:
        return {
            ord("c"): self._op_global,
            0x93: self._op_stack_global,
            ord("i"): self._op_inst,
            ord("o"): self._op_obj,
            0x81: self._op_newobj,
            0x92: self._op_newobj_ex,
            ord("b"): self._build,
            0x80: self._op_proto,
            0x95: self._op_frame,
            ord("s"): self._op_setitem,
            ord("a"): self._op_append,
            0x90: self._op_additems,
            ord("d"): self._op_dict,
            ord("l"): self._op_list,
            0x91: self._op_frozenset,
            0x8F: lambda data, pos: self._push(SET, pos + 1),
            ord("0"): self._op_pop,
            ord("1"): self._op_pop_mark,
            ord("2"): self._op_dup,
            ord("g"): self._op_get,
            ord("p"): self._op_put,
            ord("I"): self._op_int,
            ord("L"): self._op_long,
            ord("F"): self._op_float,
            ord("S"): self._op_string,
            ord("V"): self._op_unicode,
            ord("P"): self._op_persid,
            0x8A: lambda data, pos: self._skip_push(0, pos + 2 + data[pos + 1]),
            0x8B: self._op_long4,
            ord("T"): self._op_binstring,
            ord("U"): lambda data, pos: self._counted_text(pos, 2, data[pos + 1], "latin-1"),
            ord("B"): lambda data, pos: self._bytes(pos + 5, _u32(data, pos + 1)[0]),
            ord("C"): lambda data, pos: self._bytes(pos + 2, data[pos + 1]),
            0x8E: lambda data, pos: self._bytes(pos + 9, _u64(data, pos + 1)[0]),
            0x96: lambda data, pos: self._bytes(pos + 9, _u64(data, pos + 1)[0], mutable=True),
            0x8D: lambda data, pos: self._counted_text(pos, 9, _u64(data, pos + 1)[0], "utf-8"),
            0x82: lambda data, pos: self._op_ext(data[pos + 1], pos + 2),
            0x83: lambda data, pos: self._op_ext(_u16(data, pos + 1)[0], pos + 3),
            0x84: lambda data, pos: self._op_ext(_u32(data, pos + 1)[0], pos + 5),
            0x97: lambda data, pos: self._push(BUFFER, pos + 1),
            0x98: self._op_readonly_buffer,
        }

    def _bytes(self, start: int, length: int, mutable: bool = False) -> int:
        """BINBYTES and friends: the bytes stay in the buffer; only where they are is pushed."""
        return self._skip_push(_Bytes(start, length, mutable=mutable), start + length)

    def _push(self, value: object, end: int) -> int:
        self.stack.append(value)
        return end

    def _skip_push(self, value: object, end: int) -> int:
        """Push ``value`` for an argument that ends at ``end``, which must be inside the buffer."""
        if end > self.size:
            raise struct.error
        self.stack.append(value)
        return end

    def _top(self) -> Any:
        value = self.stack[-1]
        if value is MARK:
            raise _Underflow
        return value

    def _pop(self) -> Any:
        value = self.stack.pop()
        if value is MARK:
            raise _Underflow
        return value

    def _pop_mark(self) -> list[Any]:
        """The items above the last MARK, removed with it."""
        if not self.marks:
            raise _Malformed("no MARK to pop")
        k = self.marks.pop()
        items = self.stack[k + 1 :]
        del self.stack[k:]
        return items

    def _line(self, data: ModelBuffer, pos: int) -> tuple[bytes, int]:
        """The newline-terminated argument at ``pos`` (without the newline) and the position after it."""
        end = self._line_end(data, pos)
        if end - pos > MAX_TEXT:
            raise _Malformed(f"a line argument of {end - pos} bytes (names and numbers are never this long)")
        return bytes(data[pos:end]), end + 1

    def _line_end(self, data: ModelBuffer, pos: int) -> int:
        end = data.find(b"\n", pos)
        if end < 0:
            raise _Malformed("a line argument runs past the end of the data (truncated)")
        return end

    def _text_line(self, data: ModelBuffer, pos: int, decode: Callable[[bytes], str]) -> int:
        """STRING and UNICODE: the decoded line, or a placeholder for one longer than ``MAX_TEXT``."""
        end = self._line_end(data, pos)
        if end - pos > MAX_TEXT:
            self.stack.append(_Text(pos, end - pos, "latin-1"))
        else:
            self.stack.append(decode(bytes(data[pos:end])))
        return end + 1

    def _op_global(self, data: ModelBuffer, pos: int) -> int:
        module, after = self._line(data, pos + 1)
        name, after = self._line(data, after)
        if not module or not name:
            raise _Malformed("GLOBAL with an empty module or name")
        self.stack.append(self._global(module.decode("utf-8"), name.decode("utf-8"), pos, "GLOBAL"))
        return after

    def _op_stack_global(self, data: ModelBuffer, pos: int) -> int:
        name = self._pop()
        module = self._pop()
        if module.__class__ is not str or name.__class__ is not str:
            if not isinstance(module, (str, _Text)) or not isinstance(name, (str, _Text)):
                raise _Malformed("STACK_GLOBAL requires str")
            module, name = "<long string>", "<long string>"
        self.stack.append(self._global(module, name, pos, "STACK_GLOBAL"))
        return pos + 1

    def _global(self, module: str, name: str, pos: int, opcode: str) -> _Global:
        """What the loader's ``find_class`` returns: Python 2 names are mapped (the C loader maps them below protocol 3,
        and nothing under the old names exists on Python 3), dotted names are attribute paths (protocol 4 resolves them)."""
        key = (module, name)
        cached = self.globals_cache.get(key)
        if cached is None:
            raw = f"{module}.{name}"
            mapped_module, mapped_name = _compat_pickle.NAME_MAPPING.get(
                key, (_compat_pickle.IMPORT_MAPPING.get(module, module), name)
            )
            qualified = f"{mapped_module}.{mapped_name}"
            attribute_path = "." in mapped_name
            cached = (qualified, classify(qualified, attribute_path), raw if qualified != raw else None)
            self.globals_cache[key] = cached
        qualified, verdict, raw_name = cached
        self._record_import(pos, qualified, verdict, opcode, raw_name)
        return _Global(qualified, verdict, raw_name)

    def _record_import(self, pos: int, name: str, verdict: Verdict, opcode: str, raw: str | None) -> None:
        if name not in self.imports:
            self.imports[name] = Import(pos, name, verdict, opcode, raw)
            if verdict is Verdict.DANGEROUS:
                self.notable += 1
        self.counts[name] += 1

    def _op_inst(self, data: ModelBuffer, pos: int) -> int:
        if not self.marks:
            raise _Malformed("no MARK to pop")
        module, after = self._line(data, pos + 1)
        name, after = self._line(data, after)
        if not module or not name:
            raise _Malformed("INST with an empty module or name")
        cls = self._global(module.decode("ascii"), name.decode("ascii"), pos, "INST")
        args = tuple(self._pop_mark())
        self.stack.append(self._call("INST", cls, args, pos))
        return after

    def _op_obj(self, data: ModelBuffer, pos: int) -> int:
        items = self._pop_mark()
        if not items:
            raise _Underflow
        self.stack.append(self._call("OBJ", items[0], tuple(items[1:]), pos))
        return pos + 1

    def _op_newobj(self, data: ModelBuffer, pos: int) -> int:
        args = self._pop()
        cls = self._top()
        if not _maybe_tuple(args):
            raise _Malformed("NEWOBJ expected an argument tuple")
        self.stack[-1] = self._instantiate("NEWOBJ", cls, pos)
        return pos + 1

    def _op_newobj_ex(self, data: ModelBuffer, pos: int) -> int:
        kwargs = self._pop()
        args = self._pop()
        cls = self._top()
        if not _maybe_tuple(args):
            raise _Malformed("NEWOBJ_EX expected an argument tuple")
        if not isinstance(kwargs, (_Dict, _Object, _Global)) and kwargs is not PERSISTENT:
            raise _Malformed("NEWOBJ_EX expected a keyword dict")
        self.stack[-1] = self._instantiate("NEWOBJ_EX", cls, pos)
        return pos + 1

    def _op_proto(self, data: ModelBuffer, pos: int) -> int:
        # The version only matters for Python 2 names and dotted names, which are resolved either way (the
        # more conservative reading); a version this loader does not know stops it.
        if data[pos + 1] > 5:
            raise _Malformed(f"unsupported pickle protocol {data[pos + 1]}")
        return pos + 2

    def _op_frame(self, data: ModelBuffer, pos: int) -> int:
        # The C loader only checks that the frame's bytes exist, then reads on from its start.
        length = _u64(data, pos + 1)[0]
        if pos + 9 + length > self.size:
            raise _Malformed("FRAME runs past the end of the data (truncated)")
        self.frame_end = pos + 9 + length
        return pos + 9

    def _op_setitem(self, data: ModelBuffer, pos: int) -> int:
        value = self._pop()
        key = self._pop()
        self._fill("SETITEM", self._top(), [key, value], pos)
        return pos + 1

    def _op_append(self, data: ModelBuffer, pos: int) -> int:
        value = self._pop()
        target = self._top()
        if target is not LIST:
            self._fill("APPEND", target, [value], pos)
        return pos + 1

    def _op_additems(self, data: ModelBuffer, pos: int) -> int:
        if not self.marks:
            raise _Malformed("no MARK to pop")
        k = self.marks[-1]
        target = self.stack[k - 1] if k else MARK
        if target is MARK:
            raise _Underflow
        items = self._pop_mark()
        if items:
            self._fill("ADDITEMS", target, items, pos)
        return pos + 1

    def _op_dict(self, data: ModelBuffer, pos: int) -> int:
        items = self._pop_mark()
        if len(items) % 2:
            raise _Malformed("odd number of items for DICT")
        result = _Dict()
        result.add(items)
        self.stack.append(result)
        return pos + 1

    def _op_list(self, data: ModelBuffer, pos: int) -> int:
        self._pop_mark()
        self.stack.append(LIST)
        return pos + 1

    def _op_frozenset(self, data: ModelBuffer, pos: int) -> int:
        self._pop_mark()
        self.stack.append(FROZENSET)
        return pos + 1

    def _op_pop(self, data: ModelBuffer, pos: int) -> int:
        # The C loader's POP discards a MARK when nothing was pushed after it.
        if self.marks and self.marks[-1] == len(self.stack) - 1:
            self.marks.pop()
            self.stack.pop()
        else:
            self._pop()
        return pos + 1

    def _op_pop_mark(self, data: ModelBuffer, pos: int) -> int:
        self._pop_mark()
        return pos + 1

    def _op_dup(self, data: ModelBuffer, pos: int) -> int:
        self.stack.append(self._top())
        return pos + 1

    def _op_get(self, data: ModelBuffer, pos: int) -> int:
        line, after = self._line(data, pos + 1)
        self.stack.append(self.memo.get(int(line)))
        return after

    def _op_put(self, data: ModelBuffer, pos: int) -> int:
        line, after = self._line(data, pos + 1)
        key = int(line)
        if key < 0:
            raise _Malformed("negative PUT argument")
        self.memo.put(key, self._top())
        return after

    def _op_int(self, data: ModelBuffer, pos: int) -> int:
        line, after = self._line(data, pos + 1)
        self.stack.append(_parse_int(line))
        return after

    def _op_long(self, data: ModelBuffer, pos: int) -> int:
        line, after = self._line(data, pos + 1)
        self.stack.append(_parse_int(line[:-1] if line.endswith(b"L") else line))
        return after

    def _op_float(self, data: ModelBuffer, pos: int) -> int:
        line, after = self._line(data, pos + 1)
        float(line)
        self.stack.append(FLOAT)
        return after

    def _op_string(self, data: ModelBuffer, pos: int) -> int:
        return self._text_line(data, pos + 1, _decode_string)

    def _op_unicode(self, data: ModelBuffer, pos: int) -> int:
        return self._text_line(data, pos + 1, lambda line: str(line, "raw-unicode-escape"))

    def _op_persid(self, data: ModelBuffer, pos: int) -> int:
        end = self._line_end(data, pos + 1)
        if not bytes(data[pos + 1 : end]).isascii():
            raise _Malformed("PERSID argument is not ASCII")
        self.stack.append(PERSISTENT)
        return end + 1

    def _op_long4(self, data: ModelBuffer, pos: int) -> int:
        length = _i32(data, pos + 1)[0]
        if length < 0:
            raise _Malformed("LONG pickle has negative byte count")
        return self._skip_push(0, pos + 5 + length)

    def _op_binstring(self, data: ModelBuffer, pos: int) -> int:
        length = _i32(data, pos + 1)[0]
        if length < 0:
            raise _Malformed("BINSTRING pickle has negative byte count")
        return self._counted_text(pos, 5, length, "latin-1")

    def _counted_text(self, pos: int, header: int, length: int, encoding: str) -> int:
        start = pos + header
        end = start + length
        if end > self.size:
            raise struct.error
        if length > MAX_TEXT:
            self.stack.append(self._long_text(start, length, encoding))
        else:
            self.stack.append(str(self.data[start:end], encoding, "surrogatepass" if encoding == "utf-8" else "strict"))
        return end

    def _op_ext(self, code: int, end: int) -> int:
        if code <= 0:
            raise _Malformed("EXT specifies code <= 0")
        self.stack.append(_Extension(code))
        return end

    def _op_readonly_buffer(self, data: ModelBuffer, pos: int) -> int:
        self._top()
        return pos + 1


def _decode_string(line: bytes) -> str:
    """A protocol 0 STRING argument: quoted, escaped, and decoded to str as the loader does by default
    (Latin-1 here, so that any byte passes: a loader given ``encoding='latin1'`` accepts them all)."""
    if len(line) < 2 or line[0] != line[-1] or line[:1] not in (b"'", b'"'):
        raise _Malformed("the STRING opcode argument must be quoted")
    decoded: bytes = codecs.escape_decode(line[1:-1])[0]
    return decoded.decode("latin-1")


def _parse_int(line: bytes) -> int:
    """INT and LONG arguments, as ``strtol``/``PyLong_FromString`` with base 0 accept them."""
    text = line.strip()
    try:
        return int(text, 0)
    except ValueError:
        if text.lstrip(b"+-").isdigit():  # leading zeros: strtol reads them (as octal)
            return int(text)
        raise


def _constructs_class(name: str) -> bool:
    """Whether calling the unknown ``name`` reads as constructing a class outside the standard library.

    Without importing anything, a CapWords last component is the only sign of a class. In the
    standard library no unknown class belongs in a model, so those stay calls (high).
    """
    return looks_like_class(name) and not is_stdlib(name)


def _state_dicts(state: object) -> list[_Dict]:
    """The dicts a BUILD state sets: the state itself, or both halves of a ``(state, slotstate)`` pair."""
    parts = state if state.__class__ is tuple and len(state) == 2 else (state,)
    return [part for part in parts if isinstance(part, _Dict)]


def _dtype_layout(dtype: object) -> tuple[int | None, bool]:
    """Item size and whether it holds Python objects, for a ``numpy.dtype`` rebuilt in the pickle."""
    if not isinstance(dtype, _Object) or not isinstance(dtype.source, _Global) or dtype.source.name != _NUMPY_DTYPE:
        return None, False
    typestr = dtype.args[0] if dtype.args and dtype.args[0].__class__ is str else ""
    state = dtype.state if dtype.state.__class__ is tuple else ()
    flags = state[7] if len(state) > 7 and state[7].__class__ is int else 0
    has_objects = bool(flags & 1) or typestr.startswith("O")
    elsize = state[5] if len(state) > 5 and state[5].__class__ is int else -1
    if elsize > 0:
        return elsize, has_objects
    digits = typestr.lstrip("<>|=").lstrip("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ?")
    return (int(digits) if digits.isascii() and digits.isdigit() else None), has_objects


def analyze_pickle(data: ModelBuffer, *, max_opcodes: int = 50_000_000) -> PickleAnalysis:
    """What loading ``data`` (one or more pickles) would import, call and modify, without running it."""
    # The simulation keeps millions of small containers alive (the memo holds every value) and makes
    # no reference cycles that matter; the cyclic collector would re-traverse them all, doubling the time.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _Parser(data, max_opcodes + 1).analyze()
    finally:
        if collecting:
            gc.enable()
