"""Static analysis of Jinja2 chat templates: server-side template injection, found without rendering.

A model's chat template is rendered by the application that serves it; a renderer that is not sandboxed
(llama-cpp-python before 0.2.72, CVE-2024-34359) runs whatever the template reaches. The reference attack
walks Python's object graph from any value: ``{{ ''.__class__.__mro__[1].__subclasses__() }}``.

The template is parsed with Jinja2's sandboxed environment (parse only, never rendered) and its syntax tree
is checked for what real chat templates (Llama 3, Mistral, Qwen, Gemma, Phi, ChatML, DeepSeek, Command R,
GLM, Kimi) never do:

- attribute or item access to dunders and private names, or to frame/code/function internals (critical);
- names assembled from pieces (``'__cla' ~ 'ss__'``, ``['_','_']|join``, ``|attr(name)`` with a computed
  name, ``'%c'`` formatting) — the obfuscations of the same attack (critical when the pieces fold to a
  dunder, high otherwise);
- calls, filters and tests outside the chat-template vocabulary (medium), dangerous ones (critical);
- ``include``/``import``/``extends``, which read other templates from the renderer's loader (high).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bastion.core import Severity

if TYPE_CHECKING:
    from jinja2 import nodes
    from jinja2.environment import Environment

MAX_TEMPLATE = 1024 * 1024

INJECTION = "template-injection"
UNKNOWN_CALL = "template-unknown-call"
UNPARSED = "template-unparsed"

# Functions that chat templates call: Jinja's globals and what Hugging Face and llama.cpp add.
_FUNCTIONS = frozenset({"range", "namespace", "dict", "cycler", "joiner", "lipsum", "raise_exception", "strftime_now", "caller"})
# Methods that chat templates call on strings, dicts, lists and the loop object.
_METHODS = frozenset(
    {
        "strip",
        "lstrip",
        "rstrip",
        "split",
        "rsplit",
        "splitlines",
        "startswith",
        "endswith",
        "lower",
        "upper",
        "title",
        "capitalize",
        "replace",
        "find",
        "rfind",
        "index",
        "count",
        "join",
        "items",
        "keys",
        "values",
        "get",
        "isdigit",
        "isalpha",
        "isalnum",
        "isspace",
        "zfill",
        "append",
        "extend",
        "pop",
        "update",
        "insert",
        "copy",
        "cycle",
        "changed",
        "strftime",
        "isoformat",
    }
)
# Calls that are the payload end of an injection rather than a template's business.
_DANGEROUS_CALLS = frozenset(
    {
        "format",
        "format_map",
        "mro",
        "popen",
        "system",
        "communicate",
        "check_output",
        "spawn",
        "load_module",
        "import_module",
        "eval",
        "exec",
        "compile",
        "getattr",
        "setattr",
        "delattr",
        "globals",
        "locals",
        "vars",
        "open",
        "__import__",
    }
)
# Attributes of Python internals that lead from a value to code, frames, globals or modules.
_DANGEROUS_ATTRS = frozenset(
    {
        "mro",
        "func_globals",
        "func_code",
        "f_globals",
        "f_locals",
        "f_builtins",
        "f_back",
        "gi_frame",
        "gi_code",
        "cr_frame",
        "cr_code",
        "ag_frame",
        "tb_frame",
        "tb_next",
        "co_code",
        "im_func",
        "im_self",
        "popen",
        "system",
        "os",
        "subprocess",
        "builtins",
        "environ",
        "modules",
        "import_module",
        "load_module",
        "eval",
        "exec",
    }
)
# Jinja globals (and framework objects) from which published sandbox escapes start.
_GADGET_ROOTS = frozenset({"self", "lipsum", "cycler", "joiner", "namespace", "range", "dict", "config", "request", "url_for"})
# Names no template defines, which only an exposed module or builtin would answer to.
_DANGEROUS_NAMES = frozenset(
    {
        "os",
        "sys",
        "subprocess",
        "builtins",
        "__builtins__",
        "__import__",
        "importlib",
        "eval",
        "exec",
        "open",
        "getattr",
        "globals",
    }
)
# Filters that take attribute names (possibly dotted): the position of that argument, if positional; all
# of them also take it as ``attribute=``.
_ATTRIBUTE_FILTERS: dict[str, int | None] = {
    "map": None,
    "selectattr": 0,
    "rejectattr": 0,
    "groupby": 0,
    "sum": 0,
    "sort": None,
    "unique": None,
    "min": None,
    "max": None,
}
_GADGET_DUNDER = re.compile(
    r"__(class|globals|subclasses|builtins|init|mro|base|bases|dict|getattribute|import|reduce|reduce_ex|code|func|self|"
    r"module|loader|spec|getitem|call|closure|defaults|kwdefaults|new|subclasshook|init_subclass)__"
)
_DUNDER_FRAGMENT = re.compile(r"^(__[A-Za-z]\w{0,30}|[A-Za-z]\w{0,30}__)$")
_MAX_FOLD = 10_000
_SAFE_PRINTF = re.compile(r"^(?:[^%]|%%|%[csd])*$")
_TEXT_FILTERS: dict[str, Callable[[str], str]] = {"lower": str.lower, "upper": str.upper, "trim": str.strip, "string": str}


@dataclass(frozen=True, slots=True)
class TemplateIssue:
    """One problem in a template."""

    severity: Severity
    rule: str
    """``template-injection``, ``template-unknown-call`` or ``template-unparsed``."""
    message: str
    line: int | None = None
    """1-based line in the template."""


def analyze_template(source: str) -> list[TemplateIssue]:
    """What is wrong with a chat template; an empty list for a template that only formats messages."""
    if len(source) > MAX_TEMPLATE:
        return [TemplateIssue(Severity.MEDIUM, UNPARSED, f"template is larger than {MAX_TEMPLATE} characters; not analysed")]
    from jinja2 import TemplateSyntaxError

    try:
        tree = _environment().parse(source)
    except TemplateSyntaxError as exc:
        return [TemplateIssue(Severity.MEDIUM, UNPARSED, f"template does not parse: {exc.message}", exc.lineno)]
    except (RecursionError, MemoryError):
        return [TemplateIssue(Severity.HIGH, UNPARSED, "template is nested too deeply to parse; no real template is")]
    return _Analyzer(tree).run()


@functools.cache
def _environment() -> Environment:
    from jinja2 import nodes
    from jinja2.ext import Extension
    from jinja2.parser import Parser
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class GenerationTag(Extension):
        """``{% generation %}…{% endgeneration %}``, which Hugging Face templates use to mark assistant turns."""

        tags = {"generation"}  # noqa: RUF012 - Jinja's own extension API declares it this way

        def parse(self, parser: Parser) -> nodes.Node:
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
            return nodes.Scope(body, lineno=lineno)

    return ImmutableSandboxedEnvironment(extensions=["jinja2.ext.loopcontrols", GenerationTag])


class _Analyzer:
    def __init__(self, tree: nodes.Template) -> None:
        from jinja2 import nodes

        self.nodes = nodes
        self.tree = tree
        self.issues: dict[tuple[str, str], TemplateIssue] = {}
        self.constants: dict[str, Any] = {}
        self.folded: dict[int, Any] = {}
        self.macros: set[str] = set()

    def add(self, severity: Severity, rule: str, message: str, node: nodes.Node) -> None:
        key = (rule, message)
        if key not in self.issues:
            self.issues[key] = TemplateIssue(severity, rule, message, getattr(node, "lineno", None))

    def run(self) -> list[TemplateIssue]:
        try:
            self.analyze()
        except RecursionError:
            self.add(
                Severity.HIGH, UNPARSED, "template expressions are nested too deeply to analyse; no real template is", self.tree
            )
        return list(self.issues.values())

    def analyze(self) -> None:
        n = self.nodes
        everything = list(_walk(self.tree))
        self.macros = {node.name for node in everything if isinstance(node, n.Macro)}
        # Fold children before parents so that folding never recurses deeply; the second round sees the
        # constants that ``{% set %}`` gave names in the first (a name's last assignment wins).
        for _round in range(2):
            self.folded.clear()
            for node in reversed(everything):
                self.fold(node)
            for node in everything:
                if isinstance(node, n.Assign) and isinstance(node.target, n.Name):
                    self.constants[node.target.name] = self.fold(node.node)
        for node in everything:
            self.check(node)

    def check(self, node: nodes.Node) -> None:
        n = self.nodes
        if isinstance(node, n.Getattr):
            self.name_access(node.attr, "attribute", node)
            if isinstance(node.node, n.Name) and node.node.name in _GADGET_ROOTS:
                self.add(Severity.HIGH, INJECTION, f"reads .{node.attr} of the Jinja global {node.node.name!r}", node)
        elif isinstance(node, n.Getitem):
            self.key(node.arg, "subscript", node)
        elif isinstance(node, n.Filter):
            self.filter(node)
        elif isinstance(node, n.Test):
            if node.name not in _environment().tests:
                self.add(Severity.MEDIUM, UNKNOWN_CALL, f"uses the test {node.name!r}, which no chat template needs", node)
        elif isinstance(node, n.Call):
            self.call(node)
        elif isinstance(node, n.Name) and node.name in _DANGEROUS_NAMES:
            self.add(Severity.HIGH, INJECTION, f"refers to {node.name!r}, a module or builtin no template defines", node)
        elif isinstance(node, n.Const) and isinstance(node.value, str):
            self.constant(node.value, node)
        elif isinstance(node, n.Include | n.Import | n.FromImport | n.Extends):
            self.add(Severity.HIGH, INJECTION, f"{type(node).__name__.lower()} loads another template from the renderer", node)
        if _char_codes(node, n):
            self.add(Severity.HIGH, INJECTION, "builds text from character codes ('%c' formatting), a way to hide names", node)
        if isinstance(node, n.Concat | n.Add | n.Mul | n.Mod | n.Filter | n.Getitem):
            folded = self.fold(node)
            if isinstance(folded, str) and _GADGET_DUNDER.search(folded):
                self.add(Severity.CRITICAL, INJECTION, f"assembles the name {folded[:80]!r} from pieces", node)

    def name_access(self, name: str, how: str, node: nodes.Node) -> None:
        """Access by a known name: ``.x``, ``|attr('x')``, ``attribute='x.y'``, and ``['x']``, where only
        dunders count (Jinja falls back from a missing key to the attribute, but other keys are plain data)."""
        subscript = how == "subscript"
        for part in [name] if subscript else name.split("."):
            if (part.startswith("__") and part.endswith("__")) or (not subscript and part in _DANGEROUS_ATTRS):
                self.add(Severity.CRITICAL, INJECTION, f"{how} access to {part!r}, a path from a value to Python internals", node)
            elif part.startswith("_") and not subscript:
                self.add(Severity.HIGH, INJECTION, f"{how} access to the private name {part!r}", node)

    def key(self, arg: nodes.Node, how: str, node: nodes.Node) -> None:
        n = self.nodes
        if isinstance(arg, n.Slice):
            return
        folded = self.fold(arg)
        if isinstance(folded, str):
            self.name_access(folded, how, node)
        elif _builds_text(arg, n):
            self.add(Severity.HIGH, INJECTION, f"{how} with a name assembled at render time", node)

    def filter(self, node: nodes.Filter) -> None:
        n = self.nodes
        if node.name == "attr":
            if node.args and not node.dyn_args and isinstance(self.fold(node.args[0]), str):
                self.name_access(self.fold(node.args[0]), "attr filter", node)
            else:
                self.add(Severity.HIGH, INJECTION, "attr filter with a computed attribute name", node)
        elif node.name in _ATTRIBUTE_FILTERS:
            position = _ATTRIBUTE_FILTERS[node.name]
            names = [kw.value for kw in node.kwargs if kw.key == "attribute"]
            if position is not None:
                names += node.args[position : position + 1]
            if node.name == "map" and node.args and self.fold(node.args[0]) == "attr":
                names += node.args[1:2]
            for arg in names:
                folded = self.fold(arg)
                if isinstance(folded, str):
                    self.name_access(folded, f"{node.name} filter", node)
                elif _builds_text(arg, n):
                    self.add(Severity.HIGH, INJECTION, f"{node.name} filter with a computed attribute name", node)
        elif node.name not in _environment().filters:
            self.add(Severity.MEDIUM, UNKNOWN_CALL, f"uses the filter {node.name!r}, which no chat template needs", node)

    def call(self, node: nodes.Call) -> None:
        n = self.nodes
        target = node.node
        if isinstance(target, n.Name):
            name = target.name
            if name in _DANGEROUS_CALLS:
                self.add(Severity.CRITICAL, INJECTION, f"calls {name}(), which runs code or reaches objects by name", node)
            elif name not in _FUNCTIONS and name not in self.macros:
                self.add(Severity.MEDIUM, UNKNOWN_CALL, f"calls {name}(), which is not a chat-template function", node)
        elif isinstance(target, n.Getattr):
            method = target.attr
            if method in _DANGEROUS_CALLS or method.startswith("__"):
                self.add(Severity.CRITICAL, INJECTION, f"calls .{method}(), a step of template-injection payloads", node)
            elif method not in _METHODS:
                self.add(Severity.MEDIUM, UNKNOWN_CALL, f"calls the method .{method}(), which no chat template needs", node)
        else:
            self.add(Severity.MEDIUM, UNKNOWN_CALL, "calls a value computed at render time", node)

    def constant(self, value: str, node: nodes.Node) -> None:
        match = _GADGET_DUNDER.search(value)
        if match:
            self.add(Severity.CRITICAL, INJECTION, f"holds the name {match.group()!r}, used only to reach Python internals", node)
        elif _DUNDER_FRAGMENT.match(value):
            self.add(Severity.HIGH, INJECTION, f"holds {value!r}, a piece of a dunder name", node)

    def fold(self, node: nodes.Node) -> Any:
        """The value of a constant expression (strings built from pieces), or None when it depends on input."""
        key = id(node)
        if key not in self.folded:
            self.folded[key] = self.evaluate(node)
        return self.folded[key]

    def evaluate(self, node: nodes.Node) -> Any:
        n = self.nodes
        if isinstance(node, n.Const):
            return node.value
        if isinstance(node, n.Name):
            return self.constants.get(node.name)
        if isinstance(node, n.List | n.Tuple):
            items = [self.fold(item) for item in node.items]
            return None if any(item is None for item in items) else items
        if isinstance(node, n.Concat):
            parts = [self.fold(item) for item in node.nodes]
            return _bounded("".join(str(p) for p in parts)) if all(isinstance(p, str | int) for p in parts) else None
        if isinstance(node, n.Add | n.Mul):
            left, right = self.fold(node.left), self.fold(node.right)
            if isinstance(node, n.Add):
                return _bounded(left + right) if isinstance(left, str) and isinstance(right, str) else None
            if isinstance(left, str) and isinstance(right, int) and right >= 0 and len(left) * right <= _MAX_FOLD:
                return left * right
            return None
        if isinstance(node, n.Mod):
            return _printf(self.fold(node.left), self.fold(node.right))
        if isinstance(node, n.Neg | n.Pos):
            value = self.fold(node.node)
            return (-value if isinstance(node, n.Neg) else value) if type(value) is int else None
        if isinstance(node, n.Getitem):
            return self.fold_item(node)
        if isinstance(node, n.Filter) and node.node is not None:
            return self.fold_filter(node)
        return None

    def fold_item(self, node: nodes.Getitem) -> Any:
        n = self.nodes
        base = self.fold(node.node)
        if not isinstance(base, str | list):
            return None
        if isinstance(node.arg, n.Slice):
            parts = (node.arg.start, node.arg.stop, node.arg.step)
            bounds = [None if part is None else self.fold(part) for part in parts]
            if any(part is not None and not isinstance(b, int) for part, b in zip(parts, bounds, strict=True)) or bounds[2] == 0:
                return None
            return base[slice(*bounds)]
        index = self.fold(node.arg)
        if isinstance(index, int) and -len(base) <= index < len(base):
            return base[index]
        return None

    def fold_filter(self, node: nodes.Filter) -> Any:
        assert node.node is not None
        value = self.fold(node.node)
        args = [self.fold(arg) for arg in node.args]
        if value is None or any(arg is None for arg in args):
            return None
        name = node.name
        if name == "join" and isinstance(value, list) and all(isinstance(v, str | int) for v in value):
            separator = args[0] if args and isinstance(args[0], str) else ""
            return _bounded(separator.join(str(v) for v in value))
        if name == "reverse" and isinstance(value, str | list):
            return value[::-1]
        if name in _TEXT_FILTERS and isinstance(value, str):
            return _TEXT_FILTERS[name](value)
        if name == "replace" and isinstance(value, str) and len(args) >= 2 and all(isinstance(a, str) for a in args[:2]):
            return _bounded(value.replace(args[0], args[1]))
        if name in ("first", "last") and isinstance(value, str | list) and value:
            return value[0] if name == "first" else value[-1]
        if name == "format":
            return _printf(value, args)
        if name == "list" and isinstance(value, str):
            return list(value)
        return None


def _printf(template: Any, values: Any) -> str | None:
    """``template % values`` for the conversions that cannot blow up (no widths): how '%c' hides a name."""
    if not isinstance(template, str) or not _SAFE_PRINTF.match(template):
        return None
    values = tuple(values) if isinstance(values, list | tuple) else (values,)
    if not all((type(v) is int and 0 <= v < 0x110000) or isinstance(v, str) for v in values):
        return None
    try:
        return _bounded(template % values)
    except (TypeError, ValueError, OverflowError):
        return None


def _bounded(text: str) -> str | None:
    return text if len(text) <= _MAX_FOLD else None


def _builds_text(node: nodes.Node, n: Any) -> bool:
    """Whether an expression assembles a string (concatenation, joins, formatting), as obfuscation does."""
    for inner in _walk(node):
        if isinstance(inner, n.Concat) or (isinstance(inner, n.Mod) and _is_text_const(inner.left, n)):
            return True
        if isinstance(inner, n.Filter) and inner.name in ("join", "format", "reverse", "replace"):
            return True
        if isinstance(inner, n.Add) and (_is_text_const(inner.left, n) or _is_text_const(inner.right, n)):
            return True
    return False


def _char_codes(node: nodes.Node, n: Any) -> bool:
    """``'%c' % 95`` or ``'%c'|format(95)``: text made from character codes."""
    if isinstance(node, n.Mod):
        template = node.left
    elif isinstance(node, n.Filter) and node.name == "format":
        template = node.node
    else:
        return False
    return _is_text_const(template, n) and "%c" in template.value


def _is_text_const(node: nodes.Node, n: Any) -> bool:
    return isinstance(node, n.Const) and isinstance(node.value, str)


def _walk(root: nodes.Node) -> Iterator[nodes.Node]:
    """Every node under ``root`` in document order, without recursion (templates may nest deeply)."""
    stack = [root]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(list(node.iter_child_nodes())))
