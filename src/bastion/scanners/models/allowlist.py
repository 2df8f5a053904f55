"""What a pickle may call: vetted allowlists per framework, the dangerous list, and the rule that applies them.

Names are the fully qualified ``module.attribute.path`` that the loader resolves (Python 2 names
such as ``__builtin__.eval`` are mapped to ``builtins.eval`` first, as the loader does).

The rule (``classify``), in order:

1. A name in ``ALLOWED`` — the torch ``weights_only`` set, numpy reconstruction, pandas, scipy and
   scikit-learn internals, joblib's array wrapper, safe builtins and stdlib value types — is allowed.
2. A name is dangerous if its module or a parent package is in ``DANGEROUS_MODULES``, if it is in
   ``DANGEROUS_CALLABLES``, or if it is an attribute path (a dotted name, which protocol 4 resolves
   attribute by attribute) that reaches a dangerous module or name, ends in a dangerous attribute,
   or goes through a dunder (``object.__subclasses__``).
3. A class (a CapWords name, possibly nested) in a vetted framework package (``CLASS_PACKAGES``,
   minus ``CLASS_PACKAGES_EXCLUDED``) is allowed: unpickling such a class runs that framework's own
   ``__new__``, ``__init__`` or ``__setstate__``. Functions there are not allowed unless they are
   reconstruction helpers by naming convention (``__pyx_unpickle_<Class>``, ``_new_<Class>``,
   ``_unpickle_*``, ``newObj``), which only rebuild their own class.
4. Everything else is unknown: the pickle analysis reports it by how it is used.
"""

from __future__ import annotations

import functools
import re
import sys
from enum import Enum


class Verdict(Enum):
    ALLOWED = "allowed"
    DANGEROUS = "dangerous"
    UNKNOWN = "unknown"


class Role(Enum):
    """What an allowed callable does with one of its arguments."""

    INSTANTIATES = "instantiates"
    CALLS = "calls"
    WRAPS = "wraps"
    """Keeps it to call later, when the loaded object is used (``functools.partial``): judged like a reference."""


_TORCH_STORAGE_TYPES = (
    "BFloat16",
    "Bool",
    "Byte",
    "Char",
    "ComplexDouble",
    "ComplexFloat",
    "Double",
    "Float",
    "Half",
    "Int",
    "Long",
    "QInt32",
    "QInt8",
    "QUInt2x4",
    "QUInt4x2",
    "QUInt8",
    "Short",
)
_TORCH_TENSOR_TYPES = ("BFloat16", "Bool", "Byte", "Char", "Double", "Float", "Half", "Int", "Long", "Short")

TORCH: frozenset[str] = frozenset(
    {
        # torch._weights_only_unpickler._get_allowed_globals() (torch 2.x), the callables among them.
        "torch._utils._rebuild_tensor",
        "torch._utils._rebuild_tensor_v2",
        "torch._utils._rebuild_tensor_v3",
        "torch._utils._rebuild_parameter",
        "torch._utils._rebuild_parameter_with_state",
        "torch._utils._rebuild_qtensor",
        "torch._utils._rebuild_sparse_tensor",
        "torch._utils._rebuild_meta_tensor_no_storage",
        "torch._utils._rebuild_nested_tensor",
        "torch._utils._rebuild_wrapper_subclass",
        "torch._utils._rebuild_device_tensor_from_cpu_tensor",
        "torch._utils._rebuild_device_tensor_from_numpy",
        "torch._tensor._rebuild_from_type_v2",
        "torch.serialization._get_layout",
        "torch.Size",
        "torch.Tensor",
        "torch.device",
        "torch.nn.parameter.Parameter",
        "torch.nn.parameter.Buffer",
        "torch.storage.TypedStorage",
        "torch.storage.UntypedStorage",
        "torch.nested._internal.nested_tensor.NestedTensor",
        "torch.nested._internal.nested_tensor._rebuild_njt",
        "torch.torch_version.TorchVersion",
        *(f"{prefix}{kind}Storage" for prefix in ("torch.", "torch.cuda.") for kind in _TORCH_STORAGE_TYPES),
        *(
            f"{prefix}{kind}Tensor"
            for prefix in ("torch.", "torch.cuda.", "torch.sparse.", "torch.cuda.sparse.")
            for kind in _TORCH_TENSOR_TYPES
        ),
    }
)

_NUMPY_SCALARS = (
    "bool_",
    "bool",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "intc",
    "intp",
    "uintp",
    "longlong",
    "ulonglong",
    "float16",
    "float32",
    "float64",
    "longdouble",
    "complex64",
    "complex128",
    "clongdouble",
    "str_",
    "bytes_",
    "void",
    "object_",
    "datetime64",
    "timedelta64",
)

NUMPY: frozenset[str] = frozenset(
    {
        *(f"{core}.multiarray.{name}" for core in ("numpy.core", "numpy._core") for name in ("_reconstruct", "scalar")),
        *(f"{core}.numeric._frombuffer" for core in ("numpy.core", "numpy._core")),
        "numpy.dtype",
        "numpy.ndarray",
        "numpy.matrix",
        *(
            f"{module}.{kind}"
            for module in ("numpy.rec", "numpy.core.records", "numpy._core.records")
            for kind in ("recarray", "record")
        ),
        "numpy.recarray",
        "numpy.record",
        "numpy.memmap",
        "numpy.ma.core._mareconstruct",
        "numpy.ma.core.MaskedArray",
        "numpy.ma.MaskedArray",
        "numpy.ma.core.MaskedConstant",
        *(f"numpy.dtypes.{name}" for name in ("StringDType", "ObjectDType", "Float64DType", "Int64DType", "BoolDType")),
        *(f"numpy.{name}" for name in _NUMPY_SCALARS),
        # numpy.random state: the constructors take a bit generator class or one of numpy's names.
        "numpy.random._pickle.__bit_generator_ctor",
        "numpy.random._pickle.__generator_ctor",
        "numpy.random._pickle.__randomstate_ctor",
        "numpy.random._pickle.BitGenerators",
        "numpy.random._mt19937.MT19937",
        "numpy.random._pcg64.PCG64",
        "numpy.random._pcg64.PCG64DXSM",
        "numpy.random._philox.Philox",
        "numpy.random._sfc64.SFC64",
        "numpy.random.bit_generator.SeedSequence",
        "numpy.random.bit_generator.__pyx_unpickle_SeedSequence",
        "numpy.random.mtrand.RandomState",
        "numpy.random._generator.Generator",
    }
)

PANDAS: frozenset[str] = frozenset(
    {
        f"pandas.{name}"
        for name in (
            "DataFrame",
            "Series",
            "Index",
            "RangeIndex",
            "MultiIndex",
            "CategoricalIndex",
            "DatetimeIndex",
            "TimedeltaIndex",
            "PeriodIndex",
            "IntervalIndex",
            "Categorical",
            "CategoricalDtype",
            "DatetimeTZDtype",
            "PeriodDtype",
            "IntervalDtype",
            "SparseDtype",
            "StringDtype",
            "ArrowDtype",
            "BooleanDtype",
            "Int8Dtype",
            "Int16Dtype",
            "Int32Dtype",
            "Int64Dtype",
            "UInt8Dtype",
            "UInt16Dtype",
            "UInt32Dtype",
            "UInt64Dtype",
            "Float32Dtype",
            "Float64Dtype",
            "Timestamp",
            "Timedelta",
            "Period",
            "Interval",
            "DateOffset",
        )
    }
    | {
        # pandas with pyarrow-backed strings
        "pyarrow.lib._restore_array",
        "pyarrow.lib.py_buffer",
        "pyarrow.lib.type_for_alias",
        "pyarrow.lib.schema",
        "pyarrow.lib.field",
        "pyarrow.lib.ChunkedArray",
        "pyarrow.lib.chunked_array",
        "pyarrow.lib.Table",
        "pyarrow.lib.table",
    }
)

SKLEARN: frozenset[str] = frozenset(
    {
        # Cython classes that rebuild with ``newObj(cls)`` (cls.__new__(cls)).
        "sklearn.neighbors._ball_tree.newObj",
        "sklearn.neighbors._kd_tree.newObj",
        "sklearn.neighbors._binary_tree.newObj",
        "sklearn.metrics._dist_metrics.newObj",
        "sklearn.neighbors._dist_metrics.newObj",
        "sklearn.utils._random.__pyx_unpickle_Enum",
        "joblib.numpy_pickle.NumpyArrayWrapper",
        "sklearn.externals.joblib.numpy_pickle.NumpyArrayWrapper",
    }
)

STDLIB: frozenset[str] = frozenset(
    {
        *(
            f"builtins.{name}"
            for name in (
                "object",
                "set",
                "frozenset",
                "list",
                "dict",
                "tuple",
                "complex",
                "slice",
                "bytearray",
                "bytes",
                "str",
                "int",
                "float",
                "bool",
                "range",
            )
        ),
        "_codecs.encode",  # protocols 0-2 store bytes as _codecs.encode(text, 'latin1')
        "copyreg._reconstructor",
        "copyreg.__newobj__",
        "copyreg.__newobj_ex__",
        "collections.OrderedDict",
        "collections.Counter",
        "collections.deque",
        "collections.defaultdict",
        "collections.ChainMap",
        "collections.UserDict",
        "collections.UserList",
        "collections.UserString",
        "datetime.date",
        "datetime.time",
        "datetime.datetime",
        "datetime.timedelta",
        "datetime.timezone",
        "datetime.tzinfo",
        "zoneinfo.ZoneInfo",
        "zoneinfo._common._load_tzdata",
        "decimal.Decimal",
        "fractions.Fraction",
        "uuid.UUID",
        "uuid.SafeUUID",
        "argparse.Namespace",
        "types.SimpleNamespace",
        "array.array",
        "array._array_reconstructor",
        "re._compile",
        "functools.partial",  # a deferred call: what it wraps is judged (see ARGUMENT_ROLES)
        "zoneinfo.ZoneInfo._unpickle",
        "zoneinfo._zoneinfo.ZoneInfo._unpickle",
        "pytz._p",
        "pytz._UTC",
        "enum.Enum",
        "ipaddress.IPv4Address",
        "ipaddress.IPv6Address",
        *(f"pathlib.{name}" for name in ("Path", "PosixPath", "WindowsPath", "PurePath", "PurePosixPath", "PureWindowsPath")),
    }
)

_SPARSE_FORMATS = ("bsr", "coo", "csc", "csr", "dia", "dok", "lil")

SCIPY: frozenset[str] = frozenset(
    {
        f"{module}.{fmt}_{kind}"
        for fmt in _SPARSE_FORMATS
        for module in (f"scipy.sparse._{fmt}", f"scipy.sparse.{fmt}", "scipy.sparse", "scipy.sparse._arrays")
        for kind in ("matrix", "array")
    }
)
"""scipy.sparse matrices and arrays (lower-case class names, in every module scipy has kept them in)."""

_SCIPY_STATS_CLASS = re.compile(
    r"scipy\.stats\.(_continuous_distns|_discrete_distns|_distn_infrastructure)\."
    r"(\w+_gen|rv_(continuous|discrete)(_frozen)?|rv_frozen|rv_histogram|rv_sample)"
)
"""scipy.stats distributions (frozen or not), as sklearn's randomized searches pickle them."""

_SCIPY_ARGPARSER = """
def _parse_args(self, %(shape_arg_str)s %(locscale_in)s):
    return (%(shape_arg_str)s), %(locscale_out)s

def _parse_args_rvs(self, %(shape_arg_str)s %(locscale_in)s, size=None):
    return self._argcheck_rvs(%(shape_arg_str)s %(locscale_out)s, size=size)

def _parse_args_stats(self, %(shape_arg_str)s %(locscale_in)s, moments='mv'):
    return (%(shape_arg_str)s), %(locscale_out)s, moments
"""


def _template_pattern(template: str, fields: dict[str, str]) -> re.Pattern[str]:
    """A pattern matching ``template % values`` for values matching ``fields``, each field the same value throughout."""
    pattern = re.escape(template)
    for name, values in fields.items():
        placeholder = re.escape(f"%({name})s")
        pattern = pattern.replace(placeholder, f"(?P<{name}>{values})", 1).replace(placeholder, f"(?P={name})")
    return re.compile(pattern)


STATE_CODE: dict[str, tuple[str, re.Pattern[str]]] = {
    "scipy.stats": (
        "_parse_arg_template",
        _template_pattern(
            _SCIPY_ARGPARSER,
            {
                "shape_arg_str": r"(?:[_a-zA-Z][_a-zA-Z0-9]*, )*",
                "locscale_in": r"loc=0, scale=1|loc=0",
                "locscale_out": r"loc, scale|loc, 1",
            },
        ),
    ),
}
"""Allowed classes (by package) whose ``__setstate__`` executes a string from the state: that key, and the only
shape its value may have. scipy.stats distributions ``exec`` their ``_parse_arg_template`` when unpickled."""

ALLOWED: frozenset[str] = TORCH | NUMPY | PANDAS | SCIPY | SKLEARN | STDLIB
"""Callables and classes that unpickling may call or instantiate with no finding."""

CLASS_PACKAGES: tuple[str, ...] = (
    "sklearn",
    "scipy.sparse",
    "scipy.stats._distn_infrastructure",
    "scipy.interpolate",
    "scipy.spatial",
    "pandas.core",
    "pandas._libs",
    "pandas.arrays",
    "pandas.tseries.offsets",
    "pandas._libs.tslibs",
    "torch.nn.modules",
    "torch.nn.utils.parametrize",
    "numpy.random",
    "xgboost.sklearn",
    "lightgbm.sklearn",
    "catboost.core",
    "dateutil.tz",
)
"""Packages whose classes (CapWords names) may be instantiated or rebuilt."""

CLASS_PACKAGES_EXCLUDED: tuple[str, ...] = (
    "sklearn.utils._testing",
    "sklearn.utils.estimator_checks",
    "sklearn.utils._mocking",
    "sklearn.utils.parallel",
    "sklearn.utils._show_versions",
    "sklearn.datasets",
    "sklearn.externals",
    "sklearn._build_utils",
    "sklearn.tests",
    "sklearn.conftest",
    "pandas.core.computation",
    "pandas._testing",
    "pandas.io",
    "pandas.util",
    "pandas.plotting",
    "pandas.tests",
)
"""Parts of those packages that test, download, run code or do I/O."""

HELPER_PACKAGES: tuple[str, ...] = ("sklearn", "pandas", "scipy", "numpy", "pyarrow", "torch._utils", "torch._tensor")
"""Packages whose reconstruction helpers (named by the conventions in ``_HELPER_NAME``) are allowed."""

_HELPER_NAME = re.compile(r"__pyx_unpickle_\w+|_new_\w+|_unpickle\w*|_{1,2}\w+_unpickle|_reconstruct\w*")

DANGEROUS_MODULES: frozenset[str] = frozenset(
    {
        # process spawning and the OS
        "os",
        "posix",
        "nt",
        "subprocess",
        "_posixsubprocess",
        "pty",
        "commands",
        "popen2",
        "multiprocessing",
        "_multiprocessing",
        "concurrent",
        "signal",
        "_signal",
        "threading",
        "_thread",
        "atexit",
        "sys",
        "resource",
        "fcntl",
        "termios",
        "tty",
        "pwd",
        "grp",
        "msvcrt",
        "_winapi",
        "winreg",
        "_winreg",
        "platform",
        "_osx_support",
        "_aix_support",
        "sysconfig",
        "pexpect",
        "sh",
        "plumbum",
        "fabric",
        "paramiko",
        # code execution and compilation
        "code",
        "codeop",
        "runpy",
        "marshal",
        "types",
        "compileall",
        "py_compile",
        "doctest",
        "pdb",
        "bdb",
        "cProfile",
        "profile",
        "_lsprof",
        "trace",
        "timeit",
        "inspect",
        "dis",
        "ast",
        "_ast",
        "symtable",
        "_interpreters",
        "_xxsubinterpreters",
        "interpreters",
        "idlelib",
        "lib2to3",
        "unittest",
        "test",
        "gc",
        "site",
        "_io",
        "io",
        "_pyio",
        "ctypes",
        "_ctypes",
        "cffi",
        "antigravity",
        "this",
        "turtle",
        "tkinter",
        "_tkinter",
        "IPython",
        "jinja2",
        "mako",
        "numexpr",
        "uuid",
        # import machinery and name resolution
        "importlib",
        "_frozen_importlib",
        "_frozen_importlib_external",
        "_imp",
        "imp",
        "pkgutil",
        "zipimport",
        "pydoc",
        "operator",
        "_operator",
        "functools",
        "_functools",
        "copy",
        # file system
        "shutil",
        "tempfile",
        "glob",
        "fnmatch",
        "filecmp",
        "fileinput",
        "linecache",
        "tarfile",
        "zipfile",
        "gzip",
        "bz2",
        "lzma",
        "zlib",
        "shelve",
        "dbm",
        "_dbm",
        "_gdbm",
        "sqlite3",
        "_sqlite3",
        "mmap",
        "mailbox",
        "logging",
        "syslog",
        "distutils",
        "setuptools",
        "pkg_resources",
        "venv",
        "ensurepip",
        "pip",
        "xml",
        "plistlib",
        "configparser",
        "netrc",
        # network
        "socket",
        "_socket",
        "ssl",
        "_ssl",
        "select",
        "selectors",
        "asyncio",
        "socketserver",
        "http",
        "httplib",
        "urllib",
        "urllib2",
        "urllib3",
        "requests",
        "httpx",
        "aiohttp",
        "ftplib",
        "smtplib",
        "imaplib",
        "poplib",
        "nntplib",
        "telnetlib",
        "xmlrpc",
        "xmlrpclib",
        "webbrowser",
        "wsgiref",
        "boto3",
        "botocore",
        "fsspec",
        # nested deserialization
        "pickle",
        "_pickle",
        "cPickle",
        "pickletools",
        "copyreg",
        "dill",
        "cloudpickle",
        "joblib",
        "yaml",
        "jsonpickle",
        "keras",
        "tensorflow",
        "onnx",
        "skops",
        # framework internals that run code, compile or load files
        "torch.jit",
        "torch._C",
        "torch._jit_internal",
        "torch.hub",
        "torch.package",
        "torch.serialization",
        "torch.multiprocessing",
        "torch.distributed",
        "torch.utils.cpp_extension",
        "torch.utils.collect_env",
        "torch.utils.bottleneck",
        "torch.utils._config_module",
        "torch.utils.data",
        "torch.utils.benchmark",
        "torch._dynamo",
        "torch._inductor",
        "torch._export",
        "torch.export",
        "torch.fx",
        "torch.compiler",
        "torch.classes",
        "torch._classes",
        "torch.ops",
        "torch._ops",
        "torch.library",
        "torch.cuda.memory",
        "torch.testing",
        "torch.onnx",
        "torch.storage",
        "numpy.testing",
        "numpy.f2py",
        "numpy.distutils",
        "numpy.ctypeslib",
        "numpy.lib.npyio",
        "numpy.lib._npyio_impl",
        "numpy.lib.format",
        "numpy.lib.utils",
        "numpy.lib._datasource",
        "numpy.core._ufunc_config",
        "pandas.io",
        "pandas.core.computation",
        "pandas._testing",
        "pandas.util",
        "scipy.io",
        "scipy.weave",
        "sklearn.utils._testing",
        "sklearn.utils.estimator_checks",
        "sklearn.datasets",
        "sklearn.externals",
        "sklearn.utils._show_versions",
    }
)
"""Modules (and their submodules) of which no name belongs in a model pickle."""

DANGEROUS_CALLABLES: frozenset[str] = frozenset(
    {
        *(
            f"builtins.{name}"
            for name in (
                "eval",
                "exec",
                "execfile",
                "compile",
                "open",
                "file",
                "__import__",
                "getattr",
                "setattr",
                "delattr",
                "hasattr",
                "globals",
                "locals",
                "vars",
                "breakpoint",
                "input",
                "raw_input",
                "help",
                "exit",
                "quit",
                "apply",
                "reload",
                "type",
                "__loader__",
                "__spec__",
                "__builtins__",
            )
        ),
        "numpy.load",
        "numpy.loadtxt",
        "numpy.genfromtxt",
        "numpy.fromfile",
        "numpy.save",
        "numpy.savez",
        "numpy.savetxt",
        "numpy.tofile",
        *(f"{core}._ufunc_reconstruct" for core in ("numpy.core", "numpy._core", "numpy.core.umath", "numpy._core.umath")),
        "torch.load",
        "torch.save",
        "torch.from_file",
        "torch._load_global_deps",
        "torch._C._jit_script_compile",
        "torch._C.import_ir_module",
        "torch._C.import_ir_module_from_buffer",
        "torch._C._load_for_lite_interpreter",
        "torch._C._get_model_bytecode_version",
        "torch._utils._rebuild_xla_tensor",
        "torch.storage._load_from_bytes",
        "pandas.read_pickle",
        "pandas.read_csv",
        "pandas.read_parquet",
        "pandas.read_json",
        "pandas.read_html",
        "pandas.read_sql",
        "pandas.eval",
        "pandas.HDFStore",
        "pandas.ExcelWriter",
        "pandas.ExcelFile",
        "pandas.core.frame.DataFrame.query",
        "pandas.core.frame.DataFrame.eval",
        "pandas.core.frame.DataFrame.to_csv",
        "pandas.core.frame.DataFrame.to_pickle",
        "scipy.sparse.load_npz",
        "scipy.sparse.save_npz",
        "sklearn.utils.fixes.delayed",
        "collections.namedtuple",
        "numpy.vectorize",
        "numpy.frompyfunc",
    }
)
"""Single names, in otherwise ordinary modules, that run code, load files or resolve names."""

DANGEROUS_ATTRIBUTES: frozenset[str] = frozenset(
    {
        "system",
        "popen",
        "popen2",
        "popen3",
        "spawn",
        "spawnl",
        "spawnle",
        "spawnlp",
        "spawnlpe",
        "spawnv",
        "spawnve",
        "spawnvp",
        "spawnvpe",
        "posix_spawn",
        "posix_spawnp",
        "execl",
        "execle",
        "execlp",
        "execlpe",
        "execv",
        "execve",
        "execvp",
        "execvpe",
        "fork",
        "forkpty",
        "kill",
        "check_output",
        "check_call",
        "getoutput",
        "getstatusoutput",
        "run",
        "runcode",
        "runsource",
        "runctx",
        "runcall",
        "run_path",
        "run_module",
        "eval",
        "exec",
        "compile",
        "load",
        "loads",
        "load_module",
        "load_source",
        "exec_module",
        "import_module",
        "__import__",
        "getattr",
        "setattr",
        "delattr",
        "locate",
        "resolve_name",
        "open",
        "write",
        "write_text",
        "write_bytes",
        "unlink",
        "remove",
        "rmdir",
        "rmtree",
        "rename",
        "replace",
        "chmod",
        "chown",
        "symlink",
        "touch",
        "mkdir",
        "urlopen",
        "urlretrieve",
        "create_connection",
        "connect",
    }
)
"""Attribute names that are dangerous at the end of an attribute path, whatever object they are reached through."""

_CLASS_COMPONENT = re.compile(r"_*[A-Z][A-Za-z0-9]*")

INSTANCE_HOOKS: frozenset[str] = frozenset(
    {
        "__setstate__",
        "__getstate__",
        "__reduce__",
        "__reduce_ex__",
        "__getnewargs__",
        "__getnewargs_ex__",
        "__deepcopy__",
        "__copy__",
        "__class__",
        "__dict__",
        "__getattr__",
        "__getattribute__",
        "__setattr__",
        "__call__",
        "__init__",
        "__new__",
        "__del__",
        "__builtins__",
        "__globals__",
        "__code__",
        "__import__",
    }
)
"""Attribute names that pickle, copy or attribute access honour when an instance carries them (``BUILD`` can
plant them in an instance dict); other dunders (``__doc__``) are plain data."""
_DUNDER = re.compile(r"__\w+__")
_STDLIB = frozenset(sys.stdlib_module_names)

ARGUMENT_ROLES: dict[str, tuple[tuple[int, Role], ...]] = {
    "copyreg._reconstructor": ((0, Role.INSTANTIATES), (1, Role.INSTANTIATES)),
    "copyreg.__newobj__": ((0, Role.INSTANTIATES),),
    "copyreg.__newobj_ex__": ((0, Role.INSTANTIATES),),
    "numpy.core.multiarray._reconstruct": ((0, Role.INSTANTIATES),),
    "numpy._core.multiarray._reconstruct": ((0, Role.INSTANTIATES),),
    "numpy.ma.core._mareconstruct": ((0, Role.INSTANTIATES), (1, Role.INSTANTIATES)),
    "numpy.random._pickle.__bit_generator_ctor": ((0, Role.INSTANTIATES),),
    "numpy.random._pickle.__generator_ctor": ((1, Role.CALLS),),
    "numpy.random._pickle.__randomstate_ctor": ((1, Role.CALLS),),
    "torch._tensor._rebuild_from_type_v2": ((0, Role.CALLS), (1, Role.INSTANTIATES)),
    "torch._utils._rebuild_wrapper_subclass": ((0, Role.INSTANTIATES),),
    "collections.defaultdict": ((0, Role.CALLS),),
    "functools.partial": ((0, Role.WRAPS),),
    "pandas.core.indexes.base._new_Index": ((0, Role.INSTANTIATES),),
    "pandas.core.indexes.period._new_PeriodIndex": ((0, Role.INSTANTIATES),),
}
"""Allowed callables that call or instantiate one of their arguments: that argument is judged too."""

_CLASS_FIRST_HELPER = re.compile(r"newObj|__pyx_unpickle_\w+|_new_\w+")
"""Reconstruction helpers whose first argument is the class they rebuild."""


MAX_NAME_LENGTH = 512
"""Longer names are dangerous: no model needs one, and cyclic module attributes (``os.path.os.path...``) make
any length resolvable. Only shorter names are looked at (and cached)."""
MAX_NAME_PARTS = 32


def classify(name: str, attribute_path: bool) -> Verdict:
    """The verdict on ``name`` (``module.attr``); ``attribute_path`` says whether the attribute part had dots."""
    if len(name) > MAX_NAME_LENGTH or name.count(".") >= MAX_NAME_PARTS:
        return Verdict.DANGEROUS
    return _classify(name, attribute_path)


@functools.lru_cache(maxsize=8192)
def _classify(name: str, attribute_path: bool) -> Verdict:
    if name in ALLOWED:
        return Verdict.ALLOWED
    if _is_dangerous(name, attribute_path):
        return Verdict.DANGEROUS
    if _in_class_package(name) or _is_helper(name) or _SCIPY_STATS_CLASS.fullmatch(name):
        return Verdict.ALLOWED
    return Verdict.UNKNOWN


def state_code(name: str) -> tuple[str, re.Pattern[str]] | None:
    """The state key that the allowed class ``name`` executes when unpickled, and what it must look like."""
    for package, check in STATE_CODE.items():
        if _within(name, (package,)):
            return check
    return None


@functools.lru_cache(maxsize=8192)
def argument_roles(name: str) -> tuple[tuple[int, Role], ...]:
    """Which arguments of the allowed callable ``name`` it calls or instantiates."""
    roles = ARGUMENT_ROLES.get(name)
    if roles is not None:
        return roles
    if _CLASS_FIRST_HELPER.fullmatch(name.rpartition(".")[2]):
        return ((0, Role.INSTANTIATES),)
    return ()


def looks_like_class(name: str) -> bool:
    """Whether the last component of ``name`` is a CapWords identifier (``RandomForestClassifier``, ``_BinMapper``, ``PCA``);
    ``MAX_SIZE``-style constants have underscores and do not count."""
    return bool(_CLASS_COMPONENT.fullmatch(name.rpartition(".")[2]))


def is_stdlib(name: str) -> bool:
    """Whether ``name`` lives in the standard library, where no unknown class belongs in a model."""
    return name.partition(".")[0] in _STDLIB


def _within(name: str, packages: frozenset[str] | tuple[str, ...]) -> bool:
    """Whether ``name`` is one of ``packages`` or inside one of them."""
    end = name.find(".")
    while end != -1:
        if name[:end] in packages:
            return True
        end = name.find(".", end + 1)
    return name in packages


def _is_dangerous(name: str, attribute_path: bool) -> bool:
    parts = name.split(".")
    if _within(name, DANGEROUS_MODULES) or name in DANGEROUS_CALLABLES:
        return True
    if not attribute_path:
        return False
    # Protocol 4 resolves ``pathlib`` + ``os.system`` attribute by attribute: any suffix of the path
    # may be a module reached through another module's namespace.
    if any(_DUNDER.fullmatch(part) for part in parts[1:]) or parts[-1] in DANGEROUS_ATTRIBUTES:
        return True
    for start in range(1, len(parts)):
        suffix = ".".join(parts[start:])
        if _within(suffix, DANGEROUS_MODULES) or suffix in DANGEROUS_CALLABLES or f"builtins.{suffix}" in DANGEROUS_CALLABLES:
            return True
    return False


def _in_class_package(name: str) -> bool:
    module, _, attribute = name.rpartition(".")
    if not _within(module, CLASS_PACKAGES) or _within(module, CLASS_PACKAGES_EXCLUDED):
        return False
    return looks_like_class(attribute)


def _is_helper(name: str) -> bool:
    module, _, attribute = name.rpartition(".")
    return _within(module, HELPER_PACKAGES) and not _within(module, DANGEROUS_MODULES) and bool(_HELPER_NAME.fullmatch(attribute))
