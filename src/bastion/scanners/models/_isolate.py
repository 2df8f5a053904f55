"""Running a native parser of hostile input in a forked child, so that its crash is a finding, not ours.

libhdf5 (behind h5py) segfaults on damaged files, and memory corruption in a C parser is the first step of
an exploit. The child inherits the buffer without a copy (fork is copy-on-write), does the work, and sends
its findings back as JSON (never pickle: a subverted child must not be able to run code in the parent).
A child that dies or overruns its time becomes a finding and an incomplete scan. Where there is no fork
(Windows), the work runs in-process.
"""

from __future__ import annotations

import faulthandler
import json
import os
import selectors
import signal
import time
import warnings
from collections.abc import Callable
from typing import Any, NoReturn

from bastion.core import Category, Finding, Location, Severity
from bastion.scanners.interface import ScanError
from bastion.scanners.models.context import LimitExceeded, ModelContext

TIMEOUT = 300.0
"""Seconds a child may take; a parser stuck longer than this on one file is stuck for good."""
_MAX_REPLY = 64 * 1024 * 1024


def run_isolated(work: Callable[[], list[Finding]], ctx: ModelContext, what: str, rules: str) -> list[Finding]:
    """``work()`` in a forked child; its findings, or ``ScanError`` carrying them when it failed.

    ``what`` names the parser in messages; a crash or a timeout is reported as ``{rules}.parser-crash``
    or ``{rules}.parser-timeout``.
    """
    if not hasattr(os, "fork"):
        return work()
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        # Python 3.12+ warns when forking with threads alive (the engine's digest thread may be): the child
        # takes no lock they could hold, since h5py is imported before the fork and the child only parses.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: never returns, never runs the parent's cleanup
        try:
            os.close(read_end)
            _silence_stderr()  # a crash here is expected and reported; libhdf5's error stacks are noise
            with os.fdopen(write_end, "wb") as out:
                out.write(json.dumps(_outcome(work, ctx)).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    reply, finished = _collect(read_end, pid)
    status = 0 if not finished else os.waitpid(pid, 0)[1]
    if not finished:
        _fail(ctx, f"{rules}.parser-timeout", f"{what} did not finish within {TIMEOUT:.0f} s; the file keeps the parser busy")
    if os.WIFSIGNALED(status) or os.WEXITSTATUS(status) != 0:
        cause = f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else f"exit status {os.WEXITSTATUS(status)}"
        _fail(ctx, f"{rules}.parser-crash", f"{what} crashed on this file ({cause}): loaders built on it crash or worse")
    try:
        outcome = json.loads(reply)
        findings = [_finding(item) for item in outcome["findings"]]
        members, decompressed, opcodes = (int(n) for n in outcome["budget"])
    except (ValueError, KeyError, TypeError) as exc:
        _fail(ctx, f"{rules}.parser-crash", f"{what} sent back an unreadable result ({exc})")
    _charge(ctx, members, decompressed, opcodes, findings)
    if outcome.get("error") is not None:
        raise ScanError(str(outcome["error"]), findings=findings, partial=bool(outcome.get("partial")))
    return findings


def _silence_stderr() -> None:
    faulthandler.disable()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)


def _outcome(work: Callable[[], list[Finding]], ctx: ModelContext) -> dict[str, Any]:
    try:
        outcome: dict[str, Any] = {"findings": [f.to_dict() for f in work()], "error": None}
    except ScanError as exc:
        outcome = {"findings": [f.to_dict() for f in exc.findings], "error": str(exc), "partial": exc.partial}
    except Exception as exc:  # reported as an incomplete scan, as the engine does for any scanner failure
        outcome = {"findings": [], "error": f"internal error ({type(exc).__name__}: {exc}); please report it", "partial": False}
    budget = ctx.budget  # the child's copy: what it spent must be charged to the parent's
    outcome["budget"] = [budget.members, budget.decompressed, budget.opcodes]
    return outcome


def _charge(ctx: ModelContext, members: int, decompressed: int, opcodes: int, findings: list[Finding]) -> None:
    """Charge the parent's budget with what the child spent (its totals include what was spent before the fork)."""
    budget = ctx.budget
    try:
        budget.add_members(max(0, members - budget.members), ctx)
        budget.add_decompressed(max(0, decompressed - budget.decompressed), ctx)
        budget.add_opcodes(max(0, opcodes - budget.opcodes), ctx)
    except LimitExceeded as exc:
        exc.findings = (*findings, *exc.findings)
        raise


def _collect(fd: int, pid: int) -> tuple[bytes, bool]:
    """Everything the child writes, and whether it finished in time (if not, it is killed)."""
    chunks: list[bytes] = []
    size = 0
    deadline = time.monotonic() + TIMEOUT
    with selectors.DefaultSelector() as selector, os.fdopen(fd, "rb", buffering=0) as pipe:
        selector.register(pipe, selectors.EVENT_READ)
        while (left := deadline - time.monotonic()) > 0:
            if not selector.select(left):
                continue
            chunk = pipe.read(1 << 20)
            if not chunk:
                return b"".join(chunks), True
            size += len(chunk)
            if size > _MAX_REPLY:
                break
            chunks.append(chunk)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return b"", False


def _fail(ctx: ModelContext, rule: str, message: str) -> NoReturn:
    finding = ctx.finding(
        rule,
        Severity.HIGH,
        message,
        category=Category.DATA_INTEGRITY,
        remediation="Do not load this file: a loader using the same library may crash or be exploited by it.",
    )
    raise ScanError(message, findings=[finding], partial=False)


def _finding(item: dict[str, Any]) -> Finding:
    location = item["location"]
    return Finding(
        rule_id=str(item["rule_id"]),
        category=Category(item["category"]),
        severity=Severity(item["severity"]),
        message=str(item["message"]),
        location=Location(
            path=str(location["path"]),
            member=location.get("member"),
            offset=location.get("offset"),
            line=location.get("line"),
            column=location.get("column"),
            field=location.get("field"),
            row=location.get("row"),
        ),
        entity=item.get("entity"),
        count=item.get("count"),
        confidence=item.get("confidence"),
        evidence=item.get("evidence"),
        remediation=item.get("remediation"),
    )
