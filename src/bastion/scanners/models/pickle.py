"""Pickle findings: what a pickle would import, call and modify when loaded, judged without running it.

The analysis itself (``_pickle_parser``) makes the parsing decisions of CPython's C unpickler;
this module turns what it found into findings and scans the bytes nested loaders are given.

Rules (``model.pickle.*``):

- ``dangerous-call`` (critical): a dangerous callable is called or instantiated — by an opcode, by
  an allowed callable that calls or instantiates its argument (``copyreg._reconstructor(cls, ...)``),
  through ``functools.partial``, as a ``__setstate__`` planted by an earlier BUILD — or an allowed
  class would ``exec`` code from its state that is not its library's own (scipy.stats).
- ``unknown-call`` (high): anything else that is called: an unknown global, the result of a call,
  a copyreg extension, a persistent object.
- ``unknown-class`` (medium): an unknown class that is only instantiated: NEWOBJ/NEWOBJ_EX, the
  class argument of a reconstructor, or REDUCE/INST/OBJ of a CapWords name outside the standard
  library. Nothing is imported to tell a class from a function, so the name decides; a class runs
  its own library's ``__new__``/``__init__``/``__setstate__``, and the known dangerous classes
  (``subprocess.Popen``, ``_io.FileIO``, ...) are on the dangerous list.
- ``dangerous-import`` (critical): a dangerous global that nothing calls here. No model needs one,
  and the loaded objects can reach it without a call opcode: a ``__setstate__`` planted in an
  instance dict, a ``defaultdict`` factory, a ``partial``, an attribute the model's code calls.
- ``state-injection`` (critical): BUILD, SETITEM(S), APPEND(S) or ADDITEMS applied to a global
  object (``os.environ``, ``sys.modules``, a class) instead of an instance, or a BUILD that plants
  an instance hook (``__setstate__``, ``__reduce__``, ``__class__``, ...).
- ``malformed`` (medium), with ``ScanError(partial=True)``: where the loader would stop, after
  running what came before (the findings up to there are kept).
"""

from __future__ import annotations

from typing import Final

from bastion.core import Category, Finding, Severity
from bastion.scanners.detect import detect_bytes
from bastion.scanners.interface import ScanError
from bastion.scanners.models._pickle_parser import (
    TORCH_FROM_BYTES,
    Action,
    Embedded,
    Import,
    Invocation,
    PickleAnalysis,
    StateChange,
    analyze_pickle,
)
from bastion.scanners.models.allowlist import Verdict
from bastion.scanners.models.context import LimitExceeded, ModelContext
from bastion.scanners.models.scanner import ModelBuffer, handler_for

__all__ = [
    "Action",
    "Embedded",
    "Import",
    "Invocation",
    "PickleAnalysis",
    "StateChange",
    "analyze_pickle",
    "findings_for",
    "scan_pickle",
]

_CONFIDENCE: Final = {
    "dangerous-call": 0.99,
    "state-injection": 0.95,
    "dangerous-import": 0.9,
    "unknown-call": 0.7,
    "unknown-class": 0.6,
}


def findings_for(analysis: PickleAnalysis, ctx: ModelContext) -> list[Finding]:
    """The findings of an analysis, located in ``ctx``; one per distinct callable and rule, with a count."""
    findings: list[Finding] = []

    def add(rule: str, severity: Severity, message: str, offset: int, count: int) -> None:
        finding = ctx.finding(f"model.pickle.{rule}", severity, message, offset=offset, confidence=_CONFIDENCE[rule])
        if count > 1:
            finding = _with_count(finding, count)
        findings.append(finding)

    invoked = set(analysis.judged_through)
    for inv in analysis.invocations:
        invoked.add(inv.target)
        route = f" ({inv.route})" if inv.route else ""
        said = f"{inv.via or inv.opcode} {inv.action.value} {inv.target}{route}"
        if inv.verdict is Verdict.DANGEROUS:
            add("dangerous-call", Severity.CRITICAL, said, inv.offset, inv.times)
        elif inv.action is Action.INSTANTIATE:
            add("unknown-class", Severity.MEDIUM, f"{said}: unknown class, review before loading", inv.offset, inv.times)
        else:
            add("unknown-call", Severity.HIGH, f"{said}: unknown callable, review before loading", inv.offset, inv.times)
    for imp in analysis.imports:
        if imp.verdict is Verdict.DANGEROUS and imp.name not in invoked:
            named = f" (written {imp.raw})" if imp.raw else ""
            message = (
                f"{imp.opcode} imports {imp.name}{named}, which nothing calls here but which the loaded objects "
                "can reach and call later"
            )
            add("dangerous-import", Severity.CRITICAL, message, imp.offset, imp.times)
    for change in analysis.state_changes:
        add("state-injection", Severity.CRITICAL, change.detail, change.offset, change.times)
    findings.sort(key=lambda f: f.location.offset or 0)
    return findings


def _with_count(finding: Finding, count: int) -> Finding:
    return Finding(
        rule_id=finding.rule_id,
        category=finding.category,
        severity=finding.severity,
        message=f"{finding.message} ({count} times)",
        location=finding.location,
        count=count,
        confidence=finding.confidence,
        remediation=finding.remediation,
    )


def scan_pickle(data: ModelBuffer, ctx: ModelContext) -> list[Finding]:
    """Findings in a pickle file or member (several pickles may follow one another); ``ScanError`` if it breaks off."""
    budget = ctx.budget
    analysis = analyze_pickle(data, max_opcodes=max(0, budget.limits.max_pickle_opcodes - budget.opcodes))
    findings = findings_for(analysis, ctx)
    try:
        budget.add_opcodes(analysis.opcodes, ctx)
        if analysis.limit is not None:
            raise LimitExceeded(ctx, analysis.limit)
        problems = [_scan_embedded(item, ctx, findings) for item in analysis.embedded]
    except LimitExceeded as exc:
        exc.findings = (*findings, *exc.findings)
        raise
    if analysis.error is not None:
        message = f"malformed pickle at offset {analysis.error_offset}: {analysis.error}"
        findings.append(
            ctx.finding(
                "model.pickle.malformed",
                Severity.MEDIUM,
                f"{message}; a loader stops here, after running what came before",
                offset=analysis.error_offset,
                category=Category.DATA_INTEGRITY,
                remediation="Do not load this file; re-export the model in a safe format.",
            )
        )
        problems.insert(0, message)
    errors = [problem for problem in problems if problem]
    if errors:
        raise ScanError("; ".join(errors), findings=findings, partial=analysis.opcodes > 0)
    return findings


def _scan_embedded(item: Embedded, ctx: ModelContext, findings: list[Finding]) -> str:
    """Scan bytes a nested loader is called on, as a file of their own; returns why that scan was incomplete, if it was."""
    handler = handler_for(detect_bytes(item.data, "").format)
    if handler is None:
        if item.loader == TORCH_FROM_BYTES:  # otherwise the loader call itself is already critical
            message = f"REDUCE calls {item.loader} on {len(item.data)} bytes in no model format"
            findings.append(ctx.finding("model.pickle.dangerous-call", Severity.CRITICAL, message, offset=item.offset))
        return ""
    child = ctx.child(f"<{item.loader}@{item.offset}>")
    try:
        findings += handler(item.data, child)
    except LimitExceeded:
        raise
    except ScanError as exc:
        findings += exc.findings
        return f"{child.member}: {exc}"
    return ""
